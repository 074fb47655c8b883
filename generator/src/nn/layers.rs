//! The layers every network here is built from (linear, embedding, normalisations,
//! convolution), each holding the tensors it reads from a checkpoint.

use tch::Tensor;

use super::error::Result;
use super::weights::Weights;

/// A dense layer `x W^T + b`; the bias is optional, as in the checkpoint.
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// A layer from its `[out, in]` weight and optional `[out]` bias.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Linear { weight, bias }
    }

    /// Reads `weight` and, when present, `bias`.
    pub fn load(w: &Weights) -> Result<Self> {
        Ok(Linear {
            weight: w.get("weight")?,
            bias: w.get_opt("bias")?,
        })
    }

    /// Reads a `[out, in]` `weight` and, when `bias`, an `[out]` `bias`, checking their shapes.
    pub fn load_shaped(w: &Weights, out: i64, inp: i64, bias: bool) -> Result<Self> {
        Ok(Linear {
            weight: w.get_shaped("weight", &[out, inp])?,
            bias: if bias {
                Some(w.get_shaped("bias", &[out])?)
            } else {
                None
            },
        })
    }

    /// Applies the layer over the last dimension.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, self.bias.as_ref())
    }
}

/// A lookup table of vectors, one row per id.
pub struct Embedding {
    table: Tensor,
}

impl Embedding {
    /// A table from its `[rows, dim]` tensor.
    pub fn new(table: Tensor) -> Self {
        Embedding { table }
    }

    /// The `[rows, dim]` table (an output projection tied to the embedding reuses it).
    pub fn table(&self) -> &Tensor {
        &self.table
    }

    /// The rows of `ids`: `[..., dim]` for ids of any shape.
    pub fn forward(&self, ids: &Tensor) -> Tensor {
        Tensor::embedding(&self.table, ids, -1, false, false)
    }
}

/// A 2-D convolution with square stride and padding.
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: i64,
    padding: i64,
}

impl Conv2d {
    /// Reads `weight`/`bias`; padding is `kernel / 2` ("same" for odd kernels).
    pub fn load(w: &Weights, stride: i64) -> Result<Self> {
        let weight = w.get("weight")?;
        let kernel = weight.size().last().copied().unwrap_or(1);
        Ok(Conv2d {
            weight,
            bias: w.get_opt("bias")?,
            stride,
            padding: kernel / 2,
        })
    }

    /// Reads `weight`/`bias` with an explicit padding.
    pub fn load_padded(w: &Weights, stride: i64, padding: i64) -> Result<Self> {
        Ok(Conv2d {
            weight: w.get("weight")?,
            bias: w.get_opt("bias")?,
            stride,
            padding,
        })
    }

    /// Applies the convolution to an NCHW tensor.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(
            &self.weight,
            self.bias.as_ref(),
            [self.stride, self.stride],
            [self.padding, self.padding],
            [1, 1],
            1,
        )
    }
}

/// Group normalisation with an affine transform.
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: i64,
    eps: f64,
}

impl GroupNorm {
    /// Reads `weight` and `bias`.
    pub fn load(w: &Weights, groups: i64, eps: f64) -> Result<Self> {
        Ok(GroupNorm {
            weight: w.get("weight")?,
            bias: w.get("bias")?,
            groups,
            eps,
        })
    }

    /// Normalises an `(N, C, ...)` tensor.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.group_norm(
            self.groups,
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
            true,
        )
    }
}

/// Layer normalisation over the last dimension.
pub struct LayerNorm {
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f64,
}

impl LayerNorm {
    /// Reads `weight` and, when present, `bias`.
    pub fn load(w: &Weights, eps: f64) -> Result<Self> {
        Ok(LayerNorm {
            weight: w.get("weight")?,
            bias: w.get_opt("bias")?,
            eps,
        })
    }

    /// Reads a `[dim]` `weight` and `bias`, checking their shapes.
    pub fn load_shaped(w: &Weights, dim: i64, eps: f64) -> Result<Self> {
        Ok(LayerNorm {
            weight: w.get_shaped("weight", &[dim])?,
            bias: Some(w.get_shaped("bias", &[dim])?),
            eps,
        })
    }

    /// Normalises over the last dimension.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let dim = self.weight.size()[0];
        x.layer_norm(
            [dim],
            Some(&self.weight),
            self.bias.as_ref(),
            self.eps,
            false,
        )
    }
}

/// Root-mean-square normalisation over the last dimension (Llama's `RMSNorm`).
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    /// Reads a `[dim]` `weight`, checking its shape.
    pub fn load_shaped(w: &Weights, dim: i64, eps: f64) -> Result<Self> {
        Ok(RmsNorm {
            weight: w.get_shaped("weight", &[dim])?,
            eps,
        })
    }

    /// Normalises over the last dimension.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let dim = self.weight.size()[0];
        x.rms_norm([dim], Some(&self.weight), self.eps)
    }
}
