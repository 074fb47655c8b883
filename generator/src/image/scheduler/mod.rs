//! Noise schedulers, each built from a checkpoint's `scheduler_config.json` as diffusers'
//! `from_config` builds them: DDIM, Euler, Euler ancestral, DPM-Solver++ 2M (optionally with
//! Karras sigmas) and the trailing-spacing ancestral schedule of the Turbo models.

mod ddim;
mod dpm_solver;
mod euler;
mod schedule;

use std::str::FromStr;

use tch::Tensor;

pub use ddim::DdimScheduler;
pub use dpm_solver::DpmSolverMultistepScheduler;
pub use euler::EulerScheduler;

use super::config::SchedulerConfig;
use super::error::{ImageError, Result};
use super::noise::NoiseSource;

/// What the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prediction {
    /// The added noise.
    Epsilon,
    /// The velocity `alpha * noise - sigma * x0` (SD 2.x 768 models).
    VPrediction,
    /// The clean sample itself.
    Sample,
}

impl Prediction {
    fn parse(name: Option<&str>) -> Result<Self> {
        match name.unwrap_or("epsilon") {
            "epsilon" => Ok(Prediction::Epsilon),
            "v_prediction" => Ok(Prediction::VPrediction),
            "sample" | "original_sample" => Ok(Prediction::Sample),
            other => Err(ImageError::Unsupported(format!("prediction type {other}"))),
        }
    }
}

/// The scheduler a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerKind {
    /// The checkpoint's own scheduler class when it is one of the others; DPM++ 2M otherwise.
    Default,
    /// DDIM (deterministic, eta 0).
    Ddim,
    /// Euler.
    Euler,
    /// Euler ancestral.
    EulerAncestral,
    /// DPM-Solver++ 2M.
    DpmPlusPlus2M,
    /// DPM-Solver++ 2M with Karras sigmas.
    DpmPlusPlus2MKarras,
    /// The Turbo models' schedule: Euler ancestral with trailing timestep spacing, meant for
    /// one to four steps without guidance.
    Turbo,
}

impl FromStr for SchedulerKind {
    type Err = ImageError;

    /// Accepts `default`, `ddim`, `euler`, `euler_a`/`euler-ancestral`, `dpm++2m`/`dpmpp-2m`,
    /// `dpm++2m-karras`/`dpmpp-2m-karras` and `turbo` (case and `_`/`-` insensitive).
    fn from_str(name: &str) -> Result<Self> {
        let key: String = name
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect();
        match key.as_str() {
            "" | "default" => Ok(SchedulerKind::Default),
            "ddim" => Ok(SchedulerKind::Ddim),
            "euler" => Ok(SchedulerKind::Euler),
            "eulera" | "eulerancestral" => Ok(SchedulerKind::EulerAncestral),
            "dpm++2m" | "dpmpp2m" | "dpmsolver++" | "dpm2m" => Ok(SchedulerKind::DpmPlusPlus2M),
            "dpm++2mkarras" | "dpmpp2mkarras" | "dpm2mkarras" => Ok(SchedulerKind::DpmPlusPlus2MKarras),
            "turbo" => Ok(SchedulerKind::Turbo),
            _ => Err(ImageError::InvalidRequest(format!(
                "unknown scheduler {name:?}: use default, ddim, euler, euler-ancestral, dpm++2m, dpm++2m-karras or turbo"
            ))),
        }
    }
}

impl SchedulerKind {
    /// Resolves `Default` to the checkpoint's scheduler class.
    pub fn resolve(self, config: &SchedulerConfig) -> SchedulerKind {
        if self != SchedulerKind::Default {
            return self;
        }
        match config.class_name.as_deref() {
            Some("DDIMScheduler") => SchedulerKind::Ddim,
            Some("EulerDiscreteScheduler") => SchedulerKind::Euler,
            Some("EulerAncestralDiscreteScheduler") => SchedulerKind::EulerAncestral,
            Some("DPMSolverMultistepScheduler") if config.use_karras_sigmas == Some(true) => {
                SchedulerKind::DpmPlusPlus2MKarras
            }
            _ => SchedulerKind::DpmPlusPlus2M,
        }
    }
}

/// A scheduler prepared for a number of inference steps.
pub trait Scheduler: Send {
    /// The timesteps to run the model at, first to last.
    fn timesteps(&self) -> &[f64];

    /// Standard deviation of the initial latent noise.
    fn init_noise_sigma(&self) -> f64;

    /// Scales the latents before they enter the model at step `index`.
    fn scale_model_input(&self, sample: &Tensor, index: usize) -> Tensor;

    /// One denoising step from step `index`, returning the less noisy latents.
    fn step(
        &mut self,
        model_output: &Tensor,
        index: usize,
        sample: &Tensor,
        noise: &mut dyn NoiseSource,
    ) -> Result<Tensor>;

    /// Noises clean latents to the level of step `index` (image-to-image).
    fn add_noise(&self, original: &Tensor, noise: &Tensor, index: usize) -> Tensor;
}

/// Builds the scheduler `kind` from the checkpoint's scheduler config for `steps` steps.
pub fn build(
    kind: SchedulerKind,
    config: &SchedulerConfig,
    steps: usize,
) -> Result<Box<dyn Scheduler>> {
    if steps == 0 {
        return Err(ImageError::InvalidRequest(
            "steps must be at least 1".into(),
        ));
    }
    Ok(match kind.resolve(config) {
        SchedulerKind::Ddim => Box::new(DdimScheduler::new(config, steps)?),
        SchedulerKind::Euler => Box::new(EulerScheduler::new(config, steps, false, None)?),
        SchedulerKind::EulerAncestral => Box::new(EulerScheduler::new(config, steps, true, None)?),
        SchedulerKind::Turbo => {
            Box::new(EulerScheduler::new(config, steps, true, Some("trailing"))?)
        }
        SchedulerKind::DpmPlusPlus2M => {
            Box::new(DpmSolverMultistepScheduler::new(config, steps, false)?)
        }
        SchedulerKind::DpmPlusPlus2MKarras => {
            Box::new(DpmSolverMultistepScheduler::new(config, steps, true)?)
        }
        SchedulerKind::Default => unreachable!("resolve never returns Default"),
    })
}
