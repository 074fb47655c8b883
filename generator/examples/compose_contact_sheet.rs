//! Writes a contact sheet of one creative at every preset size, for people to look at.
//!
//! ```text
//! cargo run -p adforge-generator --example compose_contact_sheet -- --out sheet.png \
//!     [--headline TEXT] [--body TEXT] [--cta TEXT] [--disclaimer TEXT] [--logo FILE] \
//!     [--background FILE | --product FILE] [--brand-color HEX ...] [--size WxH ...]
//! ```
//!
//! Without `--size`, every size of `PRESET_SIZES` is drawn. Also writes each size as its own
//! PNG next to the sheet when `--each` is given.

use std::path::PathBuf;
use std::process::ExitCode;

use adforge_generator::compose::{
    compose, contact_sheet_png, load_image, AdSize, Background, BrandStyle, CreativeCopy,
    OutputFormat, ProductBackdrop, ProductImage, Rgb, PRESET_SIZES,
};

fn load(path: &str) -> Result<image::RgbaImage, String> {
    load_image(std::path::Path::new(path)).map_err(|e| format!("{path}: {e}"))
}

fn run() -> Result<(), String> {
    let mut copy = CreativeCopy::new(
        "Découvrez la nouvelle collection : l'élégance à prix doux",
        "Livraison offerte dès 49 € et retours gratuits pendant trente jours.",
        "Je découvre",
    );
    let mut out = PathBuf::from("contact-sheet.png");
    let mut logo = None;
    let mut background = Background::Designed;
    let mut colors = Vec::new();
    let mut sizes = Vec::new();
    let mut each = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => out = PathBuf::from(value()?),
            "--headline" => copy.headline = value()?,
            "--body" => copy.body = value()?,
            "--cta" => copy.cta = value()?,
            "--disclaimer" => copy.disclaimer = Some(value()?),
            "--logo" => logo = Some(load(&value()?)?),
            "--background" => background = Background::Image(load(&value()?)?),
            "--product" => {
                let photo = load(&value()?)?;
                let product = ProductImage::prepare(&photo).map_err(|e| e.to_string())?;
                eprintln!("product cut-out: {}", product.report().reason);
                background = Background::Product {
                    product,
                    backdrop: ProductBackdrop::Designed,
                };
            }
            "--brand-color" => colors.push(Rgb::parse_hex(&value()?).map_err(|e| e.to_string())?),
            "--size" => sizes.push(AdSize::parse(&value()?).map_err(|e| e.to_string())?),
            "--each" => each = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if sizes.is_empty() {
        sizes = PRESET_SIZES.iter().map(|p| p.size).collect();
    }
    let brand = BrandStyle::with_colors(colors);
    let sheet = contact_sheet_png(&copy, &brand, logo.as_ref(), &background, &sizes)
        .map_err(|e| e.to_string())?;
    std::fs::write(&out, sheet).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("wrote {}", out.display());
    if each {
        let dir = out.parent().map(PathBuf::from).unwrap_or_default();
        for size in sizes {
            match compose(
                &copy,
                &brand,
                logo.as_ref(),
                &background,
                size,
                OutputFormat::Png,
            ) {
                Ok(c) => {
                    let path = dir.join(format!("creative-{}", c.file_name()));
                    std::fs::write(&path, &c.bytes)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    println!("wrote {} ({} bytes)", path.display(), c.bytes.len());
                    for t in &c.text {
                        println!(
                            "  {:<10} {:>5.1} px  {} line(s)  {}  contrast {:.1}:1{}",
                            t.element.to_string(),
                            t.font_px,
                            t.lines.len(),
                            t.color,
                            t.min_contrast,
                            t.scrim.map_or(String::new(), |(c, a)| format!(
                                "  scrim {c} at {:.0} %",
                                a * 100.0
                            )),
                        );
                    }
                }
                Err(e) => println!("{size}: {e}"),
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compose_contact_sheet: {e}");
            ExitCode::FAILURE
        }
    }
}
