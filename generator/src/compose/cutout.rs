//! Product cut-out: separates a product photo from its backdrop once, before it is set into
//! creatives at every size.
//!
//! Per photo, one of three decisions (recorded in provenance as a [`CutoutReport`]):
//!
//! - **kept alpha**: the photo has a meaningful alpha channel (at least 1 % of its pixels
//!   transparent and 1 % opaque): it is used as is, trimmed to its visible pixels;
//! - **removed background**: the border is near-uniform (a studio packshot): the backdrop is
//!   removed by a colour-distance flood fill from the borders, with soft edges (a distance ramp
//!   on the boundary, eroded by a small blur, and the backdrop colour taken out of the
//!   semi-transparent edge pixels);
//! - **panel**: anything else (a photo in a scene, a busy or noisy backdrop, or a product that
//!   the flood fill would erase): the photo is set whole, as a rounded panel.

use std::collections::VecDeque;
use std::fmt;

use image::imageops::{self, FilterType};
use image::RgbaImage;
use serde::Serialize;

use super::color::Rgb;
use super::ComposeError;

/// Longest side a product photo is worked at: larger photos are scaled down first (the largest
/// product slot of the preset sizes is about 1000 px).
pub const PRODUCT_WORK_SIDE: u32 = 1600;
/// Shortest side a product photo may have.
pub const PRODUCT_MIN_SOURCE_SIDE: u32 = 32;

/// Share of pixels that must be transparent, and share that must be opaque, for an alpha
/// channel to count as a cut-out.
const ALPHA_SHARE: f32 = 0.01;
/// Colour distance (Euclidean, RGB 0..=255) under which a border pixel matches the backdrop.
const BORDER_MATCH: f32 = 36.0;
/// Share of border pixels that must match the backdrop colour for the border to be uniform.
const UNIFORM_SHARE: f32 = 0.92;

/// How a product photo was separated from its backdrop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CutoutDecision {
    /// The photo's own alpha channel was kept.
    KeptAlpha,
    /// A near-uniform backdrop was removed by a flood fill from the borders.
    RemovedBackground,
    /// The photo is set whole, as a panel.
    Panel,
}

impl CutoutDecision {
    /// The provenance name: `kept_alpha`, `removed_background` or `panel`.
    pub fn as_str(self) -> &'static str {
        match self {
            CutoutDecision::KeptAlpha => "kept_alpha",
            CutoutDecision::RemovedBackground => "removed_background",
            CutoutDecision::Panel => "panel",
        }
    }
}

impl fmt::Display for CutoutDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was decided for one product photo, and why: serialised into a creative's provenance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CutoutReport {
    /// The decision.
    pub decision: CutoutDecision,
    /// Why, in words, with the measured figures.
    pub reason: String,
    /// Width of the photo as given.
    pub source_width: u32,
    /// Height of the photo as given.
    pub source_height: u32,
    /// The backdrop colour removed (`#rrggbb`), for [`CutoutDecision::RemovedBackground`].
    pub backdrop: Option<String>,
}

/// A product photo prepared for composition: cut out once, then drawn at every size.
#[derive(Debug, Clone)]
pub struct ProductImage {
    cutout: RgbaImage,
    report: CutoutReport,
}

impl ProductImage {
    /// Decides how to separate `photo` from its backdrop and does it (see the module docs).
    ///
    /// Fails with [`ComposeError::BadProduct`] for a photo with a side under
    /// [`PRODUCT_MIN_SOURCE_SIDE`] or one that is entirely transparent.
    pub fn prepare(photo: &RgbaImage) -> Result<Self, ComposeError> {
        let (sw, sh) = photo.dimensions();
        if sw.min(sh) < PRODUCT_MIN_SOURCE_SIDE {
            return Err(ComposeError::BadProduct(format!(
                "the product photo is {sw}x{sh}; each side needs at least {PRODUCT_MIN_SOURCE_SIDE} px"
            )));
        }
        let work = if sw.max(sh) > PRODUCT_WORK_SIDE {
            let k = PRODUCT_WORK_SIDE as f32 / sw.max(sh) as f32;
            let w = ((sw as f32 * k).round() as u32).max(1);
            let h = ((sh as f32 * k).round() as u32).max(1);
            imageops::resize(photo, w, h, FilterType::CatmullRom)
        } else {
            photo.clone()
        };
        let report = |decision, reason: String, backdrop: Option<Rgb>| CutoutReport {
            decision,
            reason,
            source_width: sw,
            source_height: sh,
            backdrop: backdrop.map(|c| format!("#{:02x}{:02x}{:02x}", c.0[0], c.0[1], c.0[2])),
        };

        let n = (work.width() * work.height()) as f32;
        let transparent = work.pixels().filter(|p| p.0[3] < 16).count() as f32 / n;
        let opaque = work.pixels().filter(|p| p.0[3] >= 128).count() as f32 / n;
        if opaque == 0.0 {
            return Err(ComposeError::BadProduct(
                "the product photo is entirely transparent".to_string(),
            ));
        }
        if transparent >= ALPHA_SHARE && opaque >= ALPHA_SHARE {
            let reason = format!(
                "the photo has an alpha channel: {:.0} % of its pixels are transparent",
                transparent * 100.0
            );
            return Ok(Self {
                cutout: trim_to_alpha(&work),
                report: report(CutoutDecision::KeptAlpha, reason, None),
            });
        }
        // Any partial transparency left is not a cut-out: flatten it over white.
        let flat = flatten(&work);
        let border = BorderStats::of(&flat);
        if border.uniform_share < UNIFORM_SHARE {
            let reason = format!(
                "the border is not uniform: only {:.0} % of it is within {BORDER_MATCH:.0} of its median colour (needs {:.0} %)",
                border.uniform_share * 100.0,
                UNIFORM_SHARE * 100.0
            );
            return Ok(Self {
                cutout: flat,
                report: report(CutoutDecision::Panel, reason, None),
            });
        }
        let tolerance = (border.p90_distance + 12.0).clamp(18.0, 48.0);
        let cut = remove_backdrop(&flat, border.color, tolerance);
        let total = n;
        let kept = cut.pixels().filter(|p| p.0[3] >= 128).count() as f32 / total;
        if kept < 0.005 {
            let reason = format!(
                "the border is uniform, but removing its colour leaves only {:.1} % of the photo (a product the colour of its backdrop?)",
                kept * 100.0
            );
            return Ok(Self {
                cutout: flat,
                report: report(CutoutDecision::Panel, reason, None),
            });
        }
        if kept > 0.95 {
            let reason = format!(
                "the border is uniform, but the backdrop is only {:.1} % of the photo: the product fills the frame",
                (1.0 - kept) * 100.0
            );
            return Ok(Self {
                cutout: flat,
                report: report(CutoutDecision::Panel, reason, None),
            });
        }
        let reason = format!(
            "{:.0} % of the border is within {BORDER_MATCH:.0} of one colour: a studio backdrop, removed by a flood fill (tolerance {tolerance:.0}) leaving {:.0} % of the photo",
            border.uniform_share * 100.0,
            kept * 100.0
        );
        Ok(Self {
            cutout: trim_to_alpha(&cut),
            report: report(
                CutoutDecision::RemovedBackground,
                reason,
                Some(border.color),
            ),
        })
    }

    /// The decision made for this photo.
    pub fn decision(&self) -> CutoutDecision {
        self.report.decision
    }

    /// The decision with its reason, for provenance.
    pub fn report(&self) -> &CutoutReport {
        &self.report
    }

    /// The picture that is drawn: the cut-out trimmed to its visible pixels (straight alpha),
    /// or for a panel the whole opaque photo.
    pub fn cutout(&self) -> &RgbaImage {
        &self.cutout
    }
}

/// The photo composited over white, fully opaque.
fn flatten(image: &RgbaImage) -> RgbaImage {
    let mut out = image.clone();
    for p in out.pixels_mut() {
        let a = f32::from(p.0[3]) / 255.0;
        for c in &mut p.0[..3] {
            *c = (f32::from(*c) * a + 255.0 * (1.0 - a)).round() as u8;
        }
        p.0[3] = 255;
    }
    out
}

fn distance(a: [u8; 3], b: [u8; 3]) -> f32 {
    let d = |i: usize| f32::from(a[i]) - f32::from(b[i]);
    (d(0) * d(0) + d(1) * d(1) + d(2) * d(2)).sqrt()
}

/// The colour of a photo's border and how uniform it is.
struct BorderStats {
    /// Per-channel median of the border pixels.
    color: Rgb,
    /// Share of border pixels within [`BORDER_MATCH`] of `color`.
    uniform_share: f32,
    /// 90th percentile of the border pixels' distance from `color`.
    p90_distance: f32,
}

impl BorderStats {
    /// Measures the outer ring of the photo, 1 % of its shorter side thick (at least 1 px).
    fn of(image: &RgbaImage) -> Self {
        let (w, h) = image.dimensions();
        let ring = (w.min(h) / 100).max(1);
        let border: Vec<[u8; 3]> = image
            .enumerate_pixels()
            .filter(|(x, y, _)| *x < ring || *y < ring || *x >= w - ring || *y >= h - ring)
            .map(|(_, _, p)| [p.0[0], p.0[1], p.0[2]])
            .collect();
        let median = |i: usize| {
            let mut hist = [0u32; 256];
            for p in &border {
                hist[usize::from(p[i])] += 1;
            }
            let half = border.len() as u32 / 2;
            let mut acc = 0;
            for (v, count) in hist.iter().enumerate() {
                acc += count;
                if acc > half {
                    return v as u8;
                }
            }
            255
        };
        let color = Rgb([median(0), median(1), median(2)]);
        let mut dists: Vec<f32> = border.iter().map(|p| distance(*p, color.0)).collect();
        dists.sort_by(f32::total_cmp);
        let uniform = dists.iter().filter(|d| **d < BORDER_MATCH).count();
        let p90 = dists[((dists.len() - 1) as f32 * 0.9) as usize];
        Self {
            color,
            uniform_share: uniform as f32 / dists.len().max(1) as f32,
            p90_distance: p90,
        }
    }
}

/// Removes the backdrop of colour `backdrop`: pixels within `tolerance` of it that are
/// connected to the border become transparent; the pixels bordering them get an alpha that
/// ramps with their distance from the backdrop colour (over 30 levels past the tolerance),
/// then the alpha is eroded by a small blur (soft edges without a halo) and the backdrop colour
/// is taken out of the semi-transparent pixels.
fn remove_backdrop(image: &RgbaImage, backdrop: Rgb, tolerance: f32) -> RgbaImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let dist: Vec<f32> = image
        .pixels()
        .map(|p| distance([p.0[0], p.0[1], p.0[2]], backdrop.0))
        .collect();
    let mut background = vec![false; w * h];
    let mut queue = VecDeque::new();
    for y in 0..h {
        for x in 0..w {
            if (x == 0 || y == 0 || x + 1 == w || y + 1 == h) && dist[y * w + x] < tolerance {
                background[y * w + x] = true;
                queue.push_back((x, y));
            }
        }
    }
    while let Some((x, y)) = queue.pop_front() {
        let mut visit = |nx: usize, ny: usize| {
            let i = ny * w + nx;
            if !background[i] && dist[i] < tolerance {
                background[i] = true;
                queue.push_back((nx, ny));
            }
        };
        if x > 0 {
            visit(x - 1, y);
        }
        if x + 1 < w {
            visit(x + 1, y);
        }
        if y > 0 {
            visit(x, y - 1);
        }
        if y + 1 < h {
            visit(x, y + 1);
        }
    }
    // Alpha: 0 on the backdrop, a ramp on the pixels touching it, 1 inside.
    let ramp = 30.0;
    let mut alpha = vec![1.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if background[i] {
                alpha[i] = 0.0;
                continue;
            }
            let touches = (x > 0 && background[i - 1])
                || (x + 1 < w && background[i + 1])
                || (y > 0 && background[i - w])
                || (y + 1 < h && background[i + w]);
            if touches {
                alpha[i] = ((dist[i] - tolerance) / ramp).clamp(0.0, 1.0).max(0.15);
            }
        }
    }
    // Feather: erode the alpha by a box blur whose radius grows with the photo (1 px per 500).
    let radius = (w.max(h) / 500).max(1);
    let blurred = box_blur(&alpha, w, h, radius);
    let mut out = image.clone();
    for (i, p) in out.pixels_mut().enumerate() {
        let mixed = alpha[i];
        if mixed > 0.0 && mixed < 1.0 {
            // An edge pixel mixes product and backdrop: p = a * product + (1 - a) * backdrop.
            // Un-mix it, so that no rim of backdrop colour shows on another background.
            for c in 0..3 {
                let b = f32::from(backdrop.0[c]);
                let v = b + (f32::from(p.0[c]) - b) / mixed.max(0.25);
                p.0[c] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
        p.0[3] = (mixed.min(blurred[i]) * 255.0).round() as u8;
    }
    out
}

/// A separable box blur of a `w` x `h` field with the given radius (edges clamped).
pub(crate) fn box_blur(field: &[f32], w: usize, h: usize, radius: usize) -> Vec<f32> {
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0.0f32; w * h];
        let (outer, inner) = if horizontal { (h, w) } else { (w, h) };
        let at = |o: usize, i: usize| if horizontal { o * w + i } else { i * w + o };
        for o in 0..outer {
            let mut sum = 0.0f32;
            let r = radius as isize;
            for k in -r..=r {
                sum += src[at(o, k.clamp(0, inner as isize - 1) as usize)];
            }
            for i in 0..inner {
                out[at(o, i)] = sum / (2 * radius + 1) as f32;
                let add = (i as isize + r + 1).min(inner as isize - 1) as usize;
                let sub = (i as isize - r).max(0) as usize;
                sum += src[at(o, add)] - src[at(o, sub)];
            }
        }
        out
    };
    pass(&pass(field, true), false)
}

/// Crops an image to the bounding box of its pixels with alpha above 8 (the whole image when
/// none is).
fn trim_to_alpha(image: &RgbaImage) -> RgbaImage {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in image.enumerate_pixels() {
        if p.0[3] > 8 {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x + 1);
            y1 = y1.max(y + 1);
        }
    }
    if x0 >= x1 {
        return image.clone();
    }
    imageops::crop_imm(image, x0, y0, x1 - x0, y1 - y0).to_image()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    /// A red bottle (body, shoulder, neck) on a studio-white backdrop with a faint vertical
    /// gradient, like a packshot.
    fn red_bottle_on_white() -> RgbaImage {
        RgbaImage::from_fn(400, 500, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            let body = (140.0..260.0).contains(&fx) && (180.0..450.0).contains(&fy);
            let shoulder = ((fx - 200.0).powi(2) / 60.0f32.powi(2)
                + (fy - 180.0).powi(2) / 50.0f32.powi(2))
                <= 1.0;
            let neck = (180.0..220.0).contains(&fx) && (70.0..150.0).contains(&fy);
            if body || shoulder || neck {
                Rgba([200, 24, 30, 255])
            } else {
                let v = 250 - (y / 100) as u8;
                Rgba([v, v, v, 255])
            }
        })
    }

    #[test]
    fn studio_packshot_loses_its_backdrop_with_soft_edges() {
        let photo = red_bottle_on_white();
        let product = ProductImage::prepare(&photo).unwrap();
        assert_eq!(
            product.decision(),
            CutoutDecision::RemovedBackground,
            "{}",
            product.report().reason
        );
        let cut = product.cutout();
        // Trimmed to the bottle: 120 px wide (140..260), 380 px tall (70..450), give or take
        // the feathered edge.
        assert!((116..=124).contains(&cut.width()), "{}", cut.width());
        assert!((376..=384).contains(&cut.height()), "{}", cut.height());
        // The corners of the trimmed box (beside the neck) are backdrop: transparent.
        assert!(cut.get_pixel(2, 2).0[3] == 0);
        assert!(cut.get_pixel(cut.width() - 3, 2).0[3] == 0);
        // The body is opaque and red.
        let mid = cut.get_pixel(cut.width() / 2, cut.height() * 3 / 4).0;
        assert_eq!(mid[3], 255);
        assert!(mid[0] > 180 && mid[1] < 60);
        // Soft edges: some pixels are semi-transparent, and none of them is whitish (the
        // backdrop colour is taken out of them).
        let soft: Vec<_> = cut
            .pixels()
            .filter(|p| p.0[3] > 10 && p.0[3] < 245)
            .collect();
        assert!(soft.len() > 200, "{} soft pixels", soft.len());
        assert!(soft.iter().all(|p| p.0[1] < 120), "halo of backdrop colour");
        let report = serde_json::to_value(product.report()).unwrap();
        assert_eq!(report["decision"], "removed_background");
        assert!(report["backdrop"].as_str().unwrap().starts_with("#f"));
    }

    #[test]
    fn noisy_photo_is_set_in_a_panel() {
        let mut state = 12345u32;
        let photo = RgbaImage::from_fn(300, 200, |x, y| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let n = (state >> 24) as u8;
            let red = (100..200).contains(&x) && (50..150).contains(&y);
            if red {
                Rgba([220, 30, 30, 255])
            } else {
                Rgba([n, n / 2 + 60, 255 - n, 255])
            }
        });
        let product = ProductImage::prepare(&photo).unwrap();
        assert_eq!(product.decision(), CutoutDecision::Panel);
        assert!(product.report().reason.contains("not uniform"));
        // A panel is the whole photo, opaque.
        assert_eq!(product.cutout().dimensions(), (300, 200));
        assert!(product.cutout().pixels().all(|p| p.0[3] == 255));
    }

    #[test]
    fn rgba_png_keeps_its_alpha() {
        // A green circle on a transparent canvas, round-tripped through PNG.
        let img = RgbaImage::from_fn(200, 200, |x, y| {
            let d = ((x as f32 - 100.0).powi(2) + (y as f32 - 120.0).powi(2)).sqrt();
            let a = (60.0 - d).clamp(0.0, 1.0);
            Rgba([20, 160, 60, (a * 255.0) as u8])
        });
        let mut png = Vec::new();
        image::DynamicImage::ImageRgba8(img)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let decoded = super::super::decode_image(&png).unwrap();
        let product = ProductImage::prepare(&decoded).unwrap();
        assert_eq!(product.decision(), CutoutDecision::KeptAlpha);
        // Trimmed to the circle: about 120 px square.
        let (w, h) = product.cutout().dimensions();
        assert!(
            (118..=122).contains(&w) && (118..=122).contains(&h),
            "{w}x{h}"
        );
    }

    #[test]
    fn product_the_colour_of_its_backdrop_falls_back_to_a_panel() {
        let photo = RgbaImage::from_pixel(120, 80, Rgba([240, 240, 240, 255]));
        let product = ProductImage::prepare(&photo).unwrap();
        assert_eq!(product.decision(), CutoutDecision::Panel);
    }

    #[test]
    fn tiny_or_transparent_photos_are_refused() {
        let tiny = RgbaImage::from_pixel(20, 200, Rgba([0, 0, 0, 255]));
        assert!(matches!(
            ProductImage::prepare(&tiny),
            Err(ComposeError::BadProduct(_))
        ));
        let clear = RgbaImage::from_pixel(64, 64, Rgba([0, 0, 0, 0]));
        assert!(matches!(
            ProductImage::prepare(&clear),
            Err(ComposeError::BadProduct(_))
        ));
    }

    #[test]
    fn large_photos_are_worked_at_a_bounded_size() {
        let photo = RgbaImage::from_fn(3200, 1000, |x, y| {
            if (1400..1800).contains(&x) && (100..900).contains(&y) {
                Rgba([30, 30, 200, 255])
            } else {
                Rgba([255, 255, 255, 255])
            }
        });
        let product = ProductImage::prepare(&photo).unwrap();
        assert_eq!(product.decision(), CutoutDecision::RemovedBackground);
        assert_eq!(product.report().source_width, 3200);
        // The block is 800 px tall, scaled by 0.5 (give or take the resampling filter's edge).
        assert!((398..=404).contains(&product.cutout().height()));
    }
}
