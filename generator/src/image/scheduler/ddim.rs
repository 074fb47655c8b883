//! Deterministic DDIM sampling (eta = 0), diffusers' `DDIMScheduler`.

use tch::Tensor;

use super::schedule::{alphas_cumprod, spaced_timesteps};
use super::{Prediction, Scheduler};
use crate::image::config::SchedulerConfig;
use crate::image::error::Result;
use crate::image::noise::NoiseSource;

/// DDIM over `alphas_cumprod`.
pub struct DdimScheduler {
    timesteps: Vec<f64>,
    alphas_cumprod: Vec<f32>,
    final_alpha_cumprod: f64,
    step_ratio: usize,
    prediction: Prediction,
    clip_sample: Option<f64>,
}

impl DdimScheduler {
    /// Prepares `steps` steps; the spacing defaults to `leading` as in diffusers.
    pub fn new(config: &SchedulerConfig, steps: usize) -> Result<Self> {
        let alphas_cumprod = alphas_cumprod(config)?;
        let train = alphas_cumprod.len();
        let spacing = config.timestep_spacing.as_deref().unwrap_or("leading");
        let timesteps: Vec<f64> =
            spaced_timesteps(spacing, train, steps, config.steps_offset.unwrap_or(0))?
                .into_iter()
                .map(|t| t.round_ties_even())
                .collect();
        let final_alpha_cumprod = if config.set_alpha_to_one.unwrap_or(true) {
            1.0
        } else {
            f64::from(alphas_cumprod[0])
        };
        let clip_sample = if config.clip_sample.unwrap_or(true) {
            Some(config.clip_sample_range.unwrap_or(1.0))
        } else {
            None
        };
        Ok(DdimScheduler {
            timesteps,
            alphas_cumprod,
            final_alpha_cumprod,
            step_ratio: train / steps,
            prediction: Prediction::parse(config.prediction_type.as_deref())?,
            clip_sample,
        })
    }

    fn alpha_at(&self, t: i64) -> f64 {
        if t >= 0 {
            f64::from(self.alphas_cumprod[t as usize])
        } else {
            self.final_alpha_cumprod
        }
    }
}

impl Scheduler for DdimScheduler {
    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    fn init_noise_sigma(&self) -> f64 {
        1.0
    }

    fn scale_model_input(&self, sample: &Tensor, _index: usize) -> Tensor {
        sample.shallow_clone()
    }

    fn step(
        &mut self,
        model_output: &Tensor,
        index: usize,
        sample: &Tensor,
        _noise: &mut dyn NoiseSource,
    ) -> Result<Tensor> {
        let t = self.timesteps[index] as i64;
        let prev_t = t - self.step_ratio as i64;
        let alpha = self.alpha_at(t);
        let alpha_prev = self.alpha_at(prev_t);
        let beta = 1.0 - alpha;
        let sample = sample.to_kind(tch::Kind::Float);
        let model_output = model_output.to_kind(tch::Kind::Float);
        let (mut x0, eps) = match self.prediction {
            Prediction::Epsilon => (
                (&sample - &model_output * beta.sqrt()) / alpha.sqrt(),
                model_output.shallow_clone(),
            ),
            Prediction::VPrediction => (
                &sample * alpha.sqrt() - &model_output * beta.sqrt(),
                &model_output * alpha.sqrt() + &sample * beta.sqrt(),
            ),
            Prediction::Sample => {
                let eps = (&sample - &model_output * alpha.sqrt()) / beta.sqrt();
                (model_output.shallow_clone(), eps)
            }
        };
        if let Some(range) = self.clip_sample {
            x0 = x0.clamp(-range, range);
        }
        Ok(x0 * alpha_prev.sqrt() + eps * (1.0 - alpha_prev).sqrt())
    }

    fn add_noise(&self, original: &Tensor, noise: &Tensor, index: usize) -> Tensor {
        let alpha = self.alpha_at(self.timesteps[index] as i64);
        original * alpha.sqrt() + noise * (1.0 - alpha).sqrt()
    }
}
