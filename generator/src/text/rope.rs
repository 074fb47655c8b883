//! Rotary position embeddings in the Hugging Face "rotate half" layout, with the checkpoint's
//! base frequency and scaling.

use tch::{Device, Kind, Tensor};

/// RoPE frequency scaling as described by `rope_scaling` / `rope_parameters`.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// Positions divided by `factor`.
    Linear {
        /// The divisor.
        factor: f64,
    },
    /// Llama 3.x frequency-dependent scaling.
    Llama3 {
        /// Overall scaling factor.
        factor: f64,
        /// Wavelengths longer than `original / low_freq_factor` are scaled fully.
        low_freq_factor: f64,
        /// Wavelengths shorter than `original / high_freq_factor` are kept.
        high_freq_factor: f64,
        /// Context length the model was pretrained with.
        original_max_position_embeddings: f64,
    },
}

/// Precomputed cos/sin tables, `[max_positions, head_dim]` in f32.
#[derive(Debug)]
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
}

/// Inverse frequencies for `head_dim`, with the scaling applied (as transformers computes them).
pub(crate) fn inverse_frequencies(head_dim: i64, theta: f64, scaling: &RopeScaling) -> Vec<f32> {
    let base: Vec<f32> = (0..head_dim / 2)
        .map(|i| {
            let exponent = (2 * i) as f32 / head_dim as f32;
            1.0 / (theta as f32).powf(exponent)
        })
        .collect();
    match *scaling {
        RopeScaling::None => base,
        RopeScaling::Linear { factor } => base.iter().map(|f| f / factor as f32).collect(),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        } => {
            let low_wavelen = original_max_position_embeddings / low_freq_factor;
            let high_wavelen = original_max_position_embeddings / high_freq_factor;
            base.iter()
                .map(|&f| {
                    let wavelen = 2.0 * std::f64::consts::PI / f as f64;
                    if wavelen > low_wavelen {
                        f / factor as f32
                    } else if wavelen < high_wavelen {
                        f
                    } else {
                        let smooth = (original_max_position_embeddings / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        ((1.0 - smooth) * f as f64 / factor + smooth * f as f64) as f32
                    }
                })
                .collect()
        }
    }
}

impl Rope {
    /// Builds tables for positions `0..max_positions`.
    pub fn new(
        head_dim: i64,
        theta: f64,
        scaling: &RopeScaling,
        max_positions: i64,
        device: Device,
    ) -> Self {
        let inv = Tensor::from_slice(&inverse_frequencies(head_dim, theta, scaling));
        let pos = Tensor::arange(max_positions, (Kind::Float, Device::Cpu));
        let freqs = pos.unsqueeze(1) * inv.unsqueeze(0);
        let emb = Tensor::cat(&[&freqs, &freqs], 1);
        Self {
            cos: emb.cos().to_device(device),
            sin: emb.sin().to_device(device),
        }
    }

    /// The cos/sin factors for `positions` (`[batch, seq]`), shaped `[batch, 1, seq, head_dim]`
    /// in `kind`; compute once per forward pass and reuse in every layer.
    pub fn factors(&self, positions: &Tensor, kind: Kind) -> (Tensor, Tensor) {
        let (b, t) = positions.size2().expect("positions are [batch, seq]");
        let flat = positions.reshape([-1]);
        let cos = self
            .cos
            .index_select(0, &flat)
            .reshape([b, 1, t, -1])
            .to_kind(kind);
        let sin = self
            .sin
            .index_select(0, &flat)
            .reshape([b, 1, t, -1])
            .to_kind(kind);
        (cos, sin)
    }

    /// Rotates `q` and `k` (`[batch, heads, seq, head_dim]`) by precomputed [`Self::factors`].
    pub fn apply(q: &Tensor, k: &Tensor, (cos, sin): &(Tensor, Tensor)) -> (Tensor, Tensor) {
        (rotate(q, cos, sin), rotate(k, cos, sin))
    }
}

fn rotate(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    let half = x.size()[3] / 2;
    let x1 = x.narrow(3, 0, half);
    let x2 = x.narrow(3, half, half);
    let rotated = Tensor::cat(&[&x2.neg(), &x1], 3);
    x * cos + rotated * sin
}
