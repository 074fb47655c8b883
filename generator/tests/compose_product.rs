//! Product images at every preset size, checked from the pixels: a studio packshot (backdrop
//! removed), a cut-out PNG (alpha kept) and a photo in a scene (panel), over a designed
//! background and over a busy picture. For every size the product's slot overlaps no text box,
//! CTA button or logo; the product is visible and takes a sensible share of the canvas; every
//! text element still reaches 4.5:1 contrast; a size with no room for a legible product is
//! rendered without it, with the reason.

use adforge_generator::compose::{
    compose, contact_sheet, contrast_ratio, product_canvas, relative_luminance, AdSize, Background,
    BrandStyle, ComposeError, ComposedCreative, CreativeCopy, CutoutDecision, OutputFormat,
    ProductBackdrop, ProductImage, Rect, Rgb, RgbaImage, MAX_PRODUCT_SHARE, PRESET_SIZES,
};
use image::Rgba;

fn brand() -> BrandStyle {
    BrandStyle::with_colors(vec![
        Rgb::parse_hex("#14213d").unwrap(),
        Rgb::parse_hex("#2a9d8f").unwrap(),
        Rgb::parse_hex("#e9c46a").unwrap(),
    ])
}

/// A pure magenta logo, so its pixels can be told apart.
fn logo() -> RgbaImage {
    RgbaImage::from_pixel(90, 30, Rgba([255, 0, 255, 255]))
}

fn copy() -> CreativeCopy {
    CreativeCopy::new(
        "Small-batch olive oil",
        "Cold-pressed in Crete, bottled the same week.",
        "Shop now",
    )
}

/// Sizes with no room for a legible product beside the copy: the 120x60 button and the 50 px
/// smartphone banners.
fn no_room(size: AdSize) -> bool {
    [
        AdSize::new(120, 60),
        AdSize::new(320, 50),
        AdSize::new(300, 50),
    ]
    .contains(&size)
}

/// Coverage of the unit square at (`x`, `y`) by `inside`, sampled 4x4.
fn coverage(x: u32, y: u32, inside: impl Fn(f32, f32) -> bool) -> f32 {
    let mut n = 0;
    for i in 0..4 {
        for j in 0..4 {
            if inside(
                x as f32 + (i as f32 + 0.5) / 4.0,
                y as f32 + (j as f32 + 0.5) / 4.0,
            ) {
                n += 1;
            }
        }
    }
    n as f32 / 16.0
}

/// The body colour of the packshot's bottle, before shading.
const BOTTLE: [u8; 3] = [168, 28, 38];

/// A studio packshot drawn in code: a red glass bottle with a gold cap, a cream label and a
/// specular highlight, anti-aliased, on a white backdrop with a faint floor gradient.
fn packshot() -> RgbaImage {
    let (w, h) = (600u32, 800u32);
    RgbaImage::from_fn(w, h, |x, y| {
        let back = 250.0 - 8.0 * (y as f32 / h as f32);
        let backdrop = [back, back, back - 1.0];
        let cx = 300.0;
        let body = |px: f32, py: f32| {
            let r = 30.0;
            let (l, rt, t, b) = (210.0, 390.0, 300.0, 740.0);
            if !(l..rt).contains(&px) || !(t..b).contains(&py) {
                return false;
            }
            let qx = px.clamp(l + r, rt - r);
            let qy = py.clamp(t, b - r);
            (px - qx).powi(2) + (py - qy).powi(2) <= r * r
        };
        let shoulder = |px: f32, py: f32| {
            py <= 300.0 && ((px - cx) / 90.0).powi(2) + ((py - 300.0) / 85.0).powi(2) <= 1.0
        };
        let neck = |px: f32, py: f32| (265.0..335.0).contains(&px) && (160.0..300.0).contains(&py);
        let cap = |px: f32, py: f32| (258.0..342.0).contains(&px) && (105.0..170.0).contains(&py);
        let label = |px: f32, py: f32| body(px, py) && (430.0..600.0).contains(&py);
        let glass = |px: f32, py: f32| body(px, py) || shoulder(px, py) || neck(px, py);
        let c_glass = coverage(x, y, glass);
        let c_cap = coverage(x, y, cap);
        let c_label = coverage(x, y, label);
        // Cylindrical shading across the bottle, and a highlight stripe on the left.
        let t = ((x as f32 + 0.5 - cx) / 95.0).clamp(-1.0, 1.0);
        let shade = 0.62 + 0.38 * (t * std::f32::consts::FRAC_PI_2 * 0.95).cos();
        let highlight = if (238.0..252.0).contains(&(x as f32)) {
            0.45
        } else {
            0.0
        };
        let mut c = backdrop;
        let glass_col = BOTTLE.map(|v| f32::from(v) * shade);
        let label_col = [242.0 * shade, 230.0 * shade, 200.0 * shade];
        let band = (500.0..512.0).contains(&(y as f32));
        let label_col = if band { [40.0, 60.0, 50.0] } else { label_col };
        let cap_col = [196.0 * shade, 156.0 * shade, 60.0 * shade];
        for i in 0..3 {
            c[i] = c[i] * (1.0 - c_glass) + glass_col[i] * c_glass;
            c[i] = c[i] * (1.0 - c_label) + label_col[i] * c_label;
            c[i] = c[i] * (1.0 - c_cap) + cap_col[i] * c_cap;
            c[i] = c[i] * (1.0 - highlight * c_glass) + 255.0 * highlight * c_glass;
        }
        let [r, g, b] = c.map(|v| v.round().clamp(0.0, 255.0) as u8);
        Rgba([r, g, b, 255])
    })
}

/// A cut-out PNG: a green can on a transparent canvas.
fn cutout_can() -> RgbaImage {
    RgbaImage::from_fn(300, 400, |x, y| {
        let a = coverage(x, y, |px, py| {
            (90.0..210.0).contains(&px) && (60.0..360.0).contains(&py)
        });
        Rgba([30, 150, 70, (a * 255.0).round() as u8])
    })
}

/// A deterministic pseudo-random number stream.
struct Lcg(u32);
impl Lcg {
    fn next(&mut self) -> u8 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (self.0 >> 24) as u8
    }
}

/// A photo of the product in a scene (a textured table): set as a panel.
fn scene_photo() -> RgbaImage {
    let mut rng = Lcg(3);
    RgbaImage::from_fn(500, 400, |x, y| {
        let n = i32::from(rng.next() % 70) - 35;
        if (200..300).contains(&x) && (80..330).contains(&y) {
            Rgba([168, 28, 38, 255])
        } else {
            let c = |v: i32| (v + n).clamp(0, 255) as u8;
            Rgba([c(150), c(110 + (y as i32 / 10)), c(70), 255])
        }
    })
}

/// A busy mid-toned picture to set the product over.
fn busy_picture() -> RgbaImage {
    let mut rng = Lcg(11);
    RgbaImage::from_fn(640, 480, |x, y| {
        let n = i32::from(rng.next() % 60) - 30;
        let stripes = (x / 20 + y / 20) % 2 == 0;
        let c = |v: i32| (v + n + if stripes { 30 } else { -30 }).clamp(0, 255) as u8;
        Rgba([c(120), c(150), c(190), 255])
    })
}

/// Lowest WCAG contrast between a text element's colour and the backdrop pixels within 2 px of
/// its glyphs, measured on the canvas.
fn worst_contrast(c: &ComposedCreative, index: usize) -> f32 {
    let t = &c.text[index];
    let lum = t.color.luminance();
    let b = t.text_box;
    let mut worst = f32::INFINITY;
    for y in b.y.max(0)..b.bottom().min(c.size.height as i32) {
        for x in b.x.max(0)..b.right().min(c.size.width as i32) {
            if t.layer.get(x, y) != 0 {
                continue;
            }
            if (-2..=2).any(|dy| (-2..=2).any(|dx| t.layer.get(x + dx, y + dy) != 0)) {
                let p = c.pixels.get_pixel(x as u32, y as u32).0;
                worst = worst.min(contrast_ratio(lum, relative_luminance([p[0], p[1], p[2]])));
            }
        }
    }
    worst
}

/// Pixels inside `r` within `tolerance` of `color`.
fn count_near(img: &RgbaImage, r: &Rect, color: [u8; 3], tolerance: u8) -> usize {
    let mut n = 0;
    for y in r.y.max(0)..r.bottom().min(img.height() as i32) {
        for x in r.x.max(0)..r.right().min(img.width() as i32) {
            let p = img.get_pixel(x as u32, y as u32).0;
            if (0..3).all(|i| p[i].abs_diff(color[i]) <= tolerance) {
                n += 1;
            }
        }
    }
    n
}

/// Every check on one creative; returns the product's share of the canvas (0 when left out).
fn check(c: &ComposedCreative, label: &str, signature: ([u8; 3], u8)) -> f32 {
    check_with(c, label, signature, no_room)
}

/// [`check`], with the sizes where leaving the product out is expected.
fn check_with(
    c: &ComposedCreative,
    label: &str,
    signature: ([u8; 3], u8),
    may_omit: impl Fn(AdSize) -> bool,
) -> f32 {
    let size = c.size;
    for (i, t) in c.text.iter().enumerate() {
        let worst = worst_contrast(c, i);
        assert!(
            worst >= 4.5,
            "{label}: {} contrast {worst:.2}:1 under 4.5:1",
            t.element
        );
    }
    let Some(p) = c.product else {
        let reason = c
            .product_omitted
            .as_deref()
            .unwrap_or_else(|| panic!("{label}: product left out without a reason"));
        assert!(reason.starts_with(&size.to_string()), "{label}: {reason}");
        assert!(may_omit(size), "{label}: product left out: {reason}");
        return 0.0;
    };
    assert!(!no_room(size), "{label}: a product on a size with no room");
    assert!(c.product_omitted.is_none());
    // Inside the slot, inside the safe area; the slot is clear of every text box, the CTA
    // button and the logo.
    assert!(p.slot.contains_rect(&p.bounds), "{label}: {p:?}");
    assert!(
        c.safe_area.contains_rect(&p.slot),
        "{label}: slot outside the safe area"
    );
    let mut others: Vec<(String, Rect)> = c
        .text
        .iter()
        .map(|t| (t.element.to_string(), t.text_box))
        .collect();
    others.push(("CTA button".into(), c.cta_button));
    if let Some(logo) = c.logo_box {
        others.push(("logo".into(), logo));
    }
    for (what, r) in &others {
        assert!(
            !p.slot.intersects(r),
            "{label}: product slot {:?} overlaps the {what} {r:?}",
            p.slot
        );
    }
    // A sensible share: on the 60 to 90 px tall banners the product fills at least 80 % of the
    // row's height (a thin bottle takes under 2 % of a 970x90 banner); elsewhere it takes at
    // least 4 % of the canvas. Never more than the cap.
    if size.height <= 100 {
        assert!(
            p.bounds.height as f32 >= 0.8 * c.safe_area.height as f32,
            "{label}: product {}px tall in a {}px row",
            p.bounds.height,
            c.safe_area.height
        );
    } else {
        assert!(p.share >= 0.04, "{label}: product share {:.3}", p.share);
    }
    assert!(
        p.share <= MAX_PRODUCT_SHARE + 1e-3,
        "{label}: product share {:.3}",
        p.share
    );
    let area = p.bounds.width as f32 * p.bounds.height as f32;
    let expected = (area / (size.width as f32 * size.height as f32) - p.share).abs();
    assert!(expected < 1e-3, "{label}: share does not match the box");
    // The product is visible: pixels of its colour fill a good part of its box.
    let (color, tolerance) = signature;
    let seen = count_near(&c.pixels, &p.bounds, color, tolerance) as f32;
    assert!(
        seen >= 0.2 * area,
        "{label}: only {seen} product pixels in a {}x{} box",
        p.bounds.width,
        p.bounds.height
    );
    p.share
}

fn run_all(photo: &RgbaImage, expect: CutoutDecision, signature: ([u8; 3], u8)) {
    let product = ProductImage::prepare(photo).unwrap();
    assert_eq!(product.decision(), expect, "{}", product.report().reason);
    let backdrops = [
        ("designed", ProductBackdrop::Designed),
        ("picture", ProductBackdrop::Picture(busy_picture())),
    ];
    for (name, backdrop) in backdrops {
        let background = Background::Product {
            product: product.clone(),
            backdrop,
        };
        let mut shares = Vec::new();
        for preset in PRESET_SIZES {
            let label = format!("{expect}/{name}/{}", preset.size);
            let c = compose(
                &copy(),
                &brand(),
                Some(&logo()),
                &background,
                preset.size,
                OutputFormat::Png,
            )
            .unwrap_or_else(|e| panic!("{label}: {e}"));
            let share = check(&c, &label, signature);
            shares.push(format!("{} {:.1}%", preset.size, share * 100.0));
        }
        // The figures, for the record (run with --nocapture).
        println!("{expect}/{name}: {}", shares.join(", "));
    }
}

#[test]
fn studio_packshot_at_every_size() {
    // Mid-body red, shaded: within 60 of the unshaded colour.
    run_all(&packshot(), CutoutDecision::RemovedBackground, (BOTTLE, 60));
}

#[test]
fn cutout_png_at_every_size() {
    run_all(
        &cutout_can(),
        CutoutDecision::KeptAlpha,
        ([30, 150, 70], 12),
    );
}

#[test]
fn scene_photo_as_a_panel_at_every_size() {
    run_all(&scene_photo(), CutoutDecision::Panel, ([150, 115, 70], 45));
}

#[test]
fn long_copy_with_a_disclaimer_keeps_the_product_clear_of_the_text() {
    let copy = CreativeCopy::new(
        "Découvrez notre huile d'olive de petite production, pressée à froid en Crète",
        "Livraison offerte dès 49 € et retours gratuits pendant trente jours.",
        "Je découvre",
    )
    .with_disclaimer("Offre réservée aux nouveaux clients, jusqu'au 31 décembre.");
    let product = ProductImage::prepare(&packshot()).unwrap();
    let background = Background::Product {
        product,
        backdrop: ProductBackdrop::Designed,
    };
    let mut shown = 0;
    for preset in PRESET_SIZES {
        let size = preset.size;
        let label = format!("long/{size}");
        let with = compose(
            &copy,
            &brand(),
            Some(&logo()),
            &background,
            size,
            OutputFormat::Png,
        );
        let without = compose(
            &copy,
            &brand(),
            Some(&logo()),
            &Background::Designed,
            size,
            OutputFormat::Png,
        );
        match (with, without) {
            (Ok(c), Ok(_)) => {
                // The product may give way to long copy on any size, but only with a reason.
                check_with(&c, &label, (BOTTLE, 60), |_| true);
                shown += usize::from(c.product.is_some());
            }
            // A size that cannot hold the copy fails the same way with or without a product.
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{label}"),
            (a, b) => panic!(
                "{label}: with the product {:?}, without {:?}",
                a.err(),
                b.err()
            ),
        }
    }
    println!(
        "long copy: the product shows on {shown} of {} sizes",
        PRESET_SIZES.len()
    );
    assert!(shown >= 14, "the product shows on only {shown} sizes");
}

#[test]
fn no_room_falls_back_to_a_layout_without_the_product() {
    let product = ProductImage::prepare(&packshot()).unwrap();
    let background = Background::Product {
        product,
        backdrop: ProductBackdrop::Designed,
    };
    for size in [AdSize::new(120, 60), AdSize::new(320, 50)] {
        let with = compose(
            &copy(),
            &brand(),
            None,
            &background,
            size,
            OutputFormat::Png,
        )
        .unwrap();
        let without = compose(
            &copy(),
            &brand(),
            None,
            &Background::Designed,
            size,
            OutputFormat::Png,
        )
        .unwrap();
        assert!(with.product.is_none());
        let reason = with.product_omitted.clone().unwrap();
        assert!(reason.contains("no room"), "{reason}");
        // The same layout as without a product: the text is not squeezed for nothing.
        let boxes = |c: &ComposedCreative| c.text.iter().map(|t| t.text_box).collect::<Vec<_>>();
        assert_eq!(boxes(&with), boxes(&without), "{size}");
    }
}

#[test]
fn scene_painted_around_the_product_is_used_as_is() {
    let product = ProductImage::prepare(&packshot()).unwrap();
    let size = AdSize::new(1080, 1080);
    let pc = product_canvas(&copy(), &brand(), Some(&logo()), &product, size)
        .unwrap()
        .expect("room for the product at 1080x1080");
    assert_eq!(pc.canvas.dimensions(), (1080, 1080));
    // Only the product is on the canvas.
    let outside = pc
        .canvas
        .enumerate_pixels()
        .filter(|(x, y, p)| p.0[3] > 0 && !pc.product_box.contains(*x as i32, *y as i32))
        .count();
    assert_eq!(outside, 0);
    // What a scene painter returns: a wooden backdrop, the product composited back on top.
    let mut scene = RgbaImage::from_fn(1080, 1080, |x, y| {
        Rgba([(120 + (x + y) % 40) as u8, 80, 50, 255])
    });
    for (x, y, p) in pc.canvas.enumerate_pixels() {
        let a = f32::from(p.0[3]) / 255.0;
        let s = scene.get_pixel_mut(x, y);
        for i in 0..3 {
            s.0[i] = (f32::from(p.0[i]) * a + f32::from(s.0[i]) * (1.0 - a)).round() as u8;
        }
    }
    let background = Background::Product {
        product: product.clone(),
        backdrop: ProductBackdrop::Scene(scene.clone()),
    };
    let c = compose(
        &copy(),
        &brand(),
        Some(&logo()),
        &background,
        size,
        OutputFormat::Png,
    )
    .unwrap();
    let placed = c.product.expect("product placed");
    assert_eq!(placed.bounds, pc.product_box);
    // The product's pixels are the scene's, untouched (no second product, no shadow over it).
    let b = placed.bounds;
    let centre = (b.x as u32 + b.width / 2, b.y as u32 + b.height * 3 / 4);
    assert_eq!(
        c.pixels.get_pixel(centre.0, centre.1),
        scene.get_pixel(centre.0, centre.1)
    );
    check(&c, "scene/1080x1080", (BOTTLE, 60));
    // A scene of the wrong size is refused.
    let wrong = Background::Product {
        product,
        backdrop: ProductBackdrop::Scene(RgbaImage::new(512, 512)),
    };
    let err = compose(&copy(), &brand(), None, &wrong, size, OutputFormat::Png).unwrap_err();
    assert!(matches!(err, ComposeError::BadProduct(_)), "{err}");
}

#[test]
fn product_contact_sheet_shows_every_size() {
    let product = ProductImage::prepare(&packshot()).unwrap();
    let background = Background::Product {
        product,
        backdrop: ProductBackdrop::Designed,
    };
    let sizes: Vec<AdSize> = PRESET_SIZES.iter().map(|p| p.size).collect();
    let sheet = contact_sheet(&copy(), &brand(), Some(&logo()), &background, &sizes).unwrap();
    // The bottle's red shows up many times on the sheet (once per size with room for it).
    let full = Rect::new(0, 0, sheet.width(), sheet.height());
    assert!(count_near(&sheet, &full, BOTTLE, 60) > 20_000);
}

/// Writes the README's packshot contact sheet (and the packshot drawn for it) to
/// `ADFORGE_SHEET_DIR` (default `target/contact-sheets`).
#[test]
#[ignore = "writes a contact sheet for people to look at"]
fn write_packshot_contact_sheet() {
    let dir = std::path::PathBuf::from(
        std::env::var("ADFORGE_SHEET_DIR").unwrap_or_else(|_| "../target/contact-sheets".into()),
    );
    std::fs::create_dir_all(&dir).unwrap();
    let photo = packshot();
    photo.save(dir.join("packshot.png")).unwrap();
    let product = ProductImage::prepare(&photo).unwrap();
    let background = Background::Product {
        product,
        backdrop: ProductBackdrop::Designed,
    };
    let sizes: Vec<AdSize> = [
        "1080x1080",
        "1200x628",
        "1080x1920",
        "300x250",
        "300x600",
        "160x600",
        "970x250",
        "728x90",
        "320x50",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let sheet = contact_sheet(&copy(), &brand(), Some(&badge_logo()), &background, &sizes).unwrap();
    let rgb = image::DynamicImage::ImageRgba8(sheet).to_rgb8();
    let path = dir.join("packshot-contact-sheet.jpg");
    let mut out = std::fs::File::create(&path).unwrap();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 82)
        .encode_image(&rgb)
        .unwrap();
    println!("wrote {}", path.display());
}

/// A word-mark logo for the README sheet: a white rounded badge with a dark bar.
fn badge_logo() -> RgbaImage {
    RgbaImage::from_fn(140, 48, |x, y| {
        let inside = coverage(x, y, |px, py| {
            (3.0..137.0).contains(&px) && (3.0..45.0).contains(&py)
        });
        let bar = (20..120).contains(&x) && (20..28).contains(&y);
        let c = if bar { [20, 33, 61] } else { [255, 255, 255] };
        Rgba([c[0], c[1], c[2], (inside * 255.0) as u8])
    })
}
