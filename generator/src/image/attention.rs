//! Multi-head attention as diffusers' `Attention` computes it (`to_q`, `to_k`, `to_v`,
//! `to_out.0`), through libtorch's fused scaled dot-product attention.

use tch::Tensor;

use super::error::Result;
use super::layers::{GroupNorm, Linear};
use super::weights::Weights;

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
                to_q: Linear::load(&w.sub("to_q"))?,
                to_k: Linear::load(&w.sub("to_k"))?,
                to_v: Linear::load(&w.sub("to_v"))?,
                to_out: Linear::load(&w.sub("to_out.0"))?,
                heads,
            })
        } else {
            Ok(Attention {
                to_q: Linear::load(&w.sub("query"))?,
                to_k: Linear::load(&w.sub("key"))?,
                to_v: Linear::load(&w.sub("value"))?,
                to_out: Linear::load(&w.sub("proj_attn"))?,
                heads,
            })
        }
    }

    /// Attends from `x` to `context` (or to `x` itself when `context` is `None`).
    pub(crate) fn forward(&self, x: &Tensor, context: Option<&Tensor>) -> Tensor {
        let context = context.unwrap_or(x);
        let (batch, tokens, _) = x
            .size3()
            .expect("attention input is (batch, tokens, channels)");
        let split = |t: Tensor| {
            let n = t.size()[1];
            t.view([batch, n, self.heads, -1]).transpose(1, 2)
        };
        let q = split(self.to_q.forward(x));
        let k = split(self.to_k.forward(context));
        let v = split(self.to_v.forward(context));
        let out = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            None::<Tensor>,
            0.0,
            false,
            None,
            false,
        );
        let out = out.transpose(1, 2).reshape([batch, tokens, -1]);
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
        let norm = GroupNorm::load(&w.sub("group_norm"), groups, 1e-6)?;
        let channels = w.sub("group_norm").get("weight")?.size()[0];
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
