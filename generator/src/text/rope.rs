//! Rotary position embeddings in the Hugging Face "rotate half" layout, with the checkpoint's
//! base frequency and scaling, over all of a head or (Phi-3 with `partial_rotary_factor`) its
//! first `rotary_dim` channels.

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
    /// Each frequency divided by its own factor: how llama.cpp's GGUF files store Llama 3.x
    /// scaling (the `rope_freqs.weight` tensor), computed from the same rule as [`Self::Llama3`].
    Divisors {
        /// One divisor per rotated pair.
        factors: Vec<f64>,
    },
    /// YaRN (Qwen2.5 / Qwen3 long-context settings): low frequencies interpolated by `factor`,
    /// high ones kept, a linear ramp between, and cos/sin multiplied by `attention_factor`.
    Yarn {
        /// Interpolation factor.
        factor: f64,
        /// Context length the model was pretrained with.
        original_max_position_embeddings: f64,
        /// Rotations that bound the kept (extrapolated) frequencies.
        beta_fast: f64,
        /// Rotations that bound the interpolated frequencies.
        beta_slow: f64,
        /// Whether the ramp bounds are rounded outwards to whole channels.
        truncate: bool,
        /// Multiplier of cos and sin (resolved from `factor` / `mscale` when the config omits it).
        attention_factor: f64,
    },
    /// LongRoPE (Phi-3 128k, Phi-3.5, Phi-4-mini): every frequency divided by its own factor,
    /// `short_factor` while the sequence fits in `original_max_position_embeddings` and
    /// `long_factor` beyond, and cos/sin multiplied by `attention_factor`.
    LongRope {
        /// Per-frequency divisors for sequences up to the original length.
        short_factor: Vec<f64>,
        /// Per-frequency divisors for longer sequences.
        long_factor: Vec<f64>,
        /// Context length the model was pretrained with: the switch point.
        original_max_position_embeddings: i64,
        /// Multiplier of cos and sin (resolved as transformers does when the config omits it).
        attention_factor: f64,
    },
}

impl RopeScaling {
    /// The multiplier transformers applies to cos and sin (1 except for YaRN and LongRoPE).
    pub fn attention_factor(&self) -> f64 {
        match self {
            Self::Yarn {
                attention_factor, ..
            }
            | Self::LongRope {
                attention_factor, ..
            } => *attention_factor,
            _ => 1.0,
        }
    }

    /// LongRoPE's default attention factor: `sqrt(1 + ln(factor) / ln(original))`, 1 when the
    /// factor does not extend the context.
    pub fn longrope_attention_factor(factor: f64, original_max_position_embeddings: f64) -> f64 {
        if factor <= 1.0 {
            1.0
        } else {
            (1.0 + factor.ln() / original_max_position_embeddings.ln()).sqrt()
        }
    }

    /// YaRN's default attention factor: `mscale(factor, mscale) / mscale(factor, mscale_all_dim)`
    /// when both are given, else `0.1 ln(factor) + 1`.
    pub fn yarn_attention_factor(
        factor: f64,
        mscale: Option<f64>,
        mscale_all_dim: Option<f64>,
    ) -> f64 {
        let get = |scale: f64, m: f64| {
            if scale <= 1.0 {
                1.0
            } else {
                0.1 * m * scale.ln() + 1.0
            }
        };
        match (mscale, mscale_all_dim) {
            (Some(m), Some(all)) if m != 0.0 && all != 0.0 => get(factor, m) / get(factor, all),
            _ => get(factor, 1.0),
        }
    }
}

/// Inverse frequencies for a rotary width `dim` (the head width, or its rotated part), with the
/// scaling applied as transformers computes them in f32. LongRoPE gives its short-sequence set
/// here; see [`long_inverse_frequencies`].
pub(crate) fn inverse_frequencies(dim: i64, theta: f64, scaling: &RopeScaling) -> Vec<f32> {
    let powers = theta_powers(dim, theta);
    let base: Vec<f32> = powers.iter().map(|w| 1.0 / w).collect();
    match scaling {
        RopeScaling::None => base,
        RopeScaling::Linear { factor } => base.iter().map(|f| f / *factor as f32).collect(),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        } => {
            let (factor, low, high, original) = (
                *factor,
                *low_freq_factor,
                *high_freq_factor,
                *original_max_position_embeddings,
            );
            let low_wavelen = original / low;
            let high_wavelen = original / high;
            base.iter()
                .map(|&f| {
                    let wavelen = 2.0 * std::f64::consts::PI / f as f64;
                    if wavelen > low_wavelen {
                        f / factor as f32
                    } else if wavelen < high_wavelen {
                        f
                    } else {
                        let smooth = (original / wavelen - low) / (high - low);
                        ((1.0 - smooth) * f as f64 / factor + smooth * f as f64) as f32
                    }
                })
                .collect()
        }
        RopeScaling::Yarn {
            factor,
            original_max_position_embeddings,
            beta_fast,
            beta_slow,
            truncate,
            ..
        } => {
            // The channel whose wavelength completes `rotations` turns over the original context.
            let correction_dim = |rotations: f64| {
                dim as f64
                    * (original_max_position_embeddings / (rotations * 2.0 * std::f64::consts::PI))
                        .ln()
                    / (2.0 * theta.ln())
            };
            let (mut low, mut high) = (correction_dim(*beta_fast), correction_dim(*beta_slow));
            if *truncate {
                low = low.floor();
                high = high.ceil();
            }
            let low = low.max(0.0);
            let mut high = high.min((dim - 1) as f64);
            if low == high {
                high += 0.001;
            }
            base.iter()
                .enumerate()
                .zip(&powers)
                .map(|((i, &f), &w)| {
                    let ramp =
                        ((i as f32 - low as f32) / (high as f32 - low as f32)).clamp(0.0, 1.0);
                    let extrapolation = 1.0 - ramp;
                    let interpolated = 1.0 / (*factor as f32 * w);
                    interpolated * (1.0 - extrapolation) + f * extrapolation
                })
                .collect()
        }
        RopeScaling::Divisors { factors } => divide(&powers, factors),
        RopeScaling::LongRope { short_factor, .. } => divide(&powers, short_factor),
    }
}

/// `theta^(2i/dim)` for each rotated pair, in f32 as transformers computes it.
fn theta_powers(dim: i64, theta: f64) -> Vec<f32> {
    (0..dim / 2)
        .map(|i| (theta as f32).powf((2 * i) as f32 / dim as f32))
        .collect()
}

/// LongRoPE's inverse frequencies for sequences longer than the original context (`None` for
/// the other scalings, whose frequencies do not depend on the length).
pub(crate) fn long_inverse_frequencies(
    dim: i64,
    theta: f64,
    scaling: &RopeScaling,
) -> Option<Vec<f32>> {
    let RopeScaling::LongRope { long_factor, .. } = scaling else {
        return None;
    };
    Some(divide(&theta_powers(dim, theta), long_factor))
}

/// `1 / (factor * theta^(2i/dim))` as transformers computes it: the product in f32.
fn divide(powers: &[f32], factors: &[f64]) -> Vec<f32> {
    powers
        .iter()
        .zip(factors)
        .map(|(&w, &factor)| 1.0 / (factor as f32 * w))
        .collect()
}

/// Cos/sin tables `[max_positions, rotary_dim]` in f32, scaled by the attention factor.
#[derive(Debug)]
struct Tables {
    cos: Tensor,
    sin: Tensor,
}

impl Tables {
    fn new(inv: &[f32], attention_factor: f64, max_positions: i64, device: Device) -> Self {
        let inv = Tensor::from_slice(inv);
        let pos = Tensor::arange(max_positions, (Kind::Float, Device::Cpu));
        let freqs = pos.unsqueeze(1) * inv.unsqueeze(0);
        let emb = Tensor::cat(&[&freqs, &freqs], 1);
        let (cos, sin) = if attention_factor == 1.0 {
            (emb.cos(), emb.sin())
        } else {
            (emb.cos() * attention_factor, emb.sin() * attention_factor)
        };
        Self {
            cos: cos.to_device(device),
            sin: sin.to_device(device),
        }
    }
}

/// Precomputed cos/sin tables for every position the model supports.
#[derive(Debug)]
pub struct Rope {
    short: Tables,
    /// LongRoPE: the long-sequence tables and the original context length; a forward pass whose
    /// furthest position is at or past that length uses them (as transformers does, per call).
    long: Option<(Tables, i64)>,
    rotary_dim: i64,
}

/// The cos/sin factors of one forward pass, from [`Rope::factors`].
pub struct RopeFactors {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    /// Builds tables for positions `0..max_positions`, rotating the first `rotary_dim` channels
    /// of each head (the whole head unless the config says `partial_rotary_factor`).
    pub fn new(
        rotary_dim: i64,
        theta: f64,
        scaling: &RopeScaling,
        max_positions: i64,
        device: Device,
    ) -> Self {
        let factor = scaling.attention_factor();
        let short = Tables::new(
            &inverse_frequencies(rotary_dim, theta, scaling),
            factor,
            max_positions,
            device,
        );
        let long = long_inverse_frequencies(rotary_dim, theta, scaling).map(|inv| {
            let original = match scaling {
                RopeScaling::LongRope {
                    original_max_position_embeddings,
                    ..
                } => *original_max_position_embeddings,
                _ => max_positions,
            };
            (Tables::new(&inv, factor, max_positions, device), original)
        });
        Self {
            short,
            long,
            rotary_dim,
        }
    }

    /// The cos/sin factors for `positions` (`[batch, seq]`), shaped `[batch, 1, seq, rotary_dim]`
    /// in `kind`; compute once per forward pass and reuse in every layer.
    pub fn factors(&self, positions: &Tensor, kind: Kind) -> RopeFactors {
        let (b, t) = positions.size2().expect("positions are [batch, seq]");
        let tables = match &self.long {
            Some((long, original)) if positions.numel() > 0 => {
                let furthest = positions.max().int64_value(&[]);
                if furthest + 1 > *original {
                    long
                } else {
                    &self.short
                }
            }
            _ => &self.short,
        };
        let flat = positions.reshape([-1]);
        let pick = |table: &Tensor| {
            table
                .index_select(0, &flat)
                .reshape([b, 1, t, -1])
                .to_kind(kind)
        };
        RopeFactors {
            cos: pick(&tables.cos),
            sin: pick(&tables.sin),
        }
    }

    /// Rotates `q` and `k` (`[batch, heads, seq, head_dim]`) by precomputed [`Self::factors`].
    pub fn apply(&self, q: &Tensor, k: &Tensor, factors: &RopeFactors) -> (Tensor, Tensor) {
        (self.rotate(q, factors), self.rotate(k, factors))
    }

    fn rotate(&self, x: &Tensor, RopeFactors { cos, sin }: &RopeFactors) -> Tensor {
        let head_dim = x.size()[3];
        if self.rotary_dim == head_dim {
            return rotate_half(x, cos, sin);
        }
        let rotated = rotate_half(&x.narrow(3, 0, self.rotary_dim), cos, sin);
        let kept = x.narrow(3, self.rotary_dim, head_dim - self.rotary_dim);
        Tensor::cat(&[&rotated, &kept], 3)
    }
}

fn rotate_half(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    let half = x.size()[3] / 2;
    let x1 = x.narrow(3, 0, half);
    let x2 = x.narrow(3, half, half);
    let rotated = Tensor::cat(&[&x2.neg(), &x1], 3);
    x * cos + rotated * sin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longrope_attention_factor_follows_the_phi3_rule() {
        // Phi-3.5-mini: 131072 positions over an original 4096, no explicit factor.
        let f = RopeScaling::longrope_attention_factor(131_072.0 / 4096.0, 4096.0);
        assert!((f - (1.0 + 32f64.ln() / 4096f64.ln()).sqrt()).abs() < 1e-12);
        assert_eq!(RopeScaling::longrope_attention_factor(1.0, 4096.0), 1.0);
    }

    #[test]
    fn longrope_switches_to_long_factors_past_the_original_length() {
        let scaling = RopeScaling::LongRope {
            short_factor: vec![1.0, 2.0],
            long_factor: vec![4.0, 8.0],
            original_max_position_embeddings: 4,
            attention_factor: 1.5,
        };
        let rope = Rope::new(4, 100.0, &scaling, 8, Device::Cpu);
        let at = |positions: &[i64]| {
            let p = Tensor::from_slice(positions).reshape([1, -1]);
            rope.factors(&p, Kind::Float)
        };
        // Position 3 alone fits in the original length: short factors.
        let short = at(&[3]);
        let long = at(&[4]);
        let expect_cos = |pos: f64, factor: f64, inv: f64| (pos * inv / factor).cos() * 1.5;
        let c = short.cos.reshape([-1]).double_value(&[0]);
        assert!((c - expect_cos(3.0, 1.0, 1.0)).abs() < 1e-5);
        let c = long.cos.reshape([-1]).double_value(&[0]);
        assert!((c - expect_cos(4.0, 4.0, 1.0)).abs() < 1e-5);
        // A pass whose furthest position crosses uses the long set for every position.
        let both = at(&[0, 1, 2, 3, 4]);
        let c = both.cos.reshape([5, 4]).double_value(&[3, 1]);
        assert!((c - expect_cos(3.0, 8.0, 0.1)).abs() < 1e-5);
    }
}

#[cfg(test)]
mod transformers_values {
    use super::*;

    #[test]
    fn yarn_frequencies_match_transformers() {
        // transformers' `_compute_yarn_parameters` for head_dim 16, theta 1e6, factor 4 over an
        // original 64 positions.
        let expected = [
            1.0,
            0.111_142_46,
            0.007_905_695,
            0.001_405_853_3,
            0.000_25,
            4.445_698_5e-5,
            7.905_694e-6,
            1.405_853_4e-6,
        ];
        let scaling = RopeScaling::Yarn {
            factor: 4.0,
            original_max_position_embeddings: 64.0,
            beta_fast: 32.0,
            beta_slow: 1.0,
            truncate: true,
            attention_factor: RopeScaling::yarn_attention_factor(4.0, None, None),
        };
        let inv = inverse_frequencies(16, 1_000_000.0, &scaling);
        for (got, want) in inv.iter().zip(expected) {
            assert!((got - want).abs() / want < 1e-6, "{inv:?}");
        }
        assert!((scaling.attention_factor() - 1.138_629_436_111_989).abs() < 1e-12);
    }
}
