//! The quantized CPU path of Llama-family GGUF models: prefill and decode steps reading the
//! file's Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q8_0 blocks or Q4_K / Q5_K / Q6_K super-blocks (the mixes
//! of Q4_K_M-style files) as stored ([`QuantMatrix`]) with int8 activations, and doing the
//! per-layer small ops (RMSNorm, RoPE, the in-place KV cache write, attention) in plain loops
//! instead of a few dozen libtorch calls per layer.
//!
//! [`LlamaCpuDecoder::step_batch`] steps several sequences at once, each with its own
//! [`CpuDecodeState`] (its own length): the projections and the output head multiply the
//! weights with all the sequences' activations in one pass ([`QuantMatrix::matmul`], weights
//! read once per step), while RMSNorm, RoPE, the cache write and attention run per sequence.
//! A sequence's output does not depend on what it is stepped with: every product gives the
//! same floats as the one-sequence [`LlamaCpuDecoder::step`].
//!
//! [`LlamaCpuDecoder::prefill`] runs a prompt the same way, its positions as the rows of the
//! batched products ([`PREFILL_ROWS`] at a time, each attending causally to the cache and the
//! positions before it), and computes the output head for the last position only; each
//! position gives the floats a step would. So a sequence needs no libtorch at all: with the
//! quantized path on, [`TextModel`] prefills and decodes here and loads the f32 libtorch
//! network only when something asks for it (see [`TextModel::load_quantized`]). A libtorch
//! prefill's cache can still move into a state ([`LlamaCpuDecoder::state_from_cache`]).
//!
//! Attention runs per (sequence, kv head): the query heads of a GQA group share one pass over
//! that head's cached keys and values.
//!
//! Used for CPU decoding when [`TextModel::enable_quantized_decode`] turned it on (see there
//! for when it applies); CUDA and the f32 reference stay on libtorch.
//!
//! Query and key rows are kept in the Hugging Face order (llama.cpp's interleaved rotary
//! permutation is undone row by row at load), so the cache layout and rotation match the
//! libtorch path exactly.
//!
//! [`TextModel`]: crate::text::TextModel
//! [`TextModel::load_quantized`]: crate::text::TextModel::load_quantized
//! [`TextModel::enable_quantized_decode`]: crate::text::TextModel::enable_quantized_decode

use std::time::{Duration, Instant};

use tch::{Device, Kind, Tensor};

use crate::nn::quant::{
    kernel_isa, simd, ActivationBlocks, ComputePool, KernelIsa, QuantMatrix, SharedMut,
};
use crate::nn::GgufFile;
use crate::text::architecture::Architecture;
use crate::text::error::{Result, TextError};
use crate::text::kv_cache::KvCache;
use crate::text::models::llama::LlamaConfig;
use crate::text::rope::inverse_frequencies;

struct CpuLayer {
    attn_norm: Vec<f32>,
    ffn_norm: Vec<f32>,
    /// q, k and v rows stacked (q and k in Hugging Face row order).
    qkv: QuantMatrix,
    qkv_bias: Option<Vec<f32>>,
    o: QuantMatrix,
    o_bias: Option<Vec<f32>>,
    /// gate rows then up rows.
    gate_up: QuantMatrix,
    gate_up_bias: Option<Vec<f32>>,
    down: QuantMatrix,
    down_bias: Option<Vec<f32>>,
    qk_norm: Option<(Vec<f32>, Vec<f32>)>,
}

/// Positions of one sequence that [`LlamaCpuDecoder::prefill`] runs through the quantized
/// products at once (the rows of one batched product).
pub const PREFILL_ROWS: usize = 64;

/// One token run by a forward pass: the sequence it extends (an index into the states) and
/// its position there.
#[derive(Clone, Copy, Debug)]
struct Row {
    state: usize,
    token: u32,
    position: usize,
}

/// Which logits a forward pass computes.
#[derive(Clone, Copy)]
enum Head {
    /// Every row's (a decoding step).
    All,
    /// The last row's (the end of a prefill).
    Last,
    /// None (a prefill chunk before the last).
    None,
}

/// A Llama-family network held as GGUF blocks for the quantized CPU decode step.
pub struct LlamaCpuDecoder {
    config: LlamaConfig,
    inv_freq: Vec<f32>,
    embed: QuantMatrix,
    layers: Vec<CpuLayer>,
    norm: Vec<f32>,
    /// The output head, when it is not the token embedding (tied embeddings share it).
    output: Option<QuantMatrix>,
}

/// One sequence's keys and values (per layer `[position, kv_heads · head_dim]`, preallocated
/// for the sequence's whole budget and written in place), with the buffers of its
/// one-sequence [`LlamaCpuDecoder::step`].
#[derive(Clone)]
pub struct CpuDecodeState {
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    len: usize,
    scratch: StepScratch,
    logits: Vec<f32>,
    times: StepTimes,
}

/// Scratch buffers of a decode step over M sequences (`[M, width]` each), kept between steps
/// so a step allocates nothing; sized on first use.
#[derive(Clone, Default)]
pub struct StepScratch {
    x: Vec<f32>,
    h: Vec<f32>,
    qkv: Vec<f32>,
    attn: Vec<f32>,
    proj: Vec<f32>,
    gate_up: Vec<f32>,
    act: Vec<f32>,
    xq: Vec<ActivationBlocks>,
    cos: Vec<f32>,
    sin: Vec<f32>,
    rows: Vec<Row>,
    times: StepTimes,
}

impl StepScratch {
    /// Time spent by the steps that used these buffers, split by kind of work (a batched step
    /// counts once, whatever its number of sequences).
    pub fn times(&self) -> StepTimes {
        self.times
    }
}

/// Where decode steps spent their time (wall clock, summed over steps).
#[derive(Debug, Clone, Copy, Default)]
pub struct StepTimes {
    /// Steps run.
    pub steps: u64,
    /// Whole steps.
    pub total: Duration,
    /// Quantized matrix products, the output head included (activation quantization
    /// included).
    pub matvec: Duration,
    /// Attention over the cache.
    pub attention: Duration,
}

impl StepTimes {
    fn add(&mut self, other: &StepTimes) {
        self.steps += other.steps;
        self.total += other.total;
        self.matvec += other.matvec;
        self.attention += other.attention;
    }
}

impl CpuDecodeState {
    /// Time spent so far by this state's one-sequence steps, split by kind of work.
    pub fn times(&self) -> StepTimes {
        self.times
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes room for `capacity` positions in all, so the cache is not reallocated while the
    /// sequence grows to that length.
    pub fn reserve(&mut self, capacity: usize) {
        for cache in self.keys.iter_mut().chain(&mut self.values) {
            if let Some(width) = cache.len().checked_div(self.len) {
                cache.reserve(capacity.saturating_sub(self.len) * width);
            }
        }
    }
}

/// Finds a tensor in any shard.
fn find<'a>(
    shards: &'a [GgufFile],
    name: &str,
) -> Result<(&'a crate::nn::GgufTensorInfo, &'a [u8])> {
    shards
        .iter()
        .find_map(|s| s.tensor_bytes(name))
        .ok_or_else(|| TextError::Config(format!("GGUF tensor {name} is missing")))
}

fn has(shards: &[GgufFile], name: &str) -> bool {
    shards.iter().any(|s| s.tensors.contains_key(name))
}

fn matrix(shards: &[GgufFile], name: &str, rows: usize, cols: usize) -> Result<QuantMatrix> {
    let (info, bytes) = find(shards, name)?;
    if info.shape != [rows as i64, cols as i64] {
        return Err(TextError::Config(format!(
            "GGUF tensor {name} has shape {:?}, expected [{rows}, {cols}]",
            info.shape
        )));
    }
    QuantMatrix::new(name, info.ggml_type, rows, cols, bytes)
        .map_err(|e| TextError::Config(e.to_string()))
}

fn vector(shards: &[GgufFile], name: &str, len: usize) -> Result<Vec<f32>> {
    let (info, bytes) = find(shards, name)?;
    let values = info
        .ggml_type
        .dequantize(bytes)
        .map_err(|e| TextError::Config(format!("GGUF tensor {name}: {e}")))?;
    if values.len() != len {
        return Err(TextError::Config(format!(
            "GGUF tensor {name} has {} values, expected {len}",
            values.len()
        )));
    }
    Ok(values)
}

fn optional_vector(shards: &[GgufFile], name: &str, len: usize) -> Result<Option<Vec<f32>>> {
    if has(shards, name) {
        vector(shards, name, len).map(Some)
    } else {
        Ok(None)
    }
}

/// Row order that undoes llama.cpp's interleaving of the two rotary halves of each head.
fn unpermute_order(heads: usize, head_dim: usize) -> Vec<usize> {
    let half = head_dim / 2;
    (0..heads * head_dim)
        .map(|r| {
            let (h, within) = (r / head_dim, r % head_dim);
            let (j, i) = (within / half, within % half);
            h * head_dim + 2 * i + j
        })
        .collect()
}

fn concat(parts: [Option<Vec<f32>>; 3]) -> Option<Vec<f32>> {
    if parts.iter().all(Option::is_none) {
        return None;
    }
    Some(parts.into_iter().flatten().flatten().collect())
}

impl LlamaCpuDecoder {
    /// Reads the decoder from GGUF shards. Fails with a clear message when a tensor's encoding
    /// has no quantized kernel or the architecture is not one this step implements.
    pub fn load(config: &LlamaConfig, shards: &[GgufFile]) -> Result<Self> {
        let c = config;
        if c.head_dim % 2 != 0 {
            return Err(TextError::Config("odd head_dim".into()));
        }
        let (h, hd, inter) = (
            c.hidden_size as usize,
            c.head_dim as usize,
            c.intermediate_size as usize,
        );
        let (nh, nkv) = (
            c.num_attention_heads as usize,
            c.num_key_value_heads as usize,
        );
        let permuted = matches!(c.architecture, Architecture::Llama | Architecture::Mistral);
        let mut layers = Vec::with_capacity(c.num_hidden_layers as usize);
        for i in 0..c.num_hidden_layers {
            let p = |n: &str| format!("blk.{i}.{n}");
            let (qkv, qkv_bias) = if c.architecture == Architecture::Phi3 {
                let rows = (nh + 2 * nkv) * hd;
                (
                    matrix(shards, &p("attn_qkv.weight"), rows, h)?,
                    optional_vector(shards, &p("attn_qkv.bias"), rows)?,
                )
            } else {
                let mut q = matrix(shards, &p("attn_q.weight"), nh * hd, h)?;
                let mut k = matrix(shards, &p("attn_k.weight"), nkv * hd, h)?;
                let v = matrix(shards, &p("attn_v.weight"), nkv * hd, h)?;
                let mut qb = optional_vector(shards, &p("attn_q.bias"), nh * hd)?;
                let mut kb = optional_vector(shards, &p("attn_k.bias"), nkv * hd)?;
                let vb = optional_vector(shards, &p("attn_v.bias"), nkv * hd)?;
                if permuted {
                    let (oq, ok) = (unpermute_order(nh, hd), unpermute_order(nkv, hd));
                    q = q
                        .permute_rows("attn_q", &oq)
                        .map_err(|e| TextError::Config(e.to_string()))?;
                    k = k
                        .permute_rows("attn_k", &ok)
                        .map_err(|e| TextError::Config(e.to_string()))?;
                    qb = qb.map(|b| oq.iter().map(|&r| b[r]).collect());
                    kb = kb.map(|b| ok.iter().map(|&r| b[r]).collect());
                }
                let qkv = QuantMatrix::stack("attn_qkv", vec![q, k, v])
                    .map_err(|e| TextError::Config(e.to_string()))?;
                (qkv, concat([qb, kb, vb]))
            };
            let (gate_up, gate_up_bias) = if c.architecture == Architecture::Phi3 {
                (
                    matrix(shards, &p("ffn_up.weight"), 2 * inter, h)?,
                    optional_vector(shards, &p("ffn_up.bias"), 2 * inter)?,
                )
            } else {
                let gate = matrix(shards, &p("ffn_gate.weight"), inter, h)?;
                let up = matrix(shards, &p("ffn_up.weight"), inter, h)?;
                let gb = optional_vector(shards, &p("ffn_gate.bias"), inter)?;
                let ub = optional_vector(shards, &p("ffn_up.bias"), inter)?;
                let stacked = QuantMatrix::stack("ffn_gate_up", vec![gate, up])
                    .map_err(|e| TextError::Config(e.to_string()))?;
                (stacked, concat([gb, ub, None]))
            };
            let qk_norm = if c.qk_norm {
                Some((
                    vector(shards, &p("attn_q_norm.weight"), hd)?,
                    vector(shards, &p("attn_k_norm.weight"), hd)?,
                ))
            } else {
                None
            };
            layers.push(CpuLayer {
                attn_norm: vector(shards, &p("attn_norm.weight"), h)?,
                ffn_norm: vector(shards, &p("ffn_norm.weight"), h)?,
                qkv,
                qkv_bias,
                o: matrix(shards, &p("attn_output.weight"), h, nh * hd)?,
                o_bias: optional_vector(shards, &p("attn_output.bias"), h)?,
                gate_up,
                gate_up_bias,
                down: matrix(shards, &p("ffn_down.weight"), h, inter)?,
                down_bias: optional_vector(shards, &p("ffn_down.bias"), h)?,
                qk_norm,
            });
            // The layer's blocks are copied: its pages of the file need not stay resident.
            shards.iter().for_each(GgufFile::release_pages);
        }
        let vocab = c.vocab_size as usize;
        let embed = matrix(shards, "token_embd.weight", vocab, h)?;
        let output = if c.tie_word_embeddings || !has(shards, "output.weight") {
            None
        } else {
            Some(matrix(shards, "output.weight", vocab, h)?)
        };
        let norm = vector(shards, "output_norm.weight", h)?;
        shards.iter().for_each(GgufFile::release_pages);
        Ok(Self {
            config: config.clone(),
            inv_freq: inverse_frequencies(c.head_dim, c.rope_theta, &c.rope_scaling),
            embed,
            layers,
            norm,
            output,
        })
    }

    /// Bytes of quantized weights held.
    pub fn weight_bytes(&self) -> usize {
        let layers: usize = self
            .layers
            .iter()
            .map(|l| l.qkv.byte_len() + l.o.byte_len() + l.gate_up.byte_len() + l.down.byte_len())
            .sum();
        layers + self.embed.byte_len() + self.output.as_ref().map_or(0, QuantMatrix::byte_len)
    }

    /// The output head.
    fn head(&self) -> &QuantMatrix {
        self.output.as_ref().unwrap_or(&self.embed)
    }

    /// Number of logits per sequence.
    pub fn vocab_size(&self) -> usize {
        self.head().rows()
    }

    fn kv_width(&self) -> usize {
        (self.config.num_key_value_heads * self.config.head_dim) as usize
    }

    /// An empty state with room for `capacity` positions.
    pub fn new_state(&self, capacity: usize) -> CpuDecodeState {
        let kv = self.kv_width();
        let buffers = || {
            (0..self.layers.len())
                .map(|_| Vec::with_capacity(capacity * kv))
                .collect()
        };
        CpuDecodeState {
            keys: buffers(),
            values: buffers(),
            len: 0,
            scratch: StepScratch::default(),
            logits: Vec::new(),
            times: StepTimes::default(),
        }
    }

    /// Moves a one-row libtorch cache (`[1, kv_heads, seq, head_dim]` per layer) into a new
    /// state with room for `capacity` positions.
    pub fn state_from_cache(&self, cache: &KvCache, capacity: usize) -> Result<CpuDecodeState> {
        let layers = cache
            .layer_tensors()
            .ok_or_else(|| TextError::InvalidRequest("the cache is empty".into()))?;
        let seq = cache.seq_len() as usize;
        let mut state = self.new_state(capacity.max(seq + 1));
        let as_rows = |t: &Tensor| -> Result<Vec<f32>> {
            let t = t
                .to_device(Device::Cpu)
                .to_kind(Kind::Float)
                .squeeze_dim(0)
                .transpose(0, 1)
                .contiguous()
                .reshape([-1]);
            Vec::<f32>::try_from(&t).map_err(|e| TextError::InvalidRequest(e.to_string()))
        };
        for (i, (k, v)) in layers.iter().enumerate() {
            if k.size().first() != Some(&1) {
                return Err(TextError::InvalidRequest(
                    "the quantized step takes one row".into(),
                ));
            }
            state.keys[i].extend_from_slice(&as_rows(k)?);
            state.values[i].extend_from_slice(&as_rows(v)?);
        }
        state.len = seq;
        Ok(state)
    }

    /// The state's keys and values as a one-row libtorch cache.
    pub fn state_to_cache(&self, state: &CpuDecodeState) -> KvCache {
        let c = &self.config;
        let (nkv, hd, t) = (c.num_key_value_heads, c.head_dim, state.len as i64);
        let to_tensor = |rows: &[f32]| {
            Tensor::from_slice(&rows[..state.len * self.kv_width()])
                .reshape([t, nkv, hd])
                .transpose(0, 1)
                .unsqueeze(0)
                .contiguous()
        };
        KvCache::from_layers(
            state
                .keys
                .iter()
                .zip(&state.values)
                .map(|(k, v)| (to_tensor(k), to_tensor(v)))
                .collect(),
        )
    }

    /// Runs `token` at `position` (which must equal the state's length), appends its keys
    /// and values, and returns the next-token logits.
    pub fn step<'s>(
        &self,
        pool: &ComputePool,
        state: &'s mut CpuDecodeState,
        token: u32,
        position: usize,
    ) -> Result<&'s [f32]> {
        if position != state.len {
            return Err(TextError::InvalidRequest(format!(
                "position {position} does not follow the {} cached positions",
                state.len
            )));
        }
        let mut scratch = std::mem::take(&mut state.scratch);
        let mut logits = std::mem::take(&mut state.logits);
        let before = scratch.times;
        let result = self.step_batch(
            pool,
            &mut scratch,
            std::slice::from_mut(state),
            &[token],
            &mut logits,
        );
        let mut spent = scratch.times;
        spent.steps -= before.steps;
        spent.total -= before.total;
        spent.matvec -= before.matvec;
        spent.attention -= before.attention;
        state.times.add(&spent);
        state.scratch = scratch;
        state.logits = logits;
        result?;
        Ok(&state.logits)
    }

    /// One decoding step of every sequence in `states`: `tokens[i]` runs at position
    /// `states[i].len()` and its keys and values are appended to `states[i]`. Writes the
    /// next-token logits to `logits` as `[states.len(), vocab]`. The weights are read once
    /// for all sequences; each row's logits are those [`Self::step`] gives for it alone.
    pub fn step_batch(
        &self,
        pool: &ComputePool,
        scratch: &mut StepScratch,
        states: &mut [CpuDecodeState],
        tokens: &[u32],
        logits: &mut Vec<f32>,
    ) -> Result<()> {
        if tokens.len() != states.len() {
            return Err(TextError::InvalidRequest(format!(
                "{} tokens for {} sequences",
                tokens.len(),
                states.len()
            )));
        }
        let mut rows = std::mem::take(&mut scratch.rows);
        rows.clear();
        rows.extend(
            states
                .iter()
                .zip(tokens)
                .enumerate()
                .map(|(i, (state, &token))| Row {
                    state: i,
                    token,
                    position: state.len,
                }),
        );
        let result = self
            .check_rows(&rows)
            .and_then(|()| self.forward(pool, scratch, states, &rows, Head::All, logits));
        scratch.rows = rows;
        result
    }

    /// Prefills one sequence: runs `tokens` at positions `state.len()..`, appending their keys
    /// and values to `state`, and writes the logits after the last of them (`[vocab]`) to
    /// `logits`. The positions go through the quantized products [`PREFILL_ROWS`] at a time, as
    /// the rows of one batched product (each position attends to the cache and to the
    /// positions before it), so the weights are read once per chunk instead of once per token;
    /// the output head runs for the last position only. Every position computes the same
    /// floats as [`Self::step`] would for it, so prefilling then stepping equals stepping
    /// token by token, and the result does not depend on what else is decoding.
    /// `scratch` holds the chunk's buffers (and its times), like a batched step's.
    pub fn prefill(
        &self,
        pool: &ComputePool,
        scratch: &mut StepScratch,
        state: &mut CpuDecodeState,
        tokens: &[u32],
        logits: &mut Vec<f32>,
    ) -> Result<()> {
        if tokens.is_empty() {
            return Err(TextError::InvalidRequest("nothing to prefill".into()));
        }
        let mut rows = std::mem::take(&mut scratch.rows);
        rows.clear();
        rows.extend(tokens.iter().enumerate().map(|(i, &token)| Row {
            state: 0,
            token,
            position: state.len + i,
        }));
        let mut result = self.check_rows(&rows);
        if result.is_ok() {
            let kv = self.kv_width();
            let total = (state.len + tokens.len()) * kv;
            for cache in state.keys.iter_mut().chain(&mut state.values) {
                cache.reserve(total.saturating_sub(cache.len()));
            }
            let chunks: Vec<&[Row]> = rows.chunks(PREFILL_ROWS).collect();
            let last = chunks.len() - 1;
            for (i, chunk) in chunks.into_iter().enumerate() {
                result = self.forward(
                    pool,
                    scratch,
                    std::slice::from_mut(state),
                    chunk,
                    if i < last { Head::None } else { Head::Last },
                    logits,
                );
                if result.is_err() {
                    break;
                }
            }
        }
        scratch.rows = rows;
        result
    }

    /// Checks that every row's token and position are in the model's range.
    fn check_rows(&self, rows: &[Row]) -> Result<()> {
        let max = usize::try_from(self.config.max_position_embeddings).unwrap_or(0);
        match rows
            .iter()
            .find(|r| r.token as usize >= self.embed.rows() || r.position >= max)
        {
            Some(r) => Err(TextError::InvalidRequest(format!(
                "token {} or position {} is out of the model's range",
                r.token, r.position
            ))),
            None => Ok(()),
        }
    }

    /// Runs `rows` through the network (each row one token of `states[row.state]` at
    /// `row.position`; a sequence's rows are consecutive positions starting at its length),
    /// appends their keys and values to their states and advances the states' lengths, then
    /// writes the logits `want` asks for to `logits`.
    fn forward(
        &self,
        pool: &ComputePool,
        scratch: &mut StepScratch,
        states: &mut [CpuDecodeState],
        rows: &[Row],
        want: Head,
        logits: &mut Vec<f32>,
    ) -> Result<()> {
        let c = &self.config;
        let m = rows.len();
        let eps = c.rms_norm_eps as f32;
        let (nh, nkv, hd) = (
            c.num_attention_heads as usize,
            c.num_key_value_heads as usize,
            c.head_dim as usize,
        );
        let (h, q_len, kv) = (c.hidden_size as usize, nh * hd, self.kv_width());
        let qkv_w = q_len + 2 * kv;
        let inter = c.intermediate_size as usize;
        let vocab = self.head().rows();
        let start = Instant::now();
        let mut matvec = Duration::ZERO;
        let mut attention = Duration::ZERO;
        let timed = |acc: &mut Duration, since: Instant| *acc += since.elapsed();
        let s = scratch;
        for (buffer, width) in [
            (&mut s.x, h),
            (&mut s.h, h),
            (&mut s.qkv, qkv_w),
            (&mut s.attn, q_len),
            (&mut s.proj, h),
            (&mut s.gate_up, 2 * inter),
            (&mut s.act, inter),
        ] {
            buffer.resize(m * width, 0.0);
        }
        if s.xq.len() < m {
            s.xq.resize_with(m, ActivationBlocks::default);
        }
        let half = self.inv_freq.len();
        s.cos.clear();
        s.sin.clear();
        for (i, row) in rows.iter().enumerate() {
            self.embed
                .dequantize_row(row.token as usize, &mut s.x[i * h..(i + 1) * h]);
            let (cos, sin) = self.rotation(row.position);
            s.cos.extend_from_slice(&cos);
            s.sin.extend_from_slice(&sin);
        }
        let xq = &mut s.xq[..m];
        for (li, layer) in self.layers.iter().enumerate() {
            for (x, out) in s.x.chunks_exact(h).zip(s.h.chunks_exact_mut(h)) {
                simd::rms_norm(x, &layer.attn_norm, eps, out);
            }
            let t = Instant::now();
            quantize_rows(pool, &s.h, h, xq);
            layer.qkv.matmul(pool, xq, &mut s.qkv);
            timed(&mut matvec, t);
            for (i, (row, r)) in s.qkv.chunks_exact_mut(qkv_w).zip(rows).enumerate() {
                let state = &mut states[r.state];
                add_bias(row, layer.qkv_bias.as_deref());
                let (cos, sin) = (
                    &s.cos[i * half..(i + 1) * half],
                    &s.sin[i * half..(i + 1) * half],
                );
                let (q, rest) = row.split_at_mut(q_len);
                let (k, v) = rest.split_at_mut(kv);
                for head in q.chunks_exact_mut(hd) {
                    if let Some((qn, _)) = &layer.qk_norm {
                        rms_norm_in_place(head, qn, eps);
                    }
                    rotate(head, cos, sin);
                }
                for head in k.chunks_exact_mut(hd) {
                    if let Some((_, kn)) = &layer.qk_norm {
                        rms_norm_in_place(head, kn, eps);
                    }
                    rotate(head, cos, sin);
                }
                state.keys[li].extend_from_slice(k);
                state.values[li].extend_from_slice(v);
            }
            let t = Instant::now();
            attend(
                pool,
                &s.qkv,
                qkv_w,
                states,
                rows,
                li,
                (nh, nkv, hd),
                c.sliding_window.filter(|&w| w > 0).map(|w| w as usize),
                &mut s.attn,
            );
            timed(&mut attention, t);
            let t = Instant::now();
            quantize_rows(pool, &s.attn, q_len, xq);
            layer.o.matmul(pool, xq, &mut s.proj);
            timed(&mut matvec, t);
            for (x, proj) in s.x.chunks_exact_mut(h).zip(s.proj.chunks_exact_mut(h)) {
                add_bias(proj, layer.o_bias.as_deref());
                x.iter_mut().zip(&*proj).for_each(|(x, p)| *x += p);
            }

            for (x, out) in s.x.chunks_exact(h).zip(s.h.chunks_exact_mut(h)) {
                simd::rms_norm(x, &layer.ffn_norm, eps, out);
            }
            let t = Instant::now();
            quantize_rows(pool, &s.h, h, xq);
            layer.gate_up.matmul(pool, xq, &mut s.gate_up);
            timed(&mut matvec, t);
            for (gu, act) in s
                .gate_up
                .chunks_exact_mut(2 * inter)
                .zip(s.act.chunks_exact_mut(inter))
            {
                add_bias(gu, layer.gate_up_bias.as_deref());
                let (gate, up) = gu.split_at(inter);
                for ((a, &g), &u) in act.iter_mut().zip(gate).zip(up) {
                    *a = g / (1.0 + (-g).exp()) * u;
                }
            }
            let t = Instant::now();
            quantize_rows(pool, &s.act, inter, xq);
            layer.down.matmul(pool, xq, &mut s.proj);
            timed(&mut matvec, t);
            for (x, proj) in s.x.chunks_exact_mut(h).zip(s.proj.chunks_exact_mut(h)) {
                add_bias(proj, layer.down_bias.as_deref());
                x.iter_mut().zip(&*proj).for_each(|(x, p)| *x += p);
            }
        }
        for r in rows {
            states[r.state].len += 1;
        }
        let first = match want {
            Head::All => Some(0),
            Head::Last => Some(m - 1),
            Head::None => None,
        };
        if let Some(first) = first {
            let n = m - first;
            for (x, out) in s.x[first * h..]
                .chunks_exact(h)
                .zip(s.h.chunks_exact_mut(h))
            {
                simd::rms_norm(x, &self.norm, eps, out);
            }
            let t = Instant::now();
            let xq = &mut s.xq[..n];
            quantize_rows(pool, &s.h[..n * h], h, xq);
            logits.resize(n * vocab, 0.0);
            self.head().matmul(pool, xq, logits);
            timed(&mut matvec, t);
        }
        s.times.steps += 1;
        s.times.total += start.elapsed();
        s.times.matvec += matvec;
        s.times.attention += attention;
        Ok(())
    }

    /// cos and sin of every rotary frequency at `position` (as the libtorch tables compute
    /// them: the angle in f32).
    fn rotation(&self, position: usize) -> (Vec<f32>, Vec<f32>) {
        self.inv_freq
            .iter()
            .map(|&f| {
                let angle = position as f32 * f;
                (angle.cos(), angle.sin())
            })
            .unzip()
    }
}

fn add_bias(x: &mut [f32], bias: Option<&[f32]>) {
    if let Some(b) = bias {
        x.iter_mut().zip(b).for_each(|(x, b)| *x += b);
    }
}

fn rms_norm_in_place(x: &mut [f32], weight: &[f32], eps: f32) {
    let mean = simd::dot(x, x) / x.len() as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    x.iter_mut().zip(weight).for_each(|(v, w)| *v *= scale * w);
}

/// Rotary embedding in the "rotate half" layout: element `i` pairs with `i + head_dim / 2`.
fn rotate(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = x.len() / 2;
    let (a, b) = x.split_at_mut(half);
    for i in 0..half {
        let (x1, x2) = (a[i], b[i]);
        a[i] = x1 * cos[i] - x2 * sin[i];
        b[i] = x2 * cos[i] + x1 * sin[i];
    }
}

/// Quantizes the rows of `src` (`[xq.len(), width]`), one row per chunk of `pool`.
fn quantize_rows(pool: &ComputePool, src: &[f32], width: usize, xq: &mut [ActivationBlocks]) {
    let out = SharedMut(xq.as_mut_ptr());
    pool.run(xq.len(), &|i| {
        // SAFETY: each chunk writes its own element of `xq`, which outlives `run`.
        let blocks = unsafe { &mut *out.get().add(i) };
        blocks.quantize(&src[i * width..(i + 1) * width]);
    });
}

thread_local! {
    /// Attention weights of one (query row, kv head) pair, `[group, span]`, kept per thread so
    /// attention allocates nothing per call.
    static SCORES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Softmax attention of every query head of every row over its sequence's cached positions
/// of layer `layer` up to its own (the positions a prefill chunk wrote after it stay masked),
/// or the last `window` of them; the queries of row `i` are the first `heads · head_dim` values of row `i` of `qkv` (rows `qkv_width`
/// apart). Writes `[rows, heads · head_dim]` into `out`.
///
/// Work is split over the pool by (row, kv head): the query heads that share a kv head (a GQA
/// group) are computed together in one pass over that head's keys and values, so each cached
/// key and value row is read once per group instead of once per query head. Each query head's
/// arithmetic (score order, maximum, exponent sum, weighted value sum) is the same as computing
/// it alone, and a row's result depends only on its own queries and cache.
#[allow(clippy::too_many_arguments)]
fn attend(
    pool: &ComputePool,
    qkv: &[f32],
    qkv_width: usize,
    states: &[CpuDecodeState],
    rows: &[Row],
    layer: usize,
    (nh, nkv, hd): (usize, usize, usize),
    window: Option<usize>,
    out: &mut [f32],
) {
    let kv = nkv * hd;
    let group = nh / nkv;
    let scale = 1.0 / (hd as f32).sqrt();
    assert!(out.len() >= rows.len() * nh * hd, "attention output length");
    let out_ptr = SharedMut(out.as_mut_ptr());
    pool.run(rows.len() * nkv, &|chunk| {
        let (row, kvh) = (chunk / nkv, chunk % nkv);
        let Row {
            state, position, ..
        } = rows[row];
        let len = position + 1;
        let state = &states[state];
        let span = window.map_or(0, |w| len.saturating_sub(w))..len;
        let n = span.len();
        let first = row * qkv_width + kvh * group * hd;
        let queries = &qkv[first..first + group * hd];
        // SAFETY: the group's heads are contiguous in the row's output, and each (row, kv
        // head) slice of `out` is written by exactly one chunk; `out` outlives `run`.
        let o = unsafe {
            std::slice::from_raw_parts_mut(
                out_ptr.get().add((row * nh + kvh * group) * hd),
                group * hd,
            )
        };
        o.fill(0.0);
        if n == 0 {
            return;
        }
        let cache = GroupCache {
            keys: &state.keys[layer],
            values: &state.values[layer],
            stride: kv,
            offset: kvh * hd,
            head_dim: hd,
            span,
        };
        SCORES.with_borrow_mut(|weights| {
            weights.clear();
            weights.resize(group * n, 0.0);
            match kernel_isa() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: Avx2 is only chosen when the CPU has AVX2 and FMA.
                KernelIsa::Avx2 => unsafe {
                    group_avx2::attend(queries, &cache, scale, weights, o)
                },
                _ => group_attend(queries, &cache, scale, weights, o),
            }
        });
    });
}

/// The cached keys and values of one kv head of one sequence that a query row attends to.
struct GroupCache<'a> {
    /// `[positions, stride]` keys; this head's are `head_dim` values at `offset` of each row.
    keys: &'a [f32],
    /// Values, laid out as `keys`.
    values: &'a [f32],
    stride: usize,
    offset: usize,
    head_dim: usize,
    /// The positions attended to.
    span: std::ops::Range<usize>,
}

impl GroupCache<'_> {
    fn key(&self, t: usize) -> &[f32] {
        let at = t * self.stride + self.offset;
        &self.keys[at..at + self.head_dim]
    }

    fn value(&self, t: usize) -> &[f32] {
        let at = t * self.stride + self.offset;
        &self.values[at..at + self.head_dim]
    }
}

/// Turns each row (one query head's scores over the span) of `scores` (`[heads, n]`) into its
/// softmax weights, in place.
fn softmax_rows(scores: &mut [f32], n: usize) {
    for row in scores.chunks_exact_mut(n) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
        let mut total = 0f32;
        for s in row.iter_mut() {
            *s = (*s - max).exp();
            total += *s;
        }
        for s in row.iter_mut() {
            *s /= total;
        }
    }
}

/// Attention of a GQA group's query heads (`queries`, `[group, head_dim]`) over `cache`,
/// written to `o` (`[group, head_dim]`); `weights` holds `[group, span]` scores. Portable
/// version of [`group_avx2::attend`], with the same arithmetic.
fn group_attend(
    queries: &[f32],
    cache: &GroupCache<'_>,
    scale: f32,
    weights: &mut [f32],
    o: &mut [f32],
) {
    let (hd, n) = (cache.head_dim, cache.span.len());
    for (i, t) in cache.span.clone().enumerate() {
        let key = cache.key(t);
        for (j, q) in queries.chunks_exact(hd).enumerate() {
            weights[j * n + i] = simd::dot(q, key) * scale;
        }
    }
    softmax_rows(weights, n);
    o.fill(0.0);
    for (i, t) in cache.span.clone().enumerate() {
        let value = cache.value(t);
        for (j, oh) in o.chunks_exact_mut(hd).enumerate() {
            simd::axpy(weights[j * n + i], value, oh);
        }
    }
}

/// [`group_attend`] in AVX2: each key row is loaded once for all the group's heads, and each
/// head's output is summed over the span in registers (a block of 32 values at a time)
/// instead of being read and written back once per position. The arithmetic per value is
/// the same (`simd::dot`'s two-accumulator sums for scores; one fused multiply-add per
/// position, in position order, for outputs).
#[cfg(target_arch = "x86_64")]
mod group_avx2 {
    use std::arch::x86_64::*;

    use super::{softmax_rows, GroupCache};

    /// How many positions ahead the key and value rows are prefetched.
    const PREFETCH: usize = 8;

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// `Σ a[i]·b[i]` over `len` values, summed as `simd::dot` sums them.
    #[inline(always)]
    unsafe fn dot(a: *const f32, b: *const f32, len: usize) -> f32 {
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 16 <= len {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.add(i + 8)),
                _mm256_loadu_ps(b.add(i + 8)),
                acc1,
            );
            i += 16;
        }
        let mut sum = hsum(_mm256_add_ps(acc0, acc1));
        while i < len {
            sum += *a.add(i) * *b.add(i);
            i += 1;
        }
        sum
    }

    /// # Safety
    /// The CPU must have AVX2 and FMA; `queries` and `o` hold `weights.len() / span` heads of
    /// `head_dim` values.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn attend(
        queries: &[f32],
        cache: &GroupCache<'_>,
        scale: f32,
        weights: &mut [f32],
        o: &mut [f32],
    ) {
        let (hd, n) = (cache.head_dim, cache.span.len());
        let group = weights.len() / n;
        debug_assert!(queries.len() >= group * hd && o.len() >= group * hd);
        // Cache rows are read once per call, `stride` apart: fetch the keys and values of a
        // few positions ahead (the values are summed after the softmax, from the cache).
        let (rows, stride) = (cache.keys.len() / cache.stride, cache.stride);
        for (i, t) in cache.span.clone().enumerate() {
            if t + PREFETCH < rows {
                let at = (t + PREFETCH) * stride + cache.offset;
                for line in (0..hd).step_by(16) {
                    _mm_prefetch::<_MM_HINT_T0>(cache.keys.as_ptr().add(at + line) as *const i8);
                    _mm_prefetch::<_MM_HINT_T1>(cache.values.as_ptr().add(at + line) as *const i8);
                }
            }
            let key = cache.key(t).as_ptr();
            for j in 0..group {
                weights[j * n + i] = dot(queries.as_ptr().add(j * hd), key, hd) * scale;
            }
        }
        softmax_rows(weights, n);
        let first = cache.span.start * stride + cache.offset;
        assert!(
            cache.values.len() >= (cache.span.end - 1) * stride + cache.offset + hd,
            "values cover the span"
        );
        let values = cache.values.as_ptr().add(first);
        for j in 0..group {
            let w = &weights[j * n..(j + 1) * n];
            let out = o.as_mut_ptr().add(j * hd);
            let mut d = 0;
            while d + 32 <= hd {
                let mut acc = [_mm256_setzero_ps(); 4];
                for (i, &p) in w.iter().enumerate() {
                    let v = values.add(i * stride + d);
                    let p = _mm256_set1_ps(p);
                    acc[0] = _mm256_fmadd_ps(p, _mm256_loadu_ps(v), acc[0]);
                    acc[1] = _mm256_fmadd_ps(p, _mm256_loadu_ps(v.add(8)), acc[1]);
                    acc[2] = _mm256_fmadd_ps(p, _mm256_loadu_ps(v.add(16)), acc[2]);
                    acc[3] = _mm256_fmadd_ps(p, _mm256_loadu_ps(v.add(24)), acc[3]);
                }
                for (k, a) in acc.iter().enumerate() {
                    _mm256_storeu_ps(out.add(d + 8 * k), *a);
                }
                d += 32;
            }
            while d + 8 <= hd {
                let mut acc = _mm256_setzero_ps();
                for (i, &p) in w.iter().enumerate() {
                    let v = values.add(i * stride + d);
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(p), _mm256_loadu_ps(v), acc);
                }
                _mm256_storeu_ps(out.add(d), acc);
                d += 8;
            }
            while d < hd {
                let mut acc = 0f32;
                for (i, &p) in w.iter().enumerate() {
                    acc += p * *values.add(i * stride + d);
                }
                *out.add(d) = acc;
                d += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_order_matches_the_tensor_version() {
        // llama.cpp stores head rows as (i, j) pairs; Hugging Face as (j, i).
        let order = unpermute_order(2, 4);
        assert_eq!(order, vec![0, 2, 1, 3, 4, 6, 5, 7]);
    }

    /// A state holding `len` positions of layer-0 keys and values from `next`.
    fn state_with(len: usize, kv: usize, next: &mut impl FnMut() -> f32) -> CpuDecodeState {
        CpuDecodeState {
            keys: vec![(0..len * kv).map(|_| next()).collect()],
            values: vec![(0..len * kv).map(|_| next()).collect()],
            len,
            scratch: StepScratch::default(),
            logits: Vec::new(),
            times: StepTimes::default(),
        }
    }

    #[test]
    fn grouped_attention_matches_per_head_softmax_and_each_row_stands_alone() {
        let (nh, nkv, hd) = (6, 2, 8);
        let (kv, group) = (nkv * hd, nh / nkv);
        let qkv_w = nh * hd + 2 * kv;
        let mut seed = 7u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let states = vec![state_with(5, kv, &mut next), state_with(9, kv, &mut next)];
        // One decoding row, and two prefill rows of one sequence (the later positions of its
        // cache masked for the first of them).
        let row = |state, position| Row {
            state,
            token: 0,
            position,
        };
        let rows = [row(0, 4), row(1, 6), row(1, 8)];
        let qkv: Vec<f32> = (0..rows.len() * qkv_w).map(|_| 4.0 * next()).collect();
        let pool = ComputePool::new(2);
        for window in [None, Some(3)] {
            let mut out = vec![f32::NAN; rows.len() * nh * hd];
            attend(
                &pool,
                &qkv,
                qkv_w,
                &states,
                &rows,
                0,
                (nh, nkv, hd),
                window,
                &mut out,
            );
            for (r, q_row) in rows.iter().enumerate() {
                let len = q_row.position + 1;
                let span = window.map_or(0, |w| len.saturating_sub(w))..len;
                let (keys, values) = (&states[q_row.state].keys[0], &states[q_row.state].values[0]);
                for head in 0..nh {
                    let kvh = head / group;
                    let q = &qkv[r * qkv_w + head * hd..r * qkv_w + (head + 1) * hd];
                    let at = |t: usize, i: usize| t * kv + kvh * hd + i;
                    let scores: Vec<f64> = span
                        .clone()
                        .map(|t| {
                            let dot: f64 = (0..hd)
                                .map(|i| f64::from(q[i]) * f64::from(keys[at(t, i)]))
                                .sum();
                            dot / (hd as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let total: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                    for i in 0..hd {
                        let want: f64 = span
                            .clone()
                            .zip(&scores)
                            .map(|(t, s)| (s - max).exp() / total * f64::from(values[at(t, i)]))
                            .sum();
                        let got = out[(r * nh + head) * hd + i];
                        assert!(
                            (f64::from(got) - want).abs() < 1e-5,
                            "row {r} head {head} [{i}] window {window:?}: {got} vs {want}"
                        );
                    }
                }
            }
            // The last row alone gives the same floats as among the others.
            let mut alone = vec![f32::NAN; nh * hd];
            attend(
                &pool,
                &qkv[2 * qkv_w..],
                qkv_w,
                &states,
                &rows[2..],
                0,
                (nh, nkv, hd),
                window,
                &mut alone,
            );
            assert_eq!(alone, out[2 * nh * hd..]);
        }
    }

    #[test]
    fn rotate_half_matches_the_formula() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        let (cos, sin) = (vec![0.5, 1.0], vec![0.25, 0.0]);
        rotate(&mut x, &cos, &sin);
        assert_eq!(x, vec![1.0 * 0.5 - 3.0 * 0.25, 2.0, 3.0 * 0.5 + 0.25, 4.0]);
    }
}
