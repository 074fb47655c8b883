//! Where the pipeline's random numbers come from: a seeded libtorch generator for normal use, or
//! a recorded list of tensors so that a run can replay another implementation's noise exactly.

use std::collections::VecDeque;

use tch::{Device, Kind, Tensor};

use super::error::{ImageError, Result};

/// A source of standard-normal noise tensors.
pub trait NoiseSource {
    /// A tensor of shape `shape` drawn from N(0, 1), as f32 on `device`.
    fn randn(&mut self, shape: &[i64], device: Device) -> Result<Tensor>;
}

/// Noise from libtorch's generator, seeded once: the same seed on the same device gives the same
/// images. The noise is drawn on the CPU so that a seed gives the same noise on every device.
pub struct SeededNoise {
    started: bool,
    seed: u64,
}

impl SeededNoise {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SeededNoise {
            started: false,
            seed,
        }
    }
}

impl NoiseSource for SeededNoise {
    fn randn(&mut self, shape: &[i64], device: Device) -> Result<Tensor> {
        if !self.started {
            tch::manual_seed(self.seed as i64);
            self.started = true;
        }
        Ok(Tensor::randn(shape, (Kind::Float, Device::Cpu)).to_device(device))
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
