//! DPM-Solver++ multistep (second order, midpoint), diffusers' `DPMSolverMultistepScheduler`
//! with `algorithm_type = "dpmsolver++"`, optionally on Karras sigmas.

use tch::Tensor;

use super::schedule::{
    alphas_cumprod, interp_index, karras_sigmas, linspace, sigma_to_timestep, training_sigmas,
};
use super::{Prediction, Scheduler};
use crate::image::config::SchedulerConfig;
use crate::image::error::{ImageError, Result};
use crate::image::noise::NoiseSource;

/// DPM-Solver++ 2M.
pub struct DpmSolverMultistepScheduler {
    timesteps: Vec<f64>,
    sigmas: Vec<f64>,
    prediction: Prediction,
    lower_order_final: bool,
    euler_at_final: bool,
    final_sigma_zero: bool,
    solver_order: usize,
    previous: Option<Tensor>,
    lower_order_steps: usize,
}

/// `alpha_t` and `sigma_t` of the variance-preserving process for a VE sigma.
fn alpha_sigma(sigma: f64) -> (f64, f64) {
    let alpha = 1.0 / (sigma * sigma + 1.0).sqrt();
    (alpha, sigma * alpha)
}

/// Half log-SNR `log(alpha_t) - log(sigma_t)`.
fn lambda(sigma: f64) -> f64 {
    let (a, s) = alpha_sigma(sigma);
    a.ln() - s.ln()
}

impl DpmSolverMultistepScheduler {
    /// Prepares `steps` steps; `karras` forces Karras sigmas.
    pub fn new(config: &SchedulerConfig, steps: usize, karras: bool) -> Result<Self> {
        if let Some(kind) = config.algorithm_type.as_deref() {
            if config.class_name.as_deref() == Some("DPMSolverMultistepScheduler")
                && kind != "dpmsolver++"
            {
                return Err(ImageError::Unsupported(format!(
                    "DPM-Solver algorithm {kind}"
                )));
            }
        }
        let solver_order = if config.class_name.as_deref() == Some("DPMSolverMultistepScheduler") {
            config.solver_order.unwrap_or(2)
        } else {
            2
        };
        if solver_order > 2 {
            return Err(ImageError::Unsupported(format!(
                "DPM-Solver order {solver_order}"
            )));
        }
        if matches!(config.solver_type.as_deref(), Some(t) if t != "midpoint")
            && config.class_name.as_deref() == Some("DPMSolverMultistepScheduler")
        {
            return Err(ImageError::Unsupported(
                "DPM-Solver heun solver type".into(),
            ));
        }
        let alphas = alphas_cumprod(config)?;
        let train = alphas.len();
        let spacing = config.timestep_spacing.as_deref().unwrap_or("linspace");
        let mut timesteps: Vec<f64> = match spacing {
            "linspace" => {
                let mut v: Vec<f64> = linspace(0.0, train as f64 - 1.0, steps + 1)
                    .into_iter()
                    .map(f64::round_ties_even)
                    .collect();
                v.reverse();
                v.pop();
                v
            }
            "leading" => {
                let ratio = train / (steps + 1);
                let offset = config.steps_offset.unwrap_or(0) as f64;
                (1..=steps)
                    .rev()
                    .map(|i| (i * ratio) as f64 + offset)
                    .collect()
            }
            "trailing" => {
                let ratio = train as f64 / steps as f64;
                (0..steps)
                    .map(|i| (train as f64 - i as f64 * ratio).round_ties_even() - 1.0)
                    .collect()
            }
            other => return Err(ImageError::Unsupported(format!("timestep spacing {other}"))),
        };
        let base = training_sigmas(&alphas);
        let log_sigmas: Vec<f64> = base.iter().map(|s| s.ln()).collect();
        let mut sigmas: Vec<f64>;
        if karras || config.use_karras_sigmas == Some(true) {
            let sigma_min = config.sigma_min.unwrap_or(base[0]);
            let sigma_max = config.sigma_max.unwrap_or(base[train - 1]);
            sigmas = karras_sigmas(sigma_min, sigma_max, steps);
            timesteps = sigmas
                .iter()
                .map(|&s| sigma_to_timestep(s, &log_sigmas).round_ties_even())
                .collect();
        } else {
            sigmas = timesteps.iter().map(|&t| interp_index(t, &base)).collect();
        }
        let final_type = config.final_sigmas_type.as_deref().unwrap_or("zero");
        let last = match final_type {
            "zero" => 0.0,
            "sigma_min" => base[0],
            other => return Err(ImageError::Unsupported(format!("final sigma type {other}"))),
        };
        sigmas.push(last);
        let sigmas = sigmas.into_iter().map(|s| f64::from(s as f32)).collect();
        Ok(DpmSolverMultistepScheduler {
            timesteps,
            sigmas,
            prediction: Prediction::parse(config.prediction_type.as_deref())?,
            lower_order_final: config.lower_order_final.unwrap_or(true),
            euler_at_final: config.euler_at_final.unwrap_or(false),
            final_sigma_zero: final_type == "zero",
            solver_order,
            previous: None,
            lower_order_steps: 0,
        })
    }

    /// The predicted clean sample (the "data prediction" DPM-Solver++ works with).
    fn data_prediction(&self, model_output: &Tensor, sample: &Tensor, sigma: f64) -> Tensor {
        let (alpha_t, sigma_t) = alpha_sigma(sigma);
        match self.prediction {
            Prediction::Epsilon => (sample - model_output * sigma_t) / alpha_t,
            Prediction::VPrediction => sample * alpha_t - model_output * sigma_t,
            Prediction::Sample => model_output.shallow_clone(),
        }
    }
}

impl Scheduler for DpmSolverMultistepScheduler {
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
        let count = self.timesteps.len();
        let last_step = index + 1 == count;
        let lower_order_final = last_step
            && (self.euler_at_final
                || (self.lower_order_final && count < 15)
                || self.final_sigma_zero);
        let sample = sample.to_kind(tch::Kind::Float);
        let x0 = self.data_prediction(
            &model_output.to_kind(tch::Kind::Float),
            &sample,
            self.sigmas[index],
        );
        let sigma_s0 = self.sigmas[index];
        let sigma_t = self.sigmas[index + 1];
        let (alpha_t, sigma_t_vp) = alpha_sigma(sigma_t);
        let (_, sigma_s0_vp) = alpha_sigma(sigma_s0);
        let h = lambda(sigma_t) - lambda(sigma_s0);
        let expm = (-h).exp() - 1.0;
        let first_order = self.solver_order == 1
            || self.lower_order_steps < 1
            || lower_order_final
            || self.previous.is_none();
        let prev = if first_order {
            &sample * (sigma_t_vp / sigma_s0_vp) - &x0 * (alpha_t * expm)
        } else {
            let previous = self.previous.as_ref().expect("checked above");
            let sigma_s1 = self.sigmas[index - 1];
            let h0 = lambda(sigma_s0) - lambda(sigma_s1);
            let r0 = h0 / h;
            let d1 = (&x0 - previous) * (1.0 / r0);
            &sample * (sigma_t_vp / sigma_s0_vp)
                - &x0 * (alpha_t * expm)
                - d1 * (0.5 * alpha_t * expm)
        };
        self.previous = Some(x0);
        if self.lower_order_steps < self.solver_order {
            self.lower_order_steps += 1;
        }
        Ok(prev)
    }

    fn add_noise(&self, original: &Tensor, noise: &Tensor, index: usize) -> Tensor {
        let (alpha, sigma) = alpha_sigma(self.sigmas[index]);
        original * alpha + noise * sigma
    }
}
