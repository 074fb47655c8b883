//! Gemma 2 and Gemma 3 text decoders: their configuration, layers, loading and forward pass.
//!
//! Both differ from Llama in the same ways: the token embedding is scaled by `sqrt(hidden)`,
//! RMSNorm multiplies by `1 + weight` (computed in f32), every layer has norms before *and* after
//! its attention and its MLP, the MLP is GeGLU (tanh GELU), attention scores are scaled by
//! `query_pre_attn_scalar^-1/2`, and layers alternate between sliding-window ("local") and full
//! ("global") attention. Gemma 2 soft-caps attention scores and final logits with `tanh`;
//! Gemma 3 drops the soft-capping, normalises every query and key head, and gives local and
//! global layers their own RoPE base (and scaling).

use tch::{Device, Kind, Tensor};

use crate::nn::attention::{attention, merge_heads};
use crate::nn::{Embedding, Linear, Weights};
use crate::text::architecture::Architecture;
use crate::text::error::Result;
use crate::text::kv_cache::KvCache;
use crate::text::rope::{Rope, RopeScaling};

/// Configuration of a Gemma 2 or Gemma 3 text decoder.
#[derive(Debug, Clone)]
pub struct GemmaConfig {
    /// [`Architecture::Gemma2`] or [`Architecture::Gemma3`].
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
    /// Key/value heads.
    pub num_key_value_heads: i64,
    /// Width of one head.
    pub head_dim: i64,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Attention scores are scaled by `query_pre_attn_scalar^-1/2` (not `head_dim^-1/2`).
    pub query_pre_attn_scalar: f64,
    /// `tanh` soft-capping of attention scores (Gemma 2).
    pub attn_logit_softcapping: Option<f64>,
    /// `tanh` soft-capping of the output logits (Gemma 2).
    pub final_logit_softcapping: Option<f64>,
    /// Span of the sliding-window layers: a query sees keys less than this many positions back.
    pub sliding_window: Option<i64>,
    /// For each layer, whether it uses sliding-window attention.
    pub sliding_layers: Vec<bool>,
    /// RoPE base of the full-attention layers.
    pub rope_theta: f64,
    /// RoPE scaling of the full-attention layers.
    pub rope_scaling: RopeScaling,
    /// RoPE base of the sliding-window layers.
    pub rope_local_theta: f64,
    /// RoPE scaling of the sliding-window layers.
    pub rope_local_scaling: RopeScaling,
    /// Longest supported context.
    pub max_position_embeddings: i64,
    /// Whether the output projection is the token embedding.
    pub tie_word_embeddings: bool,
    /// Biases on the q, k, v and o projections (`attention_bias`).
    pub attention_bias: bool,
    /// GELU approximation of the MLP: `"tanh"` (`gelu_pytorch_tanh`) or `"none"` (`gelu`).
    pub gelu_approximate: &'static str,
}

/// Gemma's RMSNorm: `x / rms(x) * (1 + weight)`, computed in f32 and cast back.
struct GemmaRmsNorm {
    /// `1 + weight`, in f32.
    scale: Tensor,
    eps: f64,
}

impl GemmaRmsNorm {
    fn load(w: &Weights, dim: i64, eps: f64) -> Result<Self> {
        let weight = w.get_shaped("weight", &[dim])?;
        Ok(Self {
            scale: weight.to_kind(Kind::Float) + 1.0,
            eps,
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let dim = self.scale.size()[0];
        x.to_kind(Kind::Float)
            .rms_norm([dim], Some(&self.scale), self.eps)
            .to_kind(x.kind())
    }
}

struct GemmaLayer {
    input_norm: GemmaRmsNorm,
    post_attention_norm: GemmaRmsNorm,
    pre_feedforward_norm: GemmaRmsNorm,
    post_feedforward_norm: GemmaRmsNorm,
    /// q, k and v projections fused into one matrix.
    qkv: Linear,
    o_proj: Linear,
    /// Per-head query and key norms (Gemma 3).
    qk_norm: Option<(GemmaRmsNorm, GemmaRmsNorm)>,
    /// gate and up projections fused into one matrix.
    gate_up: Linear,
    down_proj: Linear,
    sliding: bool,
}

impl GemmaLayer {
    /// Reads one decoder layer (`model.layers.N`), fusing q/k/v and gate/up.
    fn load(c: &GemmaConfig, w: &Weights, sliding: bool) -> Result<Self> {
        let (h, hd, inter, eps) = (
            c.hidden_size,
            c.head_dim,
            c.intermediate_size,
            c.rms_norm_eps,
        );
        let (q_out, kv_out) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
        let attn = w.pp("self_attn");
        let mlp = w.pp("mlp");
        let q = attn.get_shaped("q_proj.weight", &[q_out, h])?;
        let k = attn.get_shaped("k_proj.weight", &[kv_out, h])?;
        let v = attn.get_shaped("v_proj.weight", &[kv_out, h])?;
        let qkv_bias = if c.attention_bias {
            Some(Tensor::cat(
                &[
                    attn.get_shaped("q_proj.bias", &[q_out])?,
                    attn.get_shaped("k_proj.bias", &[kv_out])?,
                    attn.get_shaped("v_proj.bias", &[kv_out])?,
                ],
                0,
            ))
        } else {
            None
        };
        let gate = mlp.get_shaped("gate_proj.weight", &[inter, h])?;
        let up = mlp.get_shaped("up_proj.weight", &[inter, h])?;
        let qk_norm = if c.architecture == Architecture::Gemma3 {
            Some((
                GemmaRmsNorm::load(&attn.pp("q_norm"), hd, eps)?,
                GemmaRmsNorm::load(&attn.pp("k_norm"), hd, eps)?,
            ))
        } else {
            None
        };
        Ok(Self {
            input_norm: GemmaRmsNorm::load(&w.pp("input_layernorm"), h, eps)?,
            post_attention_norm: GemmaRmsNorm::load(&w.pp("post_attention_layernorm"), h, eps)?,
            pre_feedforward_norm: GemmaRmsNorm::load(&w.pp("pre_feedforward_layernorm"), h, eps)?,
            post_feedforward_norm: GemmaRmsNorm::load(&w.pp("post_feedforward_layernorm"), h, eps)?,
            qkv: Linear::new(Tensor::cat(&[q, k, v], 0), qkv_bias),
            o_proj: Linear::load_shaped(&attn.pp("o_proj"), h, q_out, c.attention_bias)?,
            qk_norm,
            gate_up: Linear::new(Tensor::cat(&[gate, up], 0), None),
            down_proj: Linear::load_shaped(&mlp.pp("down_proj"), h, inter, false)?,
            sliding,
        })
    }
}

/// A loaded Gemma 2 or Gemma 3 text model.
pub struct Gemma {
    config: GemmaConfig,
    embed_tokens: Embedding,
    layers: Vec<GemmaLayer>,
    norm: GemmaRmsNorm,
    lm_head: Linear,
    rope_global: Rope,
    rope_local: Rope,
}

impl Gemma {
    /// Loads the weights described by `config` (Hugging Face names: `model.embed_tokens`,
    /// `model.layers.N`, `model.norm`, `lm_head`); the rotary tables go to `device`.
    pub fn load(config: &GemmaConfig, w: &Weights, device: Device) -> Result<Self> {
        let c = config;
        let h = c.hidden_size;
        let embed_tokens = w.get_shaped("model.embed_tokens.weight", &[c.vocab_size, h])?;
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                let sliding = c.sliding_layers.get(i as usize).copied().unwrap_or(false);
                GemmaLayer::load(c, &w.pp("model.layers").pp(i), sliding)
            })
            .collect::<Result<Vec<_>>>()?;
        let norm = GemmaRmsNorm::load(&w.pp("model.norm"), h, c.rms_norm_eps)?;
        let lm_head = if c.tie_word_embeddings || !w.contains("lm_head.weight") {
            embed_tokens.shallow_clone()
        } else {
            w.get_shaped("lm_head.weight", &[c.vocab_size, h])?
        };
        let rope = |theta: f64, scaling: &RopeScaling| {
            Rope::new(
                c.head_dim,
                theta,
                scaling,
                c.max_position_embeddings,
                device,
            )
        };
        Ok(Self {
            config: config.clone(),
            embed_tokens: Embedding::new(embed_tokens),
            layers,
            norm,
            lm_head: Linear::new(lm_head, None),
            rope_global: rope(c.rope_theta, &c.rope_scaling),
            rope_local: rope(c.rope_local_theta, &c.rope_local_scaling),
        })
    }

    /// The configuration this model was built from.
    pub fn config(&self) -> &GemmaConfig {
        &self.config
    }

    /// Same contract as [`super::llama::Llama::forward`].
    pub fn forward(
        &self,
        input_ids: &Tensor,
        positions: &Tensor,
        mask: Option<&Tensor>,
        cache: &mut KvCache,
    ) -> Tensor {
        let c = &self.config;
        let (b, t) = input_ids.size2().expect("input_ids are [batch, seq]");
        let device = input_ids.device();
        let (full_mask, local_mask) = self.masks(t, cache.seq_len(), mask, device);
        let embedded = self.embed_tokens.forward(input_ids);
        let kind = embedded.kind();
        let scale = Tensor::from((c.hidden_size as f64).sqrt())
            .to_kind(kind)
            .to_device(device);
        let mut x = embedded * scale;
        let (nh, nkv, hd) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim);
        let rope_global = self.rope_global.factors(positions, kind);
        let rope_local = self.rope_local.factors(positions, kind);
        let score_scale = c.query_pre_attn_scalar.powf(-0.5);
        for (i, layer) in self.layers.iter().enumerate() {
            let h = layer.input_norm.forward(&x);
            let qkv = layer.qkv.forward(&h);
            let parts = qkv.split_with_sizes([nh * hd, nkv * hd, nkv * hd], 2);
            let mut q = parts[0].view([b, t, nh, hd]).transpose(1, 2);
            let mut k = parts[1].view([b, t, nkv, hd]).transpose(1, 2);
            let v = parts[2].view([b, t, nkv, hd]).transpose(1, 2).contiguous();
            if let Some((q_norm, k_norm)) = &layer.qk_norm {
                q = q_norm.forward(&q);
                k = k_norm.forward(&k);
            }
            let (rope, layer_mask) = if layer.sliding {
                (&rope_local, local_mask.as_ref().or(full_mask.as_ref()))
            } else {
                (&rope_global, full_mask.as_ref())
            };
            let rotary = if layer.sliding {
                &self.rope_local
            } else {
                &self.rope_global
            };
            let (q, k) = rotary.apply(&q, &k, rope);
            let (k, v) = cache.append(i, k, v);
            let attn = match c.attn_logit_softcapping {
                Some(cap) => softcapped_attention(&q, &k, &v, layer_mask, score_scale, cap),
                // The scale is folded into the queries: libtorch's default divides by sqrt(hd).
                None => attention(
                    &(q * (score_scale * (hd as f64).sqrt())),
                    &k,
                    &v,
                    layer_mask,
                    false,
                    nkv != nh,
                ),
            };
            let h = layer.o_proj.forward(&merge_heads(&attn));
            x += layer.post_attention_norm.forward(&h);
            let h = layer.pre_feedforward_norm.forward(&x);
            let gu = layer.gate_up.forward(&h).chunk(2, 2);
            let act = gu[0].gelu(c.gelu_approximate) * &gu[1];
            let h = layer.down_proj.forward(&act);
            x += layer.post_feedforward_norm.forward(&h);
        }
        self.norm.forward(&x)
    }

    /// The attention masks (true = may attend) of the full and the sliding-window layers, over
    /// `cached + t` keys: the caller's mask (or plain causality), and that mask restricted to
    /// keys less than `sliding_window` positions behind each query (`None` while the context
    /// fits in the window). Cache columns and positions differ only by a row's left padding, so
    /// the distance in columns is the distance in positions.
    fn masks(
        &self,
        t: i64,
        cached: i64,
        mask: Option<&Tensor>,
        device: Device,
    ) -> (Option<Tensor>, Option<Tensor>) {
        let total = cached + t;
        let q = Tensor::arange_start(cached, total, (Kind::Int64, device)).reshape([1, 1, t, 1]);
        let k = Tensor::arange(total, (Kind::Int64, device)).reshape([1, 1, 1, total]);
        let distance = &q - &k;
        let full = match mask {
            Some(m) => m.shallow_clone(),
            None => distance.ge(0),
        };
        let local = match self.config.sliding_window {
            Some(window) if total > window => Some(full.logical_and(&distance.lt(window))),
            _ => None,
        };
        (Some(full), local)
    }

    /// Projects hidden states to vocabulary logits, soft-capped when the config says so.
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        let logits = self.lm_head.forward(hidden);
        match self.config.final_logit_softcapping {
            Some(cap) => (logits / cap).tanh() * cap,
            None => logits,
        }
    }
}

/// Attention with `cap * tanh(scores / cap)` applied to the scaled scores before the mask and
/// softmax (Gemma 2). Key/value heads are repeated to serve all query heads.
fn softcapped_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    scale: f64,
    cap: f64,
) -> Tensor {
    let groups = q.size()[1] / k.size()[1];
    let (k, v) = if groups > 1 {
        (
            k.repeat_interleave_self_int(groups, 1, None),
            v.repeat_interleave_self_int(groups, 1, None),
        )
    } else {
        (k.shallow_clone(), v.shallow_clone())
    };
    let scores = q.matmul(&k.transpose(-2, -1)) * scale;
    let scores = (scores / cap).tanh() * cap;
    let scores = match mask {
        Some(m) => scores.masked_fill(&m.logical_not(), f64::NEG_INFINITY),
        None => scores,
    };
    scores.softmax(-1, Kind::Float).to_kind(q.kind()).matmul(&v)
}
