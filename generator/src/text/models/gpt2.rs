//! GPT-2: its configuration, layers, loading and forward pass. Learned positions, pre-LayerNorm
//! blocks with fused qkv projection, GELU (tanh) MLP and an output projection tied to the token
//! embedding.

use serde::Deserialize;
use tch::Tensor;

use crate::nn::attention::{attention, merge_heads};
use crate::nn::{Embedding, LayerNorm, Linear, Weights};
use crate::text::error::{Result, TextError};
use crate::text::kv_cache::KvCache;

/// Configuration of a GPT-2 decoder.
#[derive(Debug, Clone, Deserialize)]
pub struct Gpt2Config {
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Number of learned positions.
    pub n_positions: i64,
    /// Model width.
    pub n_embd: i64,
    /// Number of blocks.
    pub n_layer: i64,
    /// Number of heads.
    pub n_head: i64,
    /// MLP inner width (default 4 * n_embd).
    #[serde(default)]
    pub n_inner: Option<i64>,
    /// LayerNorm epsilon.
    #[serde(default = "default_ln_eps")]
    pub layer_norm_epsilon: f64,
    /// Activation; only the GELU variants are supported.
    #[serde(default = "default_activation")]
    pub activation_function: String,
}

fn default_ln_eps() -> f64 {
    1e-5
}

/// The activation GPT-2 checkpoints use when their config names none (`gelu_new`).
pub(crate) fn default_activation() -> String {
    "gelu_new".to_string()
}

struct Gpt2Block {
    ln_1: LayerNorm,
    c_attn: Linear,
    attn_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
}

/// Reads a Hugging Face `Conv1D` (weight stored `[in, out]`) as a linear layer `[out, in]`.
fn conv1d(w: &Weights, inp: i64, out: i64) -> Result<Linear> {
    let weight = w
        .get_shaped("weight", &[inp, out])?
        .transpose(0, 1)
        .contiguous();
    Ok(Linear::new(weight, Some(w.get_shaped("bias", &[out])?)))
}

impl Gpt2Block {
    /// Reads one block (`h.N`).
    fn load(c: &Gpt2Config, w: &Weights) -> Result<Self> {
        let (e, eps) = (c.n_embd, c.layer_norm_epsilon);
        let inner = c.n_inner.unwrap_or(4 * e);
        Ok(Self {
            ln_1: LayerNorm::load_shaped(&w.pp("ln_1"), e, eps)?,
            c_attn: conv1d(&w.pp("attn.c_attn"), e, 3 * e)?,
            attn_proj: conv1d(&w.pp("attn.c_proj"), e, e)?,
            ln_2: LayerNorm::load_shaped(&w.pp("ln_2"), e, eps)?,
            c_fc: conv1d(&w.pp("mlp.c_fc"), e, inner)?,
            mlp_proj: conv1d(&w.pp("mlp.c_proj"), inner, e)?,
        })
    }
}

/// A loaded GPT-2 model.
pub struct Gpt2 {
    config: Gpt2Config,
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Gpt2Block>,
    ln_f: LayerNorm,
    gelu_approximate: &'static str,
}

impl Gpt2 {
    /// Loads the weights described by `config` (Hugging Face names: `wte`, `wpe`, `h.N`,
    /// `ln_f`).
    pub fn load(config: &Gpt2Config, w: &Weights) -> Result<Self> {
        let gelu_approximate = match config.activation_function.as_str() {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => "tanh",
            "gelu" => "none",
            other => {
                return Err(TextError::Config(format!(
                    "unsupported GPT-2 activation {other:?}"
                )))
            }
        };
        let e = config.n_embd;
        let blocks = (0..config.n_layer)
            .map(|i| Gpt2Block::load(config, &w.pp("h").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config: config.clone(),
            wte: Embedding::new(w.get_shaped("wte.weight", &[config.vocab_size, e])?),
            wpe: Embedding::new(w.get_shaped("wpe.weight", &[config.n_positions, e])?),
            blocks,
            ln_f: LayerNorm::load_shaped(&w.pp("ln_f"), e, config.layer_norm_epsilon)?,
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
        let mut x = self.wte.forward(input_ids) + self.wpe.forward(positions);
        for (i, blk) in self.blocks.iter().enumerate() {
            let h = blk.ln_1.forward(&x);
            let qkv = blk.c_attn.forward(&h);
            let parts = qkv.split(e, 2);
            let q = parts[0].view([b, t, nh, hd]).transpose(1, 2);
            let k = parts[1].view([b, t, nh, hd]).transpose(1, 2).contiguous();
            let v = parts[2].view([b, t, nh, hd]).transpose(1, 2).contiguous();
            let (k, v) = cache.append(i, k, v);
            let attn = attention(&q, &k, &v, mask, causal, false);
            x += blk.attn_proj.forward(&merge_heads(&attn));
            let h = blk.ln_2.forward(&x);
            let h = blk.c_fc.forward(&h).gelu(self.gelu_approximate);
            x += blk.mlp_proj.forward(&h);
        }
        self.ln_f.forward(&x)
    }

    /// Projects hidden states to vocabulary logits (tied to the token embedding).
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        hidden.linear::<Tensor>(self.wte.table(), None)
    }
}
