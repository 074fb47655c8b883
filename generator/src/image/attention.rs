//! Multi-head attention as diffusers' `Attention` computes it (`to_q`, `to_k`, `to_v`,
//! `to_out.0`), through libtorch's fused scaled dot-product attention.

use tch::Tensor;

use super::error::Result;
use crate::nn::attention::{attention, merge_heads, split_heads};
use crate::nn::{GroupNorm, Linear, Weights};

/// Self- or cross-attention over `(batch, tokens, channels)` inputs.
pub(crate) struct Attention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    heads: i64,
}

impl Attention {
    /// Reads the projections; older VAE checkpoints name them `query`, `key`, `value`,
    /// `proj_attn`, which is accepted too.
    pub(crate) fn load(w: &Weights, heads: i64) -> Result<Self> {
        if w.has_module("to_q") {
            Ok(Attention {
                to_q: Linear::load(&w.pp("to_q"))?,
                to_k: Linear::load(&w.pp("to_k"))?,
                to_v: Linear::load(&w.pp("to_v"))?,
                to_out: Linear::load(&w.pp("to_out.0"))?,
                heads,
            })
        } else {
            Ok(Attention {
                to_q: Linear::load(&w.pp("query"))?,
                to_k: Linear::load(&w.pp("key"))?,
                to_v: Linear::load(&w.pp("value"))?,
                to_out: Linear::load(&w.pp("proj_attn"))?,
                heads,
            })
        }
    }

    /// Attends from `x` to `context` (or to `x` itself when `context` is `None`).
    pub(crate) fn forward(&self, x: &Tensor, context: Option<&Tensor>) -> Tensor {
        let context = context.unwrap_or(x);
        let q = split_heads(&self.to_q.forward(x), self.heads);
        let k = split_heads(&self.to_k.forward(context), self.heads);
        let v = split_heads(&self.to_v.forward(context), self.heads);
        let out = merge_heads(&attention(&q, &k, &v, None, false, false));
        self.to_out.forward(&out)
    }
}

/// The VAE's spatial self-attention: group norm, single-head attention over pixels, residual.
pub(crate) struct SpatialSelfAttention {
    norm: GroupNorm,
    attention: Attention,
}

impl SpatialSelfAttention {
    /// Reads `group_norm` and the projections; heads = channels / `head_dim`.
    pub(crate) fn load(w: &Weights, groups: i64, head_dim: i64) -> Result<Self> {
        let norm = GroupNorm::load(&w.pp("group_norm"), groups, 1e-6)?;
        let channels = w.pp("group_norm").get("weight")?.size()[0];
        let attention = Attention::load(w, (channels / head_dim).max(1))?;
        Ok(SpatialSelfAttention { norm, attention })
    }

    /// Applies attention to an NCHW tensor and adds the input.
    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        let (b, c, h, w) = x.size4().expect("NCHW input");
        let hidden = self.norm.forward(x).view([b, c, h * w]).transpose(1, 2);
        let hidden = self.attention.forward(&hidden, None);
        hidden.transpose(1, 2).reshape([b, c, h, w]) + x
    }
}
