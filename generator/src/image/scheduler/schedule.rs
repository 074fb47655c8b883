//! The training noise schedule shared by all schedulers (betas and cumulative alpha products)
//! and the sigma-space helpers of the Karras-style schedulers.

use crate::image::config::SchedulerConfig;
use crate::image::error::{ImageError, Result};

/// Cumulative products of `1 - beta` over the training timesteps, computed in f32 as diffusers
/// computes them.
pub(crate) fn alphas_cumprod(config: &SchedulerConfig) -> Result<Vec<f32>> {
    if config.rescale_betas_zero_snr == Some(true) {
        return Err(ImageError::Unsupported("rescale_betas_zero_snr".into()));
    }
    let steps = config.num_train_timesteps.unwrap_or(1000);
    let start = config.beta_start.unwrap_or(0.0001);
    let end = config.beta_end.unwrap_or(0.02);
    let betas: Vec<f32> = if let Some(trained) = &config.trained_betas {
        trained.iter().map(|&b| b as f32).collect()
    } else {
        match config.beta_schedule.as_deref().unwrap_or("linear") {
            "linear" => linspace_f32(start as f32, end as f32, steps),
            "scaled_linear" => linspace_f32((start as f32).sqrt(), (end as f32).sqrt(), steps)
                .into_iter()
                .map(|b| b * b)
                .collect(),
            "squaredcos_cap_v2" => {
                let alpha_bar = |t: f64| {
                    ((t + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
                        .cos()
                        .powi(2)
                };
                (0..steps)
                    .map(|i| {
                        let t1 = i as f64 / steps as f64;
                        let t2 = (i + 1) as f64 / steps as f64;
                        (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(0.999) as f32
                    })
                    .collect()
            }
            other => return Err(ImageError::Unsupported(format!("beta schedule {other}"))),
        }
    };
    let mut product = 1.0f32;
    Ok(betas
        .iter()
        .map(|b| {
            product *= 1.0 - b;
            product
        })
        .collect())
}

/// `torch.linspace` in f32: `start + i * step` for the first half and `end - (n-1-i) * step` for
/// the second, which is how libtorch fills it.
fn linspace_f32(start: f32, end: f32, n: usize) -> Vec<f32> {
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            if i < half {
                start + step * i as f32
            } else {
                end - step * (n - 1 - i) as f32
            }
        })
        .collect()
}

/// `numpy.linspace` in f64.
pub(crate) fn linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f64;
    (0..n)
        .map(|i| {
            if i + 1 == n {
                end
            } else {
                start + step * i as f64
            }
        })
        .collect()
}

/// Sigmas of the training schedule, `sqrt((1 - a) / a)` in f32 as diffusers computes them.
pub(crate) fn training_sigmas(alphas_cumprod: &[f32]) -> Vec<f64> {
    alphas_cumprod
        .iter()
        .map(|&a| f64::from(((1.0 - a) / a).sqrt()))
        .collect()
}

/// `numpy.interp(x, arange(len(values)), values)`.
pub(crate) fn interp_index(x: f64, values: &[f64]) -> f64 {
    let last = values.len() - 1;
    if x <= 0.0 {
        return values[0];
    }
    if x >= last as f64 {
        return values[last];
    }
    let low = x.floor() as usize;
    let frac = x - low as f64;
    values[low] + (values[low + 1] - values[low]) * frac
}

/// Karras et al. (2022) sigmas: `steps` values from `sigma_max` to `sigma_min` evenly spaced in
/// `sigma^(1/7)`.
pub(crate) fn karras_sigmas(sigma_min: f64, sigma_max: f64, steps: usize) -> Vec<f64> {
    let rho = 7.0;
    let min_inv = sigma_min.powf(1.0 / rho);
    let max_inv = sigma_max.powf(1.0 / rho);
    linspace(0.0, 1.0, steps)
        .into_iter()
        .map(|r| (max_inv + r * (min_inv - max_inv)).powf(rho))
        .collect()
}

/// The (fractional) training timestep whose sigma is `sigma`, interpolating in log-sigma.
pub(crate) fn sigma_to_timestep(sigma: f64, log_sigmas: &[f64]) -> f64 {
    let log_sigma = sigma.max(1e-10).ln();
    // numpy: cumsum(dists >= 0).argmax() is the last index where the running count peaks.
    let mut count = 0;
    let mut low = 0;
    let mut best = 0;
    for (i, &l) in log_sigmas.iter().enumerate() {
        if log_sigma - l >= 0.0 {
            count += 1;
        }
        if count > best {
            best = count;
            low = i;
        }
    }
    let low = low.min(log_sigmas.len() - 2);
    let high = low + 1;
    let (l, h) = (log_sigmas[low], log_sigmas[high]);
    let w = ((l - log_sigma) / (l - h)).clamp(0.0, 1.0);
    (1.0 - w) * low as f64 + w * high as f64
}

/// Training timesteps for `steps` inference steps with diffusers' spacing names, as f64 (before
/// any rounding the caller applies). `leading` uses `steps_offset`.
pub(crate) fn spaced_timesteps(
    spacing: &str,
    train_steps: usize,
    steps: usize,
    offset: i64,
) -> Result<Vec<f64>> {
    let t = train_steps as f64;
    match spacing {
        "linspace" => Ok(linspace(0.0, t - 1.0, steps)
            .into_iter()
            .rev()
            .map(|v| f64::from(v as f32))
            .collect()),
        "leading" => {
            let ratio = train_steps / steps;
            Ok((0..steps)
                .rev()
                .map(|i| (i * ratio) as f64 + offset as f64)
                .collect())
        }
        "trailing" => {
            let ratio = t / steps as f64;
            let count = ((t / ratio).ceil() as usize).min(steps);
            Ok((0..count)
                .map(|i| (t - i as f64 * ratio).round_ties_even() - 1.0)
                .collect())
        }
        other => Err(ImageError::Unsupported(format!("timestep spacing {other}"))),
    }
}
