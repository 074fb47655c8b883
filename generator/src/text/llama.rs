//! Llama-family decoder (Llama 2/3, Mistral, Qwen2/2.5, SmolLM2): RMSNorm, grouped-query
//! attention with rotary embeddings, SwiGLU MLP, tied or untied output projection.
//!
//! The q/k/v projections and the gate/up projections are fused into single matrices at load
//! time so each layer runs two large matmuls fewer per step.

use tch::{Device, Kind, Tensor};

use super::config::{LlamaConfig, ModelConfig};
use super::error::{Result, TextError};
use super::kv_cache::KvCache;
use super::rope::Rope;
use super::weights::WeightSource;

struct LlamaLayer {
    input_norm: Tensor,
    post_attention_norm: Tensor,
    qkv_weight: Tensor,
    qkv_bias: Option<Tensor>,
    o_weight: Tensor,
    o_bias: Option<Tensor>,
    gate_up_weight: Tensor,
    gate_up_bias: Option<Tensor>,
    down_weight: Tensor,
    down_bias: Option<Tensor>,
}

/// A loaded Llama-family model.
pub struct Llama {
    config: LlamaConfig,
    embed_tokens: Tensor,
    layers: Vec<LlamaLayer>,
    norm: Tensor,
    lm_head: Tensor,
    rope: Rope,
}

fn check_shape(name: &str, t: &Tensor, expected: &[i64]) -> Result<()> {
    if t.size() != expected {
        return Err(TextError::TensorShape {
            name: name.to_string(),
            actual: t.size(),
            expected: expected.to_vec(),
        });
    }
    Ok(())
}

impl Llama {
    /// Loads the weights described by `config` from `source` into `kind` on `device`.
    pub fn load(
        config: &LlamaConfig,
        source: &WeightSource,
        kind: Kind,
        device: Device,
    ) -> Result<Self> {
        let model_config = ModelConfig::Llama(config.clone());
        let get = |name: &str, shape: &[i64]| -> Result<Tensor> {
            let t = source.get(name, &model_config, kind, device)?;
            check_shape(name, &t, shape)?;
            Ok(t)
        };
        let opt = |name: &str, shape: &[i64], present: bool| -> Result<Option<Tensor>> {
            if present {
                get(name, shape).map(Some)
            } else {
                Ok(None)
            }
        };
        let c = config;
        let (h, hd) = (c.hidden_size, c.head_dim);
        let (q_out, kv_out) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
        let embed_tokens = get("model.embed_tokens.weight", &[c.vocab_size, h])?;
        let mut layers = Vec::with_capacity(c.num_hidden_layers as usize);
        for i in 0..c.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let q = get(&format!("{p}.self_attn.q_proj.weight"), &[q_out, h])?;
            let k = get(&format!("{p}.self_attn.k_proj.weight"), &[kv_out, h])?;
            let v = get(&format!("{p}.self_attn.v_proj.weight"), &[kv_out, h])?;
            let qkv_bias = if c.qkv_bias {
                let qb = get(&format!("{p}.self_attn.q_proj.bias"), &[q_out])?;
                let kb = get(&format!("{p}.self_attn.k_proj.bias"), &[kv_out])?;
                let vb = get(&format!("{p}.self_attn.v_proj.bias"), &[kv_out])?;
                Some(Tensor::cat(&[qb, kb, vb], 0))
            } else {
                None
            };
            let gate = get(
                &format!("{p}.mlp.gate_proj.weight"),
                &[c.intermediate_size, h],
            )?;
            let up = get(
                &format!("{p}.mlp.up_proj.weight"),
                &[c.intermediate_size, h],
            )?;
            let gate_up_bias = if c.mlp_bias {
                let gb = get(&format!("{p}.mlp.gate_proj.bias"), &[c.intermediate_size])?;
                let ub = get(&format!("{p}.mlp.up_proj.bias"), &[c.intermediate_size])?;
                Some(Tensor::cat(&[gb, ub], 0))
            } else {
                None
            };
            layers.push(LlamaLayer {
                input_norm: get(&format!("{p}.input_layernorm.weight"), &[h])?,
                post_attention_norm: get(&format!("{p}.post_attention_layernorm.weight"), &[h])?,
                qkv_weight: Tensor::cat(&[q, k, v], 0),
                qkv_bias,
                o_weight: get(&format!("{p}.self_attn.o_proj.weight"), &[h, q_out])?,
                o_bias: opt(&format!("{p}.self_attn.o_proj.bias"), &[h], c.o_bias)?,
                gate_up_weight: Tensor::cat(&[gate, up], 0),
                gate_up_bias,
                down_weight: get(
                    &format!("{p}.mlp.down_proj.weight"),
                    &[h, c.intermediate_size],
                )?,
                down_bias: opt(&format!("{p}.mlp.down_proj.bias"), &[h], c.mlp_bias)?,
            });
        }
        let norm = get("model.norm.weight", &[h])?;
        let lm_head = if c.tie_word_embeddings || !source.contains("lm_head.weight") {
            embed_tokens.shallow_clone()
        } else {
            get("lm_head.weight", &[c.vocab_size, h])?
        };
        let rope = Rope::new(
            hd,
            c.rope_theta,
            &c.rope_scaling,
            c.max_position_embeddings,
            device,
        );
        Ok(Self {
            config: config.clone(),
            embed_tokens,
            layers,
            norm,
            lm_head,
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
        let mut causal = mask.is_none() && t > 1 && cache.is_empty();
        let window_mask = self.sliding_window_mask(t, cache.seq_len(), mask, input_ids.device());
        let mask = match &window_mask {
            Some(m) => {
                causal = false;
                Some(m)
            }
            None => mask,
        };
        let mut x = Tensor::embedding(&self.embed_tokens, input_ids, -1, false, false);
        let (nh, nkv, hd) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim);
        let eps = c.rms_norm_eps;
        let rope = self.rope.factors(positions, x.kind());
        for (i, layer) in self.layers.iter().enumerate() {
            let h = x.rms_norm([c.hidden_size], Some(&layer.input_norm), eps);
            let qkv = h.linear(&layer.qkv_weight, layer.qkv_bias.as_ref());
            let parts = qkv.split_with_sizes([nh * hd, nkv * hd, nkv * hd], 2);
            let q = parts[0].view([b, t, nh, hd]).transpose(1, 2);
            let k = parts[1].view([b, t, nkv, hd]).transpose(1, 2);
            let v = parts[2].view([b, t, nkv, hd]).transpose(1, 2).contiguous();
            let (q, k) = Rope::apply(&q, &k, &rope);
            let (k, v) = cache.append(i, k, v);
            let attn = Tensor::scaled_dot_product_attention(
                &q,
                &k,
                &v,
                mask,
                0.0,
                causal,
                None,
                nkv != nh,
            );
            let attn = attn.transpose(1, 2).reshape([b, t, nh * hd]);
            x += attn.linear(&layer.o_weight, layer.o_bias.as_ref());
            let h = x.rms_norm([c.hidden_size], Some(&layer.post_attention_norm), eps);
            let gate_up = h.linear(&layer.gate_up_weight, layer.gate_up_bias.as_ref());
            let gu = gate_up.chunk(2, 2);
            let act = gu[0].silu() * &gu[1];
            x += act.linear(&layer.down_weight, layer.down_bias.as_ref());
        }
        x.rms_norm([c.hidden_size], Some(&self.norm), eps)
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
        hidden.linear::<Tensor>(&self.lm_head, None)
    }
}
