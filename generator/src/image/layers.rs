//! The basic layers the diffusion models are built from (linear, convolution, normalisations),
//! each holding the tensors it reads from a checkpoint.

use tch::Tensor;

use super::error::Result;
use super::weights::Weights;

/// A dense layer `x W^T + b`; the bias is optional, as in the checkpoint.
pub(crate) struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// Reads `weight` and, when present, `bias`.
    pub(crate) fn load(w: &Weights) -> Result<Self> {
        Ok(Linear {
            weight: w.get("weight")?,
            bias: w.get_opt("bias"),
        })
    }

    /// Applies the layer over the last dimension.
    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, self.bias.as_ref())
    }
}

/// A 2-D convolution with square stride and padding.
pub(crate) struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: i64,
    padding: i64,
}

impl Conv2d {
    /// Reads `weight`/`bias`; padding is `kernel / 2` ("same" for odd kernels).
    pub(crate) fn load(w: &Weights, stride: i64) -> Result<Self> {
        let weight = w.get("weight")?;
        let kernel = weight.size().last().copied().unwrap_or(1);
        Ok(Conv2d {
            weight,
            bias: w.get_opt("bias"),
            stride,
            padding: kernel / 2,
        })
    }

    /// Reads `weight`/`bias` with an explicit padding.
    pub(crate) fn load_padded(w: &Weights, stride: i64, padding: i64) -> Result<Self> {
        Ok(Conv2d {
            weight: w.get("weight")?,
            bias: w.get_opt("bias"),
            stride,
            padding,
        })
    }

    /// Applies the convolution to an NCHW tensor.
    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
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
pub(crate) struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: i64,
    eps: f64,
}

impl GroupNorm {
    /// Reads `weight` and `bias`.
    pub(crate) fn load(w: &Weights, groups: i64, eps: f64) -> Result<Self> {
        Ok(GroupNorm {
            weight: w.get("weight")?,
            bias: w.get("bias")?,
            groups,
            eps,
        })
    }

    /// Normalises an `(N, C, ...)` tensor.
    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
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
pub(crate) struct LayerNorm {
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f64,
}

impl LayerNorm {
    /// Reads `weight` and, when present, `bias`.
    pub(crate) fn load(w: &Weights, eps: f64) -> Result<Self> {
        Ok(LayerNorm {
            weight: w.get("weight")?,
            bias: w.get_opt("bias"),
            eps,
        })
    }

    /// Normalises over the last dimension.
    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        let dim = self.weight.size()[0];
        x.layer_norm(
            [dim],
            Some(&self.weight),
            self.bias.as_ref(),
            self.eps,
            true,
        )
    }
}
