//! `adforge image`: text-to-image or image-to-image with a diffusers checkpoint.

use std::path::PathBuf;
use std::str::FromStr;

use adforge_generator::image::{DiffusionPipeline, ImageRequest, SchedulerKind};
use anyhow::Context;

/// Arguments of `adforge image`.
#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    /// Folder of a diffusers checkpoint (SD 1.x, 2.x, SD-Turbo, SDXL).
    #[arg(long)]
    pub model: PathBuf,
    /// What to draw.
    #[arg(long)]
    pub prompt: String,
    /// What to avoid.
    #[arg(long, default_value = "")]
    pub negative: String,
    /// Denoising steps.
    #[arg(long, default_value_t = 25)]
    pub steps: usize,
    /// Classifier-free guidance scale (1 or less disables it).
    #[arg(long, default_value_t = 7.5)]
    pub guidance: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Width in pixels, a multiple of 8.
    #[arg(long, default_value_t = 512)]
    pub width: u32,
    /// Height in pixels, a multiple of 8.
    #[arg(long, default_value_t = 512)]
    pub height: u32,
    /// Scheduler: default, ddim, euler, euler-ancestral, dpm++2m, dpm++2m-karras, turbo.
    #[arg(long, default_value = "default")]
    pub scheduler: String,
    /// Start from this image (image-to-image).
    #[arg(long)]
    pub init_image: Option<PathBuf>,
    /// How much of the init image to repaint, 0 to 1.
    #[arg(long, default_value_t = 0.75)]
    pub strength: f64,
    /// Output file (PNG or JPEG by extension).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `adforge image`.
pub fn run(args: ImageArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.width.is_multiple_of(8) && args.height.is_multiple_of(8),
        "--width and --height must be multiples of 8"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.strength),
        "--strength must be between 0 and 1"
    );
    let device = adforge_generator::device::parse_device(
        &std::env::var("ADFORGE_DEVICE").unwrap_or_else(|_| "cpu".into()),
    )?;
    let kind = adforge_generator::device::parse_dtype(
        &std::env::var("ADFORGE_DTYPE").unwrap_or_else(|_| "f32".into()),
    )?;
    let scheduler = SchedulerKind::from_str(&args.scheduler)?;
    let init_image = match &args.init_image {
        Some(path) => Some(
            image::open(path)
                .with_context(|| format!("reading {}", path.display()))?
                .to_rgb8(),
        ),
        None => None,
    };
    let pipeline = DiffusionPipeline::load(&args.model, device, kind)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let images = pipeline.generate(&ImageRequest {
        prompt: args.prompt,
        negative: args.negative,
        steps: args.steps,
        guidance: args.guidance,
        seed: args.seed,
        width: args.width as _,
        height: args.height as _,
        scheduler,
        num_images: 1,
        init_image,
        strength: args.strength,
    })?;
    let first = images
        .into_iter()
        .next()
        .context("the pipeline returned no image")?;
    first
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("{}", args.out.display());
    Ok(())
}
