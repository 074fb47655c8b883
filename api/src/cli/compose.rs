//! `adforge compose`: finished creatives at ad sizes from copy, logo and background.

use std::path::PathBuf;

use adforge_generator::compose::{
    self, AdSize, Background, BrandStyle, CreativeCopy, OutputFormat, ProductBackdrop,
    ProductImage, Rgb,
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
    /// Background image (smart-cropped to each size); a designed background otherwise. With
    /// `--product`, the picture goes behind the product.
    #[arg(long)]
    pub background: Option<PathBuf>,
    /// Product photo (PNG, JPEG or WebP): cut out (its own alpha, a studio backdrop removed, or
    /// set as a panel) and drawn with a soft shadow at every size that has room for it.
    #[arg(long, alias = "product-photo")]
    pub product: Option<PathBuf>,
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
    let picture = args.background.as_ref().map(read_image).transpose()?;
    let background = match (picture, &args.product) {
        (picture, Some(path)) => {
            let product = ProductImage::prepare(&read_image(path)?)
                .with_context(|| format!("--product {}", path.display()))?;
            let report = product.report();
            println!("product cut-out: {} ({})", report.decision, report.reason);
            let backdrop = match picture {
                Some(picture) => ProductBackdrop::Picture(picture),
                None => ProductBackdrop::Designed,
            };
            Background::Product { product, backdrop }
        }
        (Some(picture), None) => Background::Image(picture),
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
                if let Some(reason) = &creative.product_omitted {
                    println!("  without the product: {reason}");
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(out: PathBuf, product: Option<PathBuf>, sizes: &[&str]) -> ComposeArgs {
        ComposeArgs {
            headline: "Small-batch olive oil".into(),
            body: "Cold-pressed in Crete.".into(),
            cta: "Shop now".into(),
            disclaimer: None,
            logo: None,
            background: None,
            product,
            brand_colors: vec!["#14213d".into(), "#2a9d8f".into()],
            sizes: sizes.iter().map(|s| s.to_string()).collect(),
            format: "png".into(),
            contact_sheet: true,
            out,
        }
    }

    #[test]
    fn product_photo_is_cut_out_and_shown() {
        let dir = tempfile::tempdir().unwrap();
        // A blue bottle on a white studio backdrop.
        let photo = image::RgbaImage::from_fn(200, 300, |x, y| {
            if (70..130).contains(&x) && (40..280).contains(&y) {
                image::Rgba([30, 60, 200, 255])
            } else {
                image::Rgba([255, 255, 255, 255])
            }
        });
        let photo_path = dir.path().join("bottle.png");
        photo.save(&photo_path).unwrap();
        let out = dir.path().join("out");
        run(args(out.clone(), Some(photo_path), &["300x250", "120x60"])).unwrap();
        let creative = image::open(out.join("300x250.png")).unwrap().to_rgb8();
        assert_eq!(creative.dimensions(), (300, 250));
        // The bottle's blue is in the creative (the designed background has none of it).
        let blue = creative
            .pixels()
            .filter(|p| p.0[2] > 170 && p.0[0] < 70 && p.0[1] < 100)
            .count();
        assert!(blue > 1000, "{blue} bottle pixels");
        // The button size has no room for it and still renders; the sheet is written.
        assert!(out.join("120x60.png").exists());
        assert!(out.join("contact-sheet.png").exists());
    }

    #[test]
    fn unusable_product_photo_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let tiny = dir.path().join("tiny.png");
        image::RgbaImage::from_pixel(10, 10, image::Rgba([0, 0, 0, 255]))
            .save(&tiny)
            .unwrap();
        let err = run(args(dir.path().join("out"), Some(tiny), &["300x250"])).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("--product") && text.contains("at least 32 px"),
            "{text}"
        );
    }
}
