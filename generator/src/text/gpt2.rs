//! GPT-2: learned positions, pre-LayerNorm blocks with fused qkv projection, GELU (tanh) MLP
//! and an output projection tied to the token embedding.

use tch::{Device, Kind, Tensor};

use super::config::{Gpt2Config, ModelConfig};
use super::error::{Result, TextError};
use super::kv_cache::KvCache;
use super::weights::WeightSource;

struct Gpt2Block {
    ln_1: (Tensor, Tensor),
    c_attn: (Tensor, Tensor),
    attn_proj: (Tensor, Tensor),
    ln_2: (Tensor, Tensor),
    c_fc: (Tensor, Tensor),
    mlp_proj: (Tensor, Tensor),
}

/// A loaded GPT-2 model.
pub struct Gpt2 {
    config: Gpt2Config,
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Gpt2Block>,
    ln_f: (Tensor, Tensor),
    gelu_approximate: &'static str,
}

impl Gpt2 {
    /// Loads the weights described by `config` from `source` into `kind` on `device`.
    pub fn load(
        config: &Gpt2Config,
        source: &WeightSource,
        kind: Kind,
        device: Device,
    ) -> Result<Self> {
        let gelu_approximate = match config.activation_function.as_str() {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => "tanh",
            "gelu" => "none",
            other => {
                return Err(TextError::Config(format!(
                    "unsupported GPT-2 activation {other:?}"
                )))
            }
        };
        let model_config = ModelConfig::Gpt2(config.clone());
        let get = |name: &str, shape: &[i64]| -> Result<Tensor> {
            let t = source.get(name, &model_config, kind, device)?;
            if t.size() != shape {
                return Err(TextError::TensorShape {
                    name: name.to_string(),
                    actual: t.size(),
                    expected: shape.to_vec(),
                });
            }
            Ok(t)
        };
        let e = config.n_embd;
        let inner = config.n_inner.unwrap_or(4 * e);
        let ln = |p: &str| -> Result<(Tensor, Tensor)> {
            Ok((
                get(&format!("{p}.weight"), &[e])?,
                get(&format!("{p}.bias"), &[e])?,
            ))
        };
        // HF stores Conv1D weights as [in, out]; keep them as nn.Linear [out, in].
        let conv = |p: &str, inp: i64, out: i64| -> Result<(Tensor, Tensor)> {
            let w = get(&format!("{p}.weight"), &[inp, out])?
                .transpose(0, 1)
                .contiguous();
            Ok((w, get(&format!("{p}.bias"), &[out])?))
        };
        let mut blocks = Vec::with_capacity(config.n_layer as usize);
        for i in 0..config.n_layer {
            let p = format!("h.{i}");
            blocks.push(Gpt2Block {
                ln_1: ln(&format!("{p}.ln_1"))?,
                c_attn: conv(&format!("{p}.attn.c_attn"), e, 3 * e)?,
                attn_proj: conv(&format!("{p}.attn.c_proj"), e, e)?,
                ln_2: ln(&format!("{p}.ln_2"))?,
                c_fc: conv(&format!("{p}.mlp.c_fc"), e, inner)?,
                mlp_proj: conv(&format!("{p}.mlp.c_proj"), inner, e)?,
            });
        }
        Ok(Self {
            config: config.clone(),
            wte: get("wte.weight", &[config.vocab_size, e])?,
            wpe: get("wpe.weight", &[config.n_positions, e])?,
            blocks,
            ln_f: ln("ln_f")?,
            gelu_approximate,
        })
    }

    /// The configuration this model was built from.
    pub fn config(&self) -> &Gpt2Config {
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
        let causal = mask.is_none() && t > 1 && cache.is_empty();
        let (e, nh) = (c.n_embd, c.n_head);
        let hd = e / nh;
        let eps = c.layer_norm_epsilon;
        let mut x = Tensor::embedding(&self.wte, input_ids, -1, false, false)
            + Tensor::embedding(&self.wpe, positions, -1, false, false);
        for (i, blk) in self.blocks.iter().enumerate() {
            let h = x.layer_norm([e], Some(&blk.ln_1.0), Some(&blk.ln_1.1), eps, false);
            let qkv = h.linear(&blk.c_attn.0, Some(&blk.c_attn.1));
            let parts = qkv.split(e, 2);
            let q = parts[0].view([b, t, nh, hd]).transpose(1, 2);
            let k = parts[1].view([b, t, nh, hd]).transpose(1, 2).contiguous();
            let v = parts[2].view([b, t, nh, hd]).transpose(1, 2).contiguous();
            let (k, v) = cache.append(i, k, v);
            let attn =
                Tensor::scaled_dot_product_attention(&q, &k, &v, mask, 0.0, causal, None, false);
            let attn = attn.transpose(1, 2).reshape([b, t, e]);
            x += attn.linear(&blk.attn_proj.0, Some(&blk.attn_proj.1));
            let h = x.layer_norm([e], Some(&blk.ln_2.0), Some(&blk.ln_2.1), eps, false);
            let h = h
                .linear(&blk.c_fc.0, Some(&blk.c_fc.1))
                .gelu(self.gelu_approximate);
            x += h.linear(&blk.mlp_proj.0, Some(&blk.mlp_proj.1));
        }
        x.layer_norm([e], Some(&self.ln_f.0), Some(&self.ln_f.1), eps, false)
    }

    /// Projects hidden states to vocabulary logits (tied to the token embedding).
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        hidden.linear::<Tensor>(&self.wte, None)
    }
}
