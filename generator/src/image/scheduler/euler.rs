//! The Euler and Euler-ancestral samplers of Karras et al. over the discrete training sigmas
//! (diffusers' `EulerDiscreteScheduler` and `EulerAncestralDiscreteScheduler`).

use tch::Tensor;

use super::schedule::{
    alphas_cumprod, interp_index, karras_sigmas, sigma_to_timestep, spaced_timesteps,
    training_sigmas,
};
use super::{Prediction, Scheduler};
use crate::image::config::SchedulerConfig;
use crate::image::error::{ImageError, Result};
use crate::image::noise::NoiseSource;

/// Euler sampling in sigma space; ancestral when `ancestral` is set (adds fresh noise each step).
pub struct EulerScheduler {
    timesteps: Vec<f64>,
    sigmas: Vec<f64>,
    init_noise_sigma: f64,
    prediction: Prediction,
    ancestral: bool,
}

impl EulerScheduler {
    /// Prepares `steps` steps. `spacing` overrides the config's timestep spacing (the Turbo
    /// schedule forces `trailing`).
    pub fn new(
        config: &SchedulerConfig,
        steps: usize,
        ancestral: bool,
        spacing: Option<&str>,
    ) -> Result<Self> {
        let alphas = alphas_cumprod(config)?;
        let train = alphas.len();
        let spacing = spacing
            .or(config.timestep_spacing.as_deref())
            .unwrap_or("linspace");
        let mut timesteps: Vec<f64> =
            spaced_timesteps(spacing, train, steps, config.steps_offset.unwrap_or(0))?
                .into_iter()
                .map(|t| f64::from(t as f32))
                .collect();
        let base = training_sigmas(&alphas);
        let log_sigmas: Vec<f64> = base.iter().map(|s| s.ln()).collect();
        let mut sigmas: Vec<f64> = match (
            ancestral,
            config.interpolation_type.as_deref().unwrap_or("linear"),
        ) {
            (false, "log_linear") => {
                let (lo, hi) = (base[0].ln(), base[train - 1].ln());
                super::schedule::linspace(hi, lo, steps + 1)
                    .into_iter()
                    .map(f64::exp)
                    .collect()
            }
            (_, "linear") | (true, _) => {
                timesteps.iter().map(|&t| interp_index(t, &base)).collect()
            }
            (_, other) => {
                return Err(ImageError::Unsupported(format!(
                    "sigma interpolation {other}"
                )))
            }
        };
        if !ancestral && config.use_karras_sigmas == Some(true) {
            let sigma_min = config.sigma_min.unwrap_or(sigmas[sigmas.len() - 1]);
            let sigma_max = config.sigma_max.unwrap_or(sigmas[0]);
            sigmas = karras_sigmas(sigma_min, sigma_max, steps);
            timesteps = sigmas
                .iter()
                .map(|&s| f64::from(sigma_to_timestep(s, &log_sigmas) as f32))
                .collect();
        }
        let last = match (
            ancestral,
            config.final_sigmas_type.as_deref().unwrap_or("zero"),
        ) {
            (true, _) | (false, "zero") => 0.0,
            (false, "sigma_min") => base[0],
            (_, other) => return Err(ImageError::Unsupported(format!("final sigma type {other}"))),
        };
        sigmas.push(last);
        let sigmas: Vec<f64> = sigmas.into_iter().map(|s| f64::from(s as f32)).collect();
        let max_sigma = sigmas.iter().cloned().fold(0.0, f64::max);
        let init_noise_sigma = if matches!(spacing, "linspace" | "trailing") {
            max_sigma
        } else {
            (max_sigma * max_sigma + 1.0).sqrt()
        };
        Ok(EulerScheduler {
            timesteps,
            sigmas,
            init_noise_sigma,
            prediction: Prediction::parse(config.prediction_type.as_deref())?,
            ancestral,
        })
    }

    /// The sigmas of the schedule, one more than the timesteps (the last is the final sigma).
    pub fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }
}

impl Scheduler for EulerScheduler {
    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    fn init_noise_sigma(&self) -> f64 {
        self.init_noise_sigma
    }

    fn scale_model_input(&self, sample: &Tensor, index: usize) -> Tensor {
        let sigma = self.sigmas[index];
        sample / (sigma * sigma + 1.0).sqrt()
    }

    fn step(
        &mut self,
        model_output: &Tensor,
        index: usize,
        sample: &Tensor,
        noise: &mut dyn NoiseSource,
    ) -> Result<Tensor> {
        let sigma = self.sigmas[index];
        let sigma_next = self.sigmas[index + 1];
        let sample = sample.to_kind(tch::Kind::Float);
        let model_output = model_output.to_kind(tch::Kind::Float);
        let denoised = match self.prediction {
            Prediction::Epsilon => &sample - &model_output * sigma,
            Prediction::VPrediction => {
                &model_output * (-sigma / (sigma * sigma + 1.0).sqrt())
                    + &sample / (sigma * sigma + 1.0)
            }
            Prediction::Sample => model_output.shallow_clone(),
        };
        let derivative = (&sample - &denoised) / sigma;
        if !self.ancestral {
            return Ok(&sample + derivative * (sigma_next - sigma));
        }
        let sigma_up = (sigma_next * sigma_next * (sigma * sigma - sigma_next * sigma_next)
            / (sigma * sigma))
            .sqrt();
        let sigma_down = (sigma_next * sigma_next - sigma_up * sigma_up).sqrt();
        let prev = &sample + derivative * (sigma_down - sigma);
        let fresh = noise.randn(&model_output.size(), model_output.device())?;
        Ok(prev + fresh * sigma_up)
    }

    fn add_noise(&self, original: &Tensor, noise: &Tensor, index: usize) -> Tensor {
        original + noise * self.sigmas[index]
    }
}
