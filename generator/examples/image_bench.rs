//! adforge side of the image-engine benchmark (run by scripts/bench-image.sh next to diffusers).
//!
//! `image_bench DIR WIDTH HEIGHT STEPS UNET_REPEATS` loads a diffusers pipeline folder and prints
//! one JSON line: milliseconds per UNet step (batch 2, as under classifier-free guidance), per VAE decode,
//! milliseconds per image (Euler, guidance 7.5) and the process's peak RSS.

use std::path::Path;
use std::time::Instant;

use adforge_generator::image::{DiffusionPipeline, ImageRequest, SchedulerKind};
use tch::{Device, Kind, Tensor};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        return Err("usage: image_bench DIR WIDTH HEIGHT STEPS UNET_REPEATS".into());
    }
    let (width, height): (u32, u32) = (args[2].parse()?, args[3].parse()?);
    let (steps, repeats): (usize, usize) = (args[4].parse()?, args[5].parse()?);
    let device = adforge_generator::device::parse_device(
        &std::env::var("ADFORGE_DEVICE").unwrap_or_else(|_| "cpu".into()),
    )?;
    let pipeline = DiffusionPipeline::load(Path::new(&args[1]), device, Kind::Float)?;
    let _guard = tch::no_grad_guard();
    let unet = pipeline.unet();
    let latents = Tensor::randn(
        [2, 4, i64::from(height / 8), i64::from(width / 8)],
        (Kind::Float, device),
    );
    let dim = match &unet.config().cross_attention_dim {
        adforge_generator::image::config::PerBlock::One(d) => *d,
        adforge_generator::image::config::PerBlock::Many(v) => v[0],
    };
    let context = Tensor::randn([2, 77, dim], (Kind::Float, device));
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let _ = unet.forward(&latents, 500.0, &context, None)?;
    sync();
    let start = Instant::now();
    for _ in 0..repeats {
        let _ = unet.forward(&latents, 500.0, &context, None)?;
    }
    sync();
    let step_ms = start.elapsed().as_secs_f64() / repeats as f64 * 1000.0;
    let small = Tensor::randn(
        [1, 4, i64::from(height / 8), i64::from(width / 8)],
        (Kind::Float, device),
    );
    let _ = pipeline.vae().decode(&small);
    sync();
    let start = Instant::now();
    let _ = pipeline.vae().decode(&small);
    sync();
    let decode_ms = start.elapsed().as_secs_f64() * 1000.0;
    let request = ImageRequest {
        prompt: "a red sneaker".into(),
        steps,
        guidance: 7.5,
        width,
        height,
        scheduler: SchedulerKind::Euler,
        ..ImageRequest::default()
    };
    let start = Instant::now();
    pipeline.generate(&request)?;
    sync();
    let image_ms = start.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{{\"impl\": \"adforge\", \"unet_step_ms\": {step_ms:.3}, \"vae_decode_ms\": {decode_ms:.3}, \"image_ms\": {image_ms:.3}, \"peak_rss_mib\": {:.1}, \"threads\": {}, \"device\": \"{device:?}\"}}",
        peak_rss_mib(),
        tch::get_num_threads()
    );
    Ok(())
}
