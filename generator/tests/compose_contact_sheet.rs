//! Contact sheets: one creative at many sizes on one labelled image.
//!
//! `cargo test -p adforge-generator --test compose_contact_sheet -- --ignored` writes sheets of
//! every preset size for a French, an English and a Cyrillic creative to
//! `$ADFORGE_CONTACT_SHEET_DIR` (default `<workspace>/target/compose`), for people to look at.

use std::path::PathBuf;

use adforge_generator::compose::{
    compose, contact_sheet, contact_sheet_png, AdSize, Background, BrandStyle, CreativeCopy,
    OutputFormat, ProductBackdrop, ProductImage, Rgb, RgbaImage, PRESET_SIZES,
};

fn brand() -> BrandStyle {
    BrandStyle::with_colors(vec![
        Rgb::parse_hex("#5b2a86").unwrap(),
        Rgb::parse_hex("#1b998b").unwrap(),
        Rgb::parse_hex("#f7b32b").unwrap(),
    ])
}

fn logo() -> RgbaImage {
    // A white rounded badge with a dark square, on transparency.
    RgbaImage::from_fn(120, 48, |x, y| {
        let inside = (4..116).contains(&x) && (4..44).contains(&y);
        let mark = (12..40).contains(&x) && (10..38).contains(&y);
        match (inside, mark) {
            (_, true) => image::Rgba([30, 30, 30, 255]),
            (true, false) => image::Rgba([255, 255, 255, 235]),
            _ => image::Rgba([0, 0, 0, 0]),
        }
    })
}

#[test]
fn sheet_holds_every_rendered_size_and_marks_failures() {
    let copy = CreativeCopy::new(
        "Coffee, faster.",
        "Freshly roasted beans at your door.",
        "Order now",
    );
    let sizes: Vec<AdSize> = ["300x250", "728x90", "300x50"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let sheet = contact_sheet(
        &copy,
        &brand(),
        Some(&logo()),
        &Background::Designed,
        &sizes,
    )
    .unwrap();
    // Every creative appears pixel for pixel (none is scaled at these sizes).
    for size in &sizes {
        let c = compose(
            &copy,
            &brand(),
            Some(&logo()),
            &Background::Designed,
            *size,
            OutputFormat::Png,
        )
        .unwrap();
        let found = (0..sheet.height() - size.height + 1).any(|y| {
            (0..sheet.width() - size.width + 1).any(|x| {
                sheet.get_pixel(x, y) == c.pixels.get_pixel(0, 0)
                    && c.pixels
                        .enumerate_pixels()
                        .step_by(97)
                        .all(|(cx, cy, p)| sheet.get_pixel(x + cx, y + cy) == p)
            })
        });
        assert!(found, "{size} not on the sheet");
    }
    // A creative that cannot be drawn leaves a red-framed cell instead of aborting the sheet.
    let impossible = CreativeCopy::new("Pneumonoultramicroscopicsilicovolcanoconiosis", "", "Go");
    let sheet = contact_sheet(
        &impossible,
        &brand(),
        None,
        &Background::Designed,
        &[AdSize::new(120, 60)],
    )
    .unwrap();
    assert!(sheet.pixels().any(|p| p.0 == [200, 40, 40, 255]));
    let png = contact_sheet_png(&copy, &brand(), None, &Background::Designed, &sizes[..1]).unwrap();
    assert_eq!(image::guess_format(&png).unwrap(), image::ImageFormat::Png);
}

#[test]
#[ignore = "writes contact sheets for people to look at"]
fn write_contact_sheets() {
    let dir = std::env::var_os("ADFORGE_CONTACT_SHEET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/compose"));
    std::fs::create_dir_all(&dir).unwrap();
    let sizes: Vec<AdSize> = PRESET_SIZES.iter().map(|p| p.size).collect();
    let product = RgbaImage::from_fn(400, 400, |x, y| {
        let body = (150..250).contains(&x) && (120..360).contains(&y);
        let neck = (185..215).contains(&x) && (50..120).contains(&y);
        if body || neck {
            image::Rgba([110, 60, 20, 255])
        } else {
            image::Rgba([250, 250, 250, 255])
        }
    });
    let creatives = [
        (
            "fr",
            CreativeCopy::new(
                "Découvrez notre nouvelle collection printemps-été : l'élégance française à prix doux",
                "Livraison offerte dès 49 € et retours gratuits pendant trente jours.",
                "Je découvre",
            ),
            Background::Designed,
        ),
        (
            "en",
            CreativeCopy::new("Coffee, faster.", "Freshly roasted beans at your door every week.", "Order now")
                .with_disclaimer("Offer for new customers only, until 31 December."),
            Background::Product {
                product: ProductImage::prepare(&product).unwrap(),
                backdrop: ProductBackdrop::Designed,
            },
        ),
        (
            "ru",
            CreativeCopy::new("Свежий кофе каждое утро", "Обжарка на этой неделе, доставка завтра.", "Заказать"),
            Background::Designed,
        ),
    ];
    for (name, copy, background) in creatives {
        let png = contact_sheet_png(&copy, &brand(), Some(&logo()), &background, &sizes).unwrap();
        let path = dir.join(format!("contact-sheet-{name}.png"));
        std::fs::write(&path, png).unwrap();
        println!("wrote {}", path.display());
    }
}
