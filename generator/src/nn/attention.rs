//! Helpers shared by the attention blocks: splitting channels into heads and back, and
//! libtorch's fused scaled dot-product attention.

use tch::Tensor;

/// `[batch, tokens, heads * head_dim]` to `[batch, heads, tokens, head_dim]` (a view).
pub fn split_heads(x: &Tensor, heads: i64) -> Tensor {
    let (batch, tokens) = (x.size()[0], x.size()[1]);
    x.view([batch, tokens, heads, -1]).transpose(1, 2)
}

/// `[batch, heads, tokens, head_dim]` back to `[batch, tokens, heads * head_dim]`.
pub fn merge_heads(x: &Tensor) -> Tensor {
    let (batch, tokens) = (x.size()[0], x.size()[2]);
    x.transpose(1, 2).reshape([batch, tokens, -1])
}

/// Softmax attention of `q` over `k`/`v` (`[batch, heads, tokens, head_dim]`), without dropout
/// and with the default `1/sqrt(head_dim)` scale. `mask` (true = may attend) or `causal`
/// restrict the keys; `grouped` lets fewer key/value heads serve all query heads.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
    grouped: bool,
) -> Tensor {
    Tensor::scaled_dot_product_attention(q, k, v, mask, 0.0, causal, None, grouped)
}
