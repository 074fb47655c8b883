//! `adforge compose`: finished creatives at ad sizes from copy, logo and background.

use std::path::PathBuf;

use adforge_generator::compose::{
    self, AdSize, Background, BrandStyle, CreativeCopy, OutputFormat, Rgb,
};
use anyhow::Context;

/// Arguments of `adforge compose`.
#[derive(clap::Args, Debug)]
pub struct ComposeArgs {
    /// Headline.
    #[arg(long)]
    pub headline: String,
    /// Body text.
    #[arg(long, default_value = "")]
    pub body: String,
    /// Call to action.
    #[arg(long, default_value = "")]
    pub cta: String,
    /// Legal text shown on every size.
    #[arg(long)]
    pub disclaimer: Option<String>,
    /// Logo image.
    #[arg(long)]
    pub logo: Option<PathBuf>,
    /// Background image (smart-cropped to each size); a designed background otherwise.
    #[arg(long)]
    pub background: Option<PathBuf>,
    /// Product photo set into a designed background.
    #[arg(long, conflicts_with = "background")]
    pub product_photo: Option<PathBuf>,
    /// Brand colour as #RRGGBB; repeat for several.
    #[arg(long = "brand-color")]
    pub brand_colors: Vec<String>,
    /// Size as WIDTHxHEIGHT; repeat for several; `all` for every preset size.
    #[arg(long = "size", required = true)]
    pub sizes: Vec<String>,
    /// png, jpg or webp.
    #[arg(long, default_value = "png")]
    pub format: String,
    /// Also write a contact sheet of all sizes (contact-sheet.png).
    #[arg(long)]
    pub contact_sheet: bool,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
}

fn read_image(path: &PathBuf) -> anyhow::Result<image::RgbaImage> {
    Ok(image::open(path)
        .with_context(|| format!("reading {}", path.display()))?
        .to_rgba8())
}

/// Runs `adforge compose`; a size whose copy cannot fit is reported and the others still render.
pub fn run(args: ComposeArgs) -> anyhow::Result<()> {
    let colors = args
        .brand_colors
        .iter()
        .map(|c| Rgb::parse_hex(c).with_context(|| format!("--brand-color {c:?} is not #RRGGBB")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let style = BrandStyle::with_colors(colors);
    let mut copy = CreativeCopy::new(&args.headline, &args.body, &args.cta);
    if let Some(disclaimer) = &args.disclaimer {
        copy = copy.with_disclaimer(disclaimer);
    }
    let logo = args.logo.as_ref().map(read_image).transpose()?;
    let background = match (&args.background, &args.product_photo) {
        (Some(path), _) => Background::Image(read_image(path)?),
        (None, Some(path)) => Background::ProductPhoto(read_image(path)?),
        (None, None) => Background::Designed,
    };
    let format: OutputFormat = args
        .format
        .parse()
        .map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    let mut sizes: Vec<AdSize> = Vec::new();
    for size in &args.sizes {
        if size == "all" {
            sizes.extend(compose::PRESET_SIZES.iter().map(|p| p.size));
        } else {
            sizes.push(
                size.parse()
                    .map_err(|e| anyhow::anyhow!("--size {size}: {e}"))?,
            );
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut failures = 0;
    for size in &sizes {
        match compose::compose(&copy, &style, logo.as_ref(), &background, *size, format) {
            Ok(creative) => {
                let extension = match creative.format {
                    OutputFormat::Png => "png",
                    OutputFormat::Jpeg => "jpg",
                    OutputFormat::Webp => "webp",
                };
                let path = args.out.join(format!("{size}.{extension}"));
                std::fs::write(&path, &creative.bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{} ({} bytes)", path.display(), creative.bytes.len());
            }
            Err(error) => {
                failures += 1;
                eprintln!("{size}: {error}");
            }
        }
    }
    if args.contact_sheet {
        let sheet = compose::contact_sheet_png(&copy, &style, logo.as_ref(), &background, &sizes)?;
        let path = args.out.join("contact-sheet.png");
        std::fs::write(&path, sheet).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    anyhow::ensure!(
        failures == 0,
        "{failures} of {} sizes could not be rendered",
        sizes.len()
    );
    Ok(())
}
