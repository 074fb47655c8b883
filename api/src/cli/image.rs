//! `adforge image`: text-to-image, image-to-image or inpainting with a diffusers checkpoint.

use std::path::PathBuf;
use std::str::FromStr;

use adforge_generator::image::mask::{mask_from_image, overlay};
use adforge_generator::image::{DiffusionPipeline, ImageRequest, SchedulerKind};
use anyhow::Context;

/// Arguments of `adforge image`.
#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    /// Folder of a diffusers checkpoint (SD 1.x, 2.x, SD-Turbo, SDXL), or a catalogue name
    /// pulled with `adforge models pull` (`sd-turbo`, `sdxl-turbo`, `sd-1.5`).
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
    /// Start from this image (image-to-image, or the picture to inpaint with `--mask`).
    #[arg(long)]
    pub init_image: Option<PathBuf>,
    /// Inpainting mask (needs `--init-image`): white repaints, black keeps; resized to the
    /// output size. Inpainting checkpoints (9-channel UNet) use it as conditioning, ordinary
    /// ones blend the kept area back at every step; the kept pixels of the init image are
    /// copied into the output (grey mask levels blend).
    #[arg(long, requires = "init_image")]
    pub mask: Option<PathBuf>,
    /// How much of the init image to repaint, above 0 up to 1 (default 0.75, or 1 with
    /// `--mask`: the masked area starts from pure noise).
    #[arg(long)]
    pub strength: Option<f64>,
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
    let strength = args
        .strength
        .unwrap_or(if args.mask.is_some() { 1.0 } else { 0.75 });
    anyhow::ensure!(
        strength > 0.0 && strength <= 1.0,
        "--strength must be above 0 and at most 1"
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
    let mask = match &args.mask {
        Some(path) => Some(mask_from_image(
            &image::open(path).with_context(|| format!("reading {}", path.display()))?,
        )),
        None => None,
    };
    let model = crate::jobs::generation::models::image_model_path(&args.model)?;
    let pipeline = DiffusionPipeline::load(&model, device, kind)
        .with_context(|| format!("loading {}", model.display()))?;
    let request = ImageRequest {
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
        strength,
    };
    let images = match &mask {
        Some(mask) => pipeline.inpaint(&request, mask)?,
        None => pipeline.generate(&request)?,
    };
    let mut first = images
        .into_iter()
        .next()
        .context("the pipeline returned no image")?;
    if let (Some(mask), Some(original)) = (&mask, &request.init_image) {
        // The model only reconstructs the kept area; the user's pixels go back there.
        first = overlay(original, &first, mask);
    }
    first
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("{}", args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ImageArgs,
    }

    fn parse(extra: &[&str]) -> Result<ImageArgs, clap::Error> {
        let base = ["adforge", "--model", "m", "--prompt", "p", "--out", "o.png"];
        Cli::try_parse_from(base.iter().chain(extra)).map(|cli| cli.args)
    }

    #[test]
    fn mask_needs_an_init_image() {
        assert!(parse(&["--mask", "m.png"]).is_err());
        let args = parse(&["--mask", "m.png", "--init-image", "i.png"]).unwrap();
        assert_eq!(args.mask, Some(PathBuf::from("m.png")));
        assert_eq!(args.strength, None);
    }

    #[test]
    fn strength_out_of_range_is_refused_before_loading() {
        let mut args = parse(&["--init-image", "i.png", "--strength", "0"]).unwrap();
        let err = run(args).unwrap_err();
        assert!(err.to_string().contains("--strength"), "{err}");
        args = parse(&["--init-image", "i.png", "--strength", "1.5"]).unwrap();
        assert!(run(args).is_err());
    }

    /// The tiny ordinary checkpoint that `generator/tests/fixtures/make_image_inpaint.py` saves.
    fn fixture() -> Option<PathBuf> {
        let base = std::env::var_os("ADFORGE_FIXTURES")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures"));
        let dir = base.join("image_inpaint");
        if dir.join("manifest.json").is_file() {
            return Some(dir);
        }
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("inpainting fixtures missing in {}", dir.display());
        }
        eprintln!("skipping: no inpainting fixtures in {}", dir.display());
        None
    }

    #[test]
    fn inpainting_writes_the_picture_with_the_kept_pixels_unchanged() {
        let Some(dir) = fixture() else { return };
        let out = tempfile::tempdir().unwrap();
        let (width, height) = (64u32, 48u32);
        let init = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, 120])
        });
        let mask = image::GrayImage::from_fn(width, height, |x, _| {
            image::Luma([if x < 32 { 0 } else { 255 }])
        });
        init.save(out.path().join("init.png")).unwrap();
        mask.save(out.path().join("mask.png")).unwrap();
        let target = out.path().join("painted.png");
        let model = dir.join("inpaint4/pipeline");
        let path = |p: &Path| p.to_str().unwrap().to_string();
        let (model, init_path) = (path(&model), path(&out.path().join("init.png")));
        let (mask_path, target_path) = (path(&out.path().join("mask.png")), path(&target));
        let args = Cli::try_parse_from([
            "adforge",
            "--prompt",
            "a bottle",
            "--model",
            model.as_str(),
            "--init-image",
            init_path.as_str(),
            "--mask",
            mask_path.as_str(),
            "--out",
            target_path.as_str(),
            "--width",
            "64",
            "--height",
            "48",
            "--steps",
            "2",
            "--scheduler",
            "ddim",
        ])
        .unwrap()
        .args;
        run(args).unwrap();
        let painted = image::open(&target).unwrap().to_rgb8();
        assert_eq!(painted.dimensions(), (width, height));
        for y in 0..height {
            for x in 0..32 {
                assert_eq!(
                    painted.get_pixel(x, y),
                    init.get_pixel(x, y),
                    "kept ({x}, {y})"
                );
            }
        }
        let changed = (0..height)
            .flat_map(|y| (32..width).map(move |x| (x, y)))
            .filter(|&(x, y)| painted.get_pixel(x, y) != init.get_pixel(x, y))
            .count();
        assert!(
            changed > 32 * 48 / 2,
            "only {changed} masked pixels repainted"
        );
    }
}
