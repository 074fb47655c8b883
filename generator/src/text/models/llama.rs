//! Llama-family decoder (Llama 2/3, Mistral, Qwen2/2.5, Qwen3, Phi-3, SmolLM2): its
//! configuration, layers, loading and forward pass. RMSNorm, grouped-query attention with rotary
//! embeddings (Qwen3: RMSNorm of every query and key head before the rotation), SwiGLU MLP, tied
//! or untied output projection.
//!
//! The q/k/v projections and the gate/up projections are fused into single matrices at load
//! time (Phi-3 checkpoints store them fused already) so each layer runs two large matmuls fewer
//! per step.

use tch::{Device, Kind, Tensor};

use crate::nn::attention::{attention, merge_heads};
use crate::nn::{Embedding, Linear, RmsNorm, Weights};
use crate::text::architecture::Architecture;
use crate::text::error::Result;
use crate::text::kv_cache::KvCache;
use crate::text::rope::{Rope, RopeScaling};

/// Configuration of a Llama-family decoder (Llama, Mistral, Qwen2, Qwen3, Phi-3, SmolLM2).
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    /// Which variant this is.
    pub architecture: Architecture,
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Model width.
    pub hidden_size: i64,
    /// MLP inner width.
    pub intermediate_size: i64,
    /// Number of decoder layers.
    pub num_hidden_layers: i64,
    /// Query heads.
    pub num_attention_heads: i64,
    /// Key/value heads (grouped-query attention when fewer than query heads).
    pub num_key_value_heads: i64,
    /// Width of one head.
    pub head_dim: i64,
    /// How many leading channels of each head RoPE rotates: the whole head, or less with
    /// Phi-3's `partial_rotary_factor` (Phi-4-mini).
    pub rotary_dim: i64,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// RoPE scaling.
    pub rope_scaling: RopeScaling,
    /// Longest supported context.
    pub max_position_embeddings: i64,
    /// Whether the output projection is the token embedding.
    pub tie_word_embeddings: bool,
    /// Biases on q, k, v projections (Qwen2; Llama with `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on the attention output projection (Llama with `attention_bias`).
    pub o_bias: bool,
    /// Biases on the MLP projections.
    pub mlp_bias: bool,
    /// Sliding-window attention span (Mistral, Phi-3; Qwen2 / Qwen3 with
    /// `use_sliding_window`): a query of a windowed layer sees only the keys less than this many
    /// positions behind it.
    pub sliding_window: Option<i64>,
    /// For each layer, whether it uses the sliding window (all of them for Mistral and Phi-3;
    /// for Qwen, those `layer_types` / `max_window_layers` name). All false without a window.
    pub sliding_layers: Vec<bool>,
    /// RMSNorm of each query and key head before RoPE (Qwen3's `q_norm` / `k_norm`).
    pub qk_norm: bool,
}

struct LlamaLayer {
    input_norm: RmsNorm,
    post_attention_norm: RmsNorm,
    /// q, k and v projections fused into one matrix.
    qkv: Linear,
    o_proj: Linear,
    /// gate and up projections fused into one matrix.
    gate_up: Linear,
    down_proj: Linear,
    /// Per-head query and key norms (Qwen3).
    qk_norm: Option<(RmsNorm, RmsNorm)>,
}

/// Reads the q/k/v projections fused into one `[q + 2 kv, h]` matrix: Phi-3's `qkv_proj`, or
/// `q_proj`, `k_proj` and `v_proj` concatenated.
fn load_qkv(c: &LlamaConfig, attn: &Weights) -> Result<Linear> {
    let (h, hd) = (c.hidden_size, c.head_dim);
    let (q_out, kv_out) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
    if c.architecture == Architecture::Phi3 {
        return Ok(Linear::load_shaped(
            &attn.pp("qkv_proj"),
            q_out + 2 * kv_out,
            h,
            c.qkv_bias,
        )?);
    }
    let q = attn.get_shaped("q_proj.weight", &[q_out, h])?;
    let k = attn.get_shaped("k_proj.weight", &[kv_out, h])?;
    let v = attn.get_shaped("v_proj.weight", &[kv_out, h])?;
    let bias = if c.qkv_bias {
        let qb = attn.get_shaped("q_proj.bias", &[q_out])?;
        let kb = attn.get_shaped("k_proj.bias", &[kv_out])?;
        let vb = attn.get_shaped("v_proj.bias", &[kv_out])?;
        Some(Tensor::cat(&[qb, kb, vb], 0))
    } else {
        None
    };
    Ok(Linear::new(Tensor::cat(&[q, k, v], 0), bias))
}

/// Reads the gate and up projections fused into one `[2 inter, h]` matrix (gate rows first):
/// Phi-3's `gate_up_proj`, or `gate_proj` and `up_proj` concatenated.
fn load_gate_up(c: &LlamaConfig, mlp: &Weights) -> Result<Linear> {
    let (h, inter) = (c.hidden_size, c.intermediate_size);
    if c.architecture == Architecture::Phi3 {
        return Ok(Linear::load_shaped(
            &mlp.pp("gate_up_proj"),
            2 * inter,
            h,
            c.mlp_bias,
        )?);
    }
    let gate = mlp.get_shaped("gate_proj.weight", &[inter, h])?;
    let up = mlp.get_shaped("up_proj.weight", &[inter, h])?;
    let bias = if c.mlp_bias {
        let gb = mlp.get_shaped("gate_proj.bias", &[inter])?;
        let ub = mlp.get_shaped("up_proj.bias", &[inter])?;
        Some(Tensor::cat(&[gb, ub], 0))
    } else {
        None
    };
    Ok(Linear::new(Tensor::cat(&[gate, up], 0), bias))
}

impl LlamaLayer {
    /// Reads one decoder layer (`model.layers.N`), fusing q/k/v and gate/up.
    fn load(c: &LlamaConfig, w: &Weights) -> Result<Self> {
        let (h, hd, inter) = (c.hidden_size, c.head_dim, c.intermediate_size);
        let q_out = c.num_attention_heads * hd;
        let attn = w.pp("self_attn");
        let mlp = w.pp("mlp");
        let qk_norm = if c.qk_norm {
            Some((
                RmsNorm::load_shaped(&attn.pp("q_norm"), hd, c.rms_norm_eps)?,
                RmsNorm::load_shaped(&attn.pp("k_norm"), hd, c.rms_norm_eps)?,
            ))
        } else {
            None
        };
        Ok(Self {
            input_norm: RmsNorm::load_shaped(&w.pp("input_layernorm"), h, c.rms_norm_eps)?,
            post_attention_norm: RmsNorm::load_shaped(
                &w.pp("post_attention_layernorm"),
                h,
                c.rms_norm_eps,
            )?,
            qkv: load_qkv(c, &attn)?,
            o_proj: Linear::load_shaped(&attn.pp("o_proj"), h, q_out, c.o_bias)?,
            gate_up: load_gate_up(c, &mlp)?,
            down_proj: Linear::load_shaped(&mlp.pp("down_proj"), h, inter, c.mlp_bias)?,
            qk_norm,
        })
    }
}

/// A loaded Llama-family model.
pub struct Llama {
    config: LlamaConfig,
    embed_tokens: Embedding,
    layers: Vec<LlamaLayer>,
    norm: RmsNorm,
    lm_head: Linear,
    rope: Rope,
}

impl Llama {
    /// Loads the weights described by `config` (Hugging Face names: `model.embed_tokens`,
    /// `model.layers.N`, `model.norm`, `lm_head`); the rotary tables go to `device`.
    pub fn load(config: &LlamaConfig, w: &Weights, device: Device) -> Result<Self> {
        let c = config;
        let h = c.hidden_size;
        let embed_tokens = w.get_shaped("model.embed_tokens.weight", &[c.vocab_size, h])?;
        let layers = (0..c.num_hidden_layers)
            .map(|i| LlamaLayer::load(c, &w.pp("model.layers").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::load_shaped(&w.pp("model.norm"), h, c.rms_norm_eps)?;
        let lm_head = if c.tie_word_embeddings || !w.contains("lm_head.weight") {
            embed_tokens.shallow_clone()
        } else {
            w.get_shaped("lm_head.weight", &[c.vocab_size, h])?
        };
        let rope = Rope::new(
            c.rotary_dim,
            c.rope_theta,
            &c.rope_scaling,
            c.max_position_embeddings,
            device,
        );
        Ok(Self {
            config: config.clone(),
            embed_tokens: Embedding::new(embed_tokens),
            layers,
            norm,
            lm_head: Linear::new(lm_head, None),
            rope,
        })
    }

    /// The configuration this model was built from.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Runs the decoder over `input_ids` (`[batch, seq]`) at `positions` (`[batch, seq]`),
    /// appending to `cache`. `mask` (`[batch, 1, seq, cached+seq]`, true = may attend) is needed
    /// whenever rows are padded; without it attention is causal. Returns the final-normed
    /// hidden states `[batch, seq, hidden]`.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        positions: &Tensor,
        mask: Option<&Tensor>,
        cache: &mut KvCache,
    ) -> Tensor {
        let c = &self.config;
        let (b, t) = input_ids.size2().expect("input_ids are [batch, seq]");
        let causal = mask.is_none() && t > 1 && cache.is_empty();
        let window_mask = self.sliding_window_mask(t, cache.seq_len(), mask, input_ids.device());
        let mut x = self.embed_tokens.forward(input_ids);
        let (nh, nkv, hd) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim);
        let rope = self.rope.factors(positions, x.kind());
        for (i, layer) in self.layers.iter().enumerate() {
            let h = layer.input_norm.forward(&x);
            let qkv = layer.qkv.forward(&h);
            let parts = qkv.split_with_sizes([nh * hd, nkv * hd, nkv * hd], 2);
            let mut q = parts[0].view([b, t, nh, hd]).transpose(1, 2);
            let mut k = parts[1].view([b, t, nkv, hd]).transpose(1, 2);
            if let Some((q_norm, k_norm)) = &layer.qk_norm {
                q = q_norm.forward(&q);
                k = k_norm.forward(&k);
            }
            let v = parts[2].view([b, t, nkv, hd]).transpose(1, 2).contiguous();
            let (q, k) = self.rope.apply(&q, &k, &rope);
            let (k, v) = cache.append(i, k, v);
            let windowed = c.sliding_layers.get(i).copied().unwrap_or(false);
            let attn = match &window_mask {
                Some(window) if windowed => attention(&q, &k, &v, Some(window), false, nkv != nh),
                _ => attention(&q, &k, &v, mask, causal, nkv != nh),
            };
            x += layer.o_proj.forward(&merge_heads(&attn));
            let h = layer.post_attention_norm.forward(&x);
            let gate_up = layer.gate_up.forward(&h);
            let gu = gate_up.chunk(2, 2);
            let act = gu[0].silu() * &gu[1];
            x += layer.down_proj.forward(&act);
        }
        self.norm.forward(&x)
    }

    /// With sliding-window attention, once the context outgrows the window: the caller's mask
    /// (or plain causality) restricted to keys less than `window` positions behind each query.
    /// Cache columns and positions differ only by a row's left padding, so the distance in
    /// columns is the distance in positions.
    fn sliding_window_mask(
        &self,
        t: i64,
        cached: i64,
        mask: Option<&Tensor>,
        device: tch::Device,
    ) -> Option<Tensor> {
        let window = self.config.sliding_window?;
        let total = cached + t;
        if total <= window {
            return None;
        }
        let q = Tensor::arange_start(cached, total, (Kind::Int64, device)).reshape([1, 1, t, 1]);
        let k = Tensor::arange(total, (Kind::Int64, device)).reshape([1, 1, 1, total]);
        let distance = &q - &k;
        let allowed = distance.lt(window).logical_and(&distance.ge(0));
        Some(match mask {
            Some(m) => allowed.logical_and(m),
            None => allowed,
        })
    }

    /// Projects hidden states to vocabulary logits.
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        self.lm_head.forward(hidden)
    }
}
