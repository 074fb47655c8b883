//! Where the pipeline's random numbers come from: a seeded libtorch generator for normal use, or
//! a recorded list of tensors so that a run can replay another implementation's noise exactly.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tch::{Device, Kind, Tensor};

use super::error::{ImageError, Result};

/// A source of standard-normal noise tensors.
pub trait NoiseSource {
    /// A tensor of shape `shape` drawn from N(0, 1), as f32 on `device`.
    fn randn(&mut self, shape: &[i64], device: Device) -> Result<Tensor>;
}

/// Seeded noise from a private generator (ChaCha via `rand::rngs::StdRng`, normal variates by
/// the Box-Muller transform): the same seed gives the same noise on every device and thread,
/// independently of libtorch's global generator.
pub struct SeededNoise {
    rng: StdRng,
}

impl SeededNoise {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SeededNoise {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn normal_pair(&mut self) -> (f32, f32) {
        // 1 - U maps [0, 1) to (0, 1], keeping the logarithm finite.
        let u1: f64 = 1.0 - self.rng.gen::<f64>();
        let u2: f64 = self.rng.gen::<f64>();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        ((radius * angle.cos()) as f32, (radius * angle.sin()) as f32)
    }
}

impl NoiseSource for SeededNoise {
    fn randn(&mut self, shape: &[i64], device: Device) -> Result<Tensor> {
        let count: i64 = shape.iter().product();
        let mut values = Vec::with_capacity(count as usize + 1);
        while (values.len() as i64) < count {
            let (a, b) = self.normal_pair();
            values.push(a);
            values.push(b);
        }
        values.truncate(count as usize);
        Ok(Tensor::from_slice(&values).view(shape).to_device(device))
    }
}

/// Replays given tensors in order; fails when one is missing or has the wrong shape.
pub struct ReplayNoise {
    queue: VecDeque<Tensor>,
}

impl ReplayNoise {
    /// A source that returns `tensors` one after another.
    pub fn new(tensors: Vec<Tensor>) -> Self {
        ReplayNoise {
            queue: tensors.into(),
        }
    }
}

impl NoiseSource for ReplayNoise {
    fn randn(&mut self, shape: &[i64], device: Device) -> Result<Tensor> {
        let next = self
            .queue
            .pop_front()
            .ok_or_else(|| ImageError::InvalidRequest("replayed noise exhausted".into()))?;
        if next.size() != shape {
            return Err(ImageError::InvalidRequest(format!(
                "replayed noise has shape {:?}, wanted {shape:?}",
                next.size()
            )));
        }
        Ok(next.to_kind(Kind::Float).to_device(device))
    }
}
