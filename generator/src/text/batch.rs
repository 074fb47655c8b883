//! The batch engine: many sequences in one forward pass, joining (after their own prefill) and
//! leaving a running batch at every step, which is what the continuous-batching scheduler
//! builds on. A row's greedy output does not depend on what it is batched with.
//!
//! Two ways to decode, chosen by the model:
//! - With the quantized CPU decode step on ([`TextModel::enable_quantized_decode`]), every
//!   row keeps its own keys and values in a [`CpuDecodeState`] and all rows step together in
//!   [`LlamaCpuDecoder::step_batch`], which reads the weights once per step for all of them.
//!   A sequence joins after its own prefill on the same quantized products
//!   ([`LlamaCpuDecoder::prefill`]; candidates with the same prompt share one), which writes
//!   its state; a row leaves by dropping its state. There is no shared, padded cache, and no
//!   libtorch call.
//! - Otherwise (CUDA, safetensors models, `ADFORGE_DECODE=reference`) rows decode on libtorch,
//!   left-padded to a shared sequence axis; padding is masked out and position ids count only
//!   real tokens.
//!
//! [`LlamaCpuDecoder::step_batch`]: super::models::llama_cpu::LlamaCpuDecoder::step_batch
//! [`LlamaCpuDecoder::prefill`]: super::models::llama_cpu::LlamaCpuDecoder::prefill

use tch::{Kind, Tensor};

use super::error::{Result, TextError};
use super::kv_cache::KvCache;
use super::model::{CausalLm, TextModel};
use super::models::llama_cpu::{CpuDecodeState, LlamaCpuDecoder, StepScratch};
use super::request::Generation;
use super::sequence::ActiveSequence;
use crate::nn::quant::ComputePool;

/// Next-token logits of every row after the last forward pass, `[rows, vocab]` f32.
enum Logits {
    /// From libtorch (possibly on the GPU).
    Tensor(Tensor),
    /// From the quantized step, on the host.
    Host(Vec<f32>),
}

/// A finished (or failed) sequence, as the batch hands it back.
pub(crate) type Outcome<'a> = (ActiveSequence<'a>, Result<()>);

/// Sequences decoding together.
pub(crate) struct Batch<'a> {
    rows: Vec<ActiveSequence<'a>>,
    /// libtorch decoding: leading padding columns of each row in `cache`.
    pads: Vec<i64>,
    /// libtorch decoding: the rows' shared, left-padded keys and values.
    cache: KvCache,
    logits: Option<Logits>,
    /// Quantized decoding: each row's keys and values, in the order of `rows`.
    states: Vec<CpuDecodeState>,
    /// Quantized decoding: the step's buffers.
    scratch: StepScratch,
    /// Quantized decoding: the prefill's buffers.
    prefill_scratch: StepScratch,
    /// Quantized decoding: the last step's logits buffer, reused by the next step.
    spare: Vec<f32>,
}

impl<'a> Batch<'a> {
    /// An empty batch for `model`.
    pub(crate) fn new(model: &TextModel) -> Self {
        Self {
            rows: Vec::new(),
            pads: Vec::new(),
            cache: KvCache::new(model.num_layers()),
            logits: None,
            states: Vec::new(),
            scratch: StepScratch::default(),
            prefill_scratch: StepScratch::default(),
            spare: Vec::new(),
        }
    }

    /// Number of running sequences.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no sequence is running.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Prefills `seqs` and adds them to the running batch. Returns the sequences that are
    /// already finished (or could not be prefilled).
    pub(crate) fn admit(
        &mut self,
        model: &TextModel,
        seqs: Vec<ActiveSequence<'a>>,
    ) -> Vec<Outcome<'a>> {
        let (mut ready, done): (Vec<_>, Vec<_>) = seqs.into_iter().partition(|s| !s.is_finished());
        let mut done: Vec<Outcome<'a>> = done.into_iter().map(|s| (s, Ok(()))).collect();
        if ready.is_empty() {
            return done;
        }
        let _guard = tch::no_grad_guard();
        // Rows with the same prompt (candidates of one request) share one prefill: only the
        // distinct prompts run, and their cache rows and logits are then repeated.
        let mut distinct: Vec<Vec<u32>> = Vec::new();
        let row_of: Vec<usize> = ready
            .iter()
            .map(|s| {
                let tokens = s.tokens();
                distinct
                    .iter()
                    .position(|d| d == tokens)
                    .unwrap_or_else(|| {
                        distinct.push(tokens.to_vec());
                        distinct.len() - 1
                    })
            })
            .collect();
        match model.quantized_decoder() {
            Some(decoder) => {
                // A prompt is prefilled a chunk at a time, and dropped as soon as every row
                // that waits for it is cancelled, so a cancelled job lets its worker go within
                // one chunk instead of after the whole prompt.
                let mut prefilled = Vec::with_capacity(distinct.len());
                for (p, prompt) in distinct.iter().enumerate() {
                    let mut state = decoder.new_state(prompt.len() + 1);
                    let mut logits = Vec::new();
                    let mut outcome = Some(Ok(()));
                    for chunk in prompt.chunks(PREFILL_CHUNK) {
                        let mut waiting = ready
                            .iter_mut()
                            .zip(&row_of)
                            .filter(|(_, &r)| r == p)
                            .map(|(seq, _)| seq);
                        if waiting.all(|seq| seq.check_cancelled()) {
                            outcome = None;
                            break;
                        }
                        let step = decoder.prefill(
                            ComputePool::global(),
                            &mut self.prefill_scratch,
                            &mut state,
                            chunk,
                            &mut logits,
                        );
                        if step.is_err() {
                            outcome = Some(step);
                            break;
                        }
                    }
                    prefilled.push(outcome.map(|r| r.map(|()| (state, logits))));
                }
                let mut host = match self.logits.take() {
                    Some(Logits::Host(v)) => v,
                    _ => Vec::new(),
                };
                for (seq, &r) in ready.into_iter().zip(&row_of) {
                    match &prefilled[r] {
                        None => done.push((seq, Ok(()))),
                        Some(Ok((state, logits))) => {
                            let mut state = state.clone();
                            state.reserve(
                                (seq.tokens().len() + seq.remaining_budget() + 1)
                                    .min(model.max_positions().max(1) as usize),
                            );
                            host.extend_from_slice(logits);
                            self.states.push(state);
                            self.rows.push(seq);
                        }
                        Some(Err(e)) => {
                            done.push((seq, Err(TextError::InvalidRequest(e.to_string()))))
                        }
                    }
                }
                self.logits = Some(Logits::Host(host));
            }
            None => {
                // A model loaded for the quantized path reads its libtorch network now.
                match model.network() {
                    Ok(network) => self.admit_reference(model, network, ready, &distinct, &row_of),
                    Err(e) => {
                        let msg = e.to_string();
                        done.extend(
                            ready
                                .into_iter()
                                .map(|s| (s, Err(TextError::InvalidRequest(msg.clone())))),
                        );
                    }
                }
            }
        }
        done
    }

    /// [`Self::admit`] on libtorch: the distinct prompts prefill together, left-padded, and
    /// join the shared cache.
    fn admit_reference(
        &mut self,
        model: &TextModel,
        network: &CausalLm,
        ready: Vec<ActiveSequence<'a>>,
        distinct: &[Vec<u32>],
        row_of: &[usize],
    ) {
        let device = model.device();
        let lens: Vec<i64> = distinct.iter().map(|s| s.len() as i64).collect();
        let t = *lens.iter().max().unwrap_or(&1);
        let n = distinct.len() as i64;
        let pads: Vec<i64> = lens.iter().map(|l| t - l).collect();
        let mut ids = Vec::with_capacity((n * t) as usize);
        let mut positions = Vec::with_capacity((n * t) as usize);
        for (s, &pad) in distinct.iter().zip(&pads) {
            ids.extend(std::iter::repeat_n(
                model.tokenizer.pad_id as i64,
                pad as usize,
            ));
            ids.extend(s.iter().map(|&x| x as i64));
            positions.extend(std::iter::repeat_n(0i64, pad as usize));
            positions.extend(0..t - pad);
        }
        let ids = Tensor::from_slice(&ids).reshape([n, t]).to_device(device);
        let positions = Tensor::from_slice(&positions)
            .reshape([n, t])
            .to_device(device);
        let mask = pads
            .iter()
            .any(|&p| p > 0)
            .then(|| prefill_mask(&pads, t, device));
        let mut cache = KvCache::new(network.num_layers());
        let hidden = network.forward(&ids, &positions, mask.as_ref(), &mut cache);
        let mut logits = network.logits(&hidden.select(1, t - 1));
        let mut pads = pads;
        if distinct.len() < ready.len() {
            let rows: Vec<i64> = row_of.iter().map(|&r| r as i64).collect();
            let index = Tensor::from_slice(&rows).to_device(device);
            cache.select_rows(&index);
            logits = logits.index_select(0, &index);
            pads = row_of.iter().map(|&r| pads[r]).collect();
        }

        // Align the new rows with the running ones on the shared sequence axis.
        let current = self.cache.seq_len();
        if !self.rows.is_empty() {
            if current < t {
                self.cache.pad_front(t - current);
                self.pads.iter_mut().for_each(|p| *p += t - current);
            } else {
                cache.pad_front(current - t);
                pads.iter_mut().for_each(|p| *p += current - t);
            }
        }
        self.cache.extend_rows(cache);
        self.pads.extend(pads);
        self.logits = Some(Logits::Tensor(match self.logits.take() {
            Some(Logits::Tensor(prev)) => Tensor::cat(&[prev, logits], 0),
            _ => logits,
        }));
        self.rows.extend(ready);
    }

    /// Picks one token for every row, retires finished rows (returned), and runs the forward
    /// pass that yields the next logits of the rows left.
    pub(crate) fn step(&mut self, model: &TextModel) -> Vec<Outcome<'a>> {
        let _guard = tch::no_grad_guard();
        let host: Vec<f32> = match self.logits.take() {
            None => return Vec::new(),
            Some(Logits::Host(v)) => v,
            Some(Logits::Tensor(t)) => {
                match Vec::<f32>::try_from(t.to_device(tch::Device::Cpu).reshape([-1])) {
                    Ok(v) => v,
                    Err(e) => {
                        let msg = e.to_string();
                        return self.drain_all(|| Err(TextError::InvalidRequest(msg.clone())));
                    }
                }
            }
        };
        if self.rows.is_empty() {
            return Vec::new();
        }
        let vocab = host.len() / self.rows.len();
        let mut outcomes: Vec<Option<Result<()>>> = Vec::with_capacity(self.rows.len());
        let mut row_logits = Vec::with_capacity(vocab);
        for (row, chunk) in self.rows.iter_mut().zip(host.chunks_exact(vocab)) {
            if row.check_cancelled() {
                outcomes.push(Some(Ok(())));
                continue;
            }
            row_logits.clear();
            row_logits.extend_from_slice(chunk);
            match row.advance(model, &mut row_logits) {
                Ok(()) if !row.is_finished() => outcomes.push(None),
                Ok(()) => outcomes.push(Some(Ok(()))),
                Err(e) => outcomes.push(Some(Err(e))),
            }
        }
        self.spare = host;
        let quantized = model.quantized_decoder();
        let mut finished = Vec::new();
        if outcomes.iter().any(Option::is_some) {
            let mut keep_rows = Vec::new();
            let mut kept = Vec::new();
            let mut kept_pads = Vec::new();
            let mut kept_states = Vec::new();
            let rows = std::mem::take(&mut self.rows);
            let mut states = std::mem::take(&mut self.states).into_iter();
            for (i, (row, outcome)) in rows.into_iter().zip(outcomes).enumerate() {
                let state = states.next();
                match outcome {
                    None => {
                        keep_rows.push(i as i64);
                        kept_pads.extend(self.pads.get(i));
                        kept_states.extend(state);
                        kept.push(row);
                    }
                    Some(r) => finished.push((row, r)),
                }
            }
            self.rows = kept;
            self.pads = kept_pads;
            self.states = kept_states;
            if self.rows.is_empty() {
                self.cache = KvCache::new(model.num_layers());
                return finished;
            }
            if quantized.is_none() {
                let index = Tensor::from_slice(&keep_rows).to_device(model.device());
                self.cache.select_rows(&index);
                let common = self.pads.iter().copied().min().unwrap_or(0);
                self.cache.drop_front(common);
                self.pads.iter_mut().for_each(|p| *p -= common);
            }
        }
        match quantized {
            Some(decoder) => {
                if let Err(e) = self.decode_quantized(decoder) {
                    let msg = e.to_string();
                    finished.extend(self.drain_all(|| Err(TextError::InvalidRequest(msg.clone()))));
                }
            }
            None => {
                if let Err(e) = self.decode_reference(model) {
                    let msg = e.to_string();
                    finished.extend(self.drain_all(|| Err(TextError::InvalidRequest(msg.clone()))));
                }
            }
        }
        finished
    }

    fn drain_all(&mut self, err: impl Fn() -> Result<()>) -> Vec<Outcome<'a>> {
        self.pads.clear();
        self.states.clear();
        self.logits = None;
        std::mem::take(&mut self.rows)
            .into_iter()
            .map(|r| (r, err()))
            .collect()
    }

    /// One step of every row on the quantized decoder, all rows together.
    fn decode_quantized(&mut self, decoder: &LlamaCpuDecoder) -> Result<()> {
        if self.states.len() != self.rows.len() {
            return Err(TextError::InvalidRequest(
                "the quantized decode step was turned on while the batch ran".into(),
            ));
        }
        let tokens: Vec<u32> = self
            .rows
            .iter()
            .map(|r| r.tokens().last().copied().unwrap_or(0))
            .collect();
        let mut logits = std::mem::take(&mut self.spare);
        decoder.step_batch(
            ComputePool::global(),
            &mut self.scratch,
            &mut self.states,
            &tokens,
            &mut logits,
        )?;
        self.logits = Some(Logits::Host(logits));
        Ok(())
    }

    /// One decoding forward pass over the last token of every row, on libtorch.
    fn decode_reference(&mut self, model: &TextModel) -> Result<()> {
        let network = model.network()?;
        let device = model.device();
        let n = self.rows.len() as i64;
        let last: Vec<i64> = self
            .rows
            .iter()
            .map(|r| *r.tokens().last().unwrap_or(&0) as i64)
            .collect();
        let positions: Vec<i64> = self
            .rows
            .iter()
            .map(|r| r.tokens().len() as i64 - 1)
            .collect();
        let ids = Tensor::from_slice(&last).reshape([n, 1]).to_device(device);
        let positions = Tensor::from_slice(&positions)
            .reshape([n, 1])
            .to_device(device);
        let total = self.cache.seq_len() + 1;
        let mask = self.pads.iter().any(|&p| p > 0).then(|| {
            let pads = Tensor::from_slice(&self.pads)
                .to_device(device)
                .reshape([n, 1, 1, 1]);
            Tensor::arange(total, (Kind::Int64, device))
                .reshape([1, 1, 1, total])
                .ge_tensor(&pads)
        });
        let hidden = network.forward(&ids, &positions, mask.as_ref(), &mut self.cache);
        self.logits = Some(Logits::Tensor(network.logits(&hidden.select(1, 0))));
        Ok(())
    }
}

/// Prompt tokens prefilled between two looks at the rows' cancel tokens (the quantized
/// prefill's own pass is 64 positions).
const PREFILL_CHUNK: usize = 128;

/// Causal mask for a left-padded prefill: row b attends to real keys up to the query, and
/// padding queries attend to themselves only (keeping their values finite).
fn prefill_mask(pads: &[i64], t: i64, device: tch::Device) -> Tensor {
    let n = pads.len() as i64;
    let q = Tensor::arange(t, (Kind::Int64, device)).reshape([1, 1, t, 1]);
    let k = Tensor::arange(t, (Kind::Int64, device)).reshape([1, 1, 1, t]);
    let pads = Tensor::from_slice(pads)
        .to_device(device)
        .reshape([n, 1, 1, 1]);
    let causal = k.le_tensor(&q);
    let real_key = k.ge_tensor(&pads);
    let diagonal = k.eq_tensor(&q);
    causal.logical_and(&real_key).logical_or(&diagonal)
}

/// Runs requests to completion in one batch (all admitted together).
pub(crate) fn run_batch<'a>(
    model: &TextModel,
    seqs: Vec<ActiveSequence<'a>>,
) -> Vec<(u64, Result<Generation>)> {
    let mut batch = Batch::new(model);
    let mut results: Vec<(u64, Result<Generation>)> = batch
        .admit(model, seqs)
        .into_iter()
        .map(|(seq, outcome)| (seq.id, outcome.map(|()| seq.into_generation())))
        .collect();
    while !batch.is_empty() {
        for (seq, outcome) in batch.step(model) {
            let id = seq.id;
            results.push((id, outcome.map(|()| seq.into_generation())));
        }
    }
    results.sort_by_key(|(id, _)| *id);
    results
}
