//! Image expansion without a model: deriving another aspect ratio of a picture (1:1 to 1.91:1 or
//! 9:16) by a smart crop that keeps its salient region, then extending the rest with a designed
//! background grown from the picture's own edges, instead of cropping the product away.
//!
//! With a diffusion model the margins are outpainted instead; [`ExpansionPlan`] says where the
//! kept part of the picture lands, so both paths place the picture the same way.

use image::imageops::{self, FilterType};
use image::{Rgba, RgbaImage};

use super::background::Saliency;
use super::brand::BrandStyle;
use super::color::Rgb;
use super::cutout::box_blur;
use super::rect::Rect;

/// Aspect ratios closer than this factor are matched by a plain smart crop.
const CROP_ONLY_RATIO: f32 = 1.3;

/// How a picture is set on a canvas of another aspect ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpansionPlan {
    /// The window of the source picture that is kept (source pixels).
    pub crop: Rect,
    /// Where that window lands on the target canvas (scaled); the rest of the canvas is new
    /// margin, to be painted or designed.
    pub placed: Rect,
}

impl ExpansionPlan {
    /// Plans the expansion of `image` to `width` x `height`: the picture is cropped along the
    /// axis that is too long, as far as its salient region (with an 8 % margin) allows, then
    /// scaled to fill the other axis and centred; what it does not cover is margin. For aspect
    /// ratios within 1.3x of each other the whole canvas is covered by a smart crop.
    pub fn of(image: &RgbaImage, width: u32, height: u32) -> Self {
        let (iw, ih) = (image.width().max(1) as f32, image.height().max(1) as f32);
        let (w, h) = (width.max(1) as f32, height.max(1) as f32);
        let target = w / h;
        let source = iw / ih;
        let saliency = Saliency::of(image);
        let (sx0, sy0, sx1, sy1) = saliency
            .foreground_bounds(0.25)
            .unwrap_or((0.0, 0.0, iw, ih));
        let (mx, my) = ((sx1 - sx0) * 0.08, (sy1 - sy0) * 0.08);
        let (sx0, sy0) = ((sx0 - mx).max(0.0), (sy0 - my).max(0.0));
        let (sx1, sy1) = ((sx1 + mx).min(iw), (sy1 + my).min(ih));
        let close = (target / source).max(source / target) < CROP_ONLY_RATIO;
        let centred = |lo: f32, hi: f32, len: f32, total: f32| {
            (((lo + hi) / 2.0 - len / 2.0).max(0.0)).min(total - len)
        };
        let (crop, placed) = if target > source {
            // Wider target: keep the full width, crop the height down towards w/h.
            let ch = if close {
                iw / target
            } else {
                (iw / target).max(sy1 - sy0)
            }
            .min(ih);
            let cy = centred(sy0, sy1, ch, ih);
            let s = h / ch;
            let pw = (iw * s).min(w);
            ((0.0, cy, iw, ch), ((w - pw) / 2.0, 0.0, pw, h))
        } else {
            let cw = if close {
                ih * target
            } else {
                (ih * target).max(sx1 - sx0)
            }
            .min(iw);
            let cx = centred(sx0, sx1, cw, iw);
            let s = w / cw;
            let ph = (ih * s).min(h);
            ((cx, 0.0, cw, ih), (0.0, (h - ph) / 2.0, w, ph))
        };
        let rect = |(x, y, rw, rh): (f32, f32, f32, f32)| {
            Rect::new(
                x.round() as i32,
                y.round() as i32,
                (rw.round() as u32).max(1),
                (rh.round() as u32).max(1),
            )
        };
        let mut placed = rect(placed);
        if close {
            placed = Rect::new(0, 0, width, height);
        }
        Self {
            crop: rect(crop),
            placed,
        }
    }

    /// Whether the picture covers the whole canvas (no margin to fill).
    pub fn covers(&self, width: u32, height: u32) -> bool {
        self.placed == Rect::new(0, 0, width, height)
    }
}

/// Expands `image` to `width` x `height` without a model: the picture placed as
/// [`ExpansionPlan::of`] says, its margins filled with a designed extension of its edges: each
/// row (or column) continues the blurred colour of the picture's outermost strip, fading towards
/// a mix of the edge's mean colour and the brand's primary colour, with a soft seam.
pub fn expand_designed(
    image: &RgbaImage,
    width: u32,
    height: u32,
    brand: &BrandStyle,
) -> RgbaImage {
    if image.width() == 0 || image.height() == 0 {
        return RgbaImage::from_pixel(width, height, brand.primary().with_alpha(255));
    }
    let plan = ExpansionPlan::of(image, width, height);
    let c = plan.crop;
    let window = imageops::crop_imm(image, c.x as u32, c.y as u32, c.width, c.height).to_image();
    if plan.covers(width, height) {
        return imageops::resize(&window, width, height, FilterType::CatmullRom);
    }
    let p = plan.placed;
    let picture = imageops::resize(&window, p.width, p.height, FilterType::CatmullRom);
    let mut canvas = RgbaImage::new(width, height);
    let horizontal = p.width < width;
    // Edge profiles: for each row (horizontal extension) or column (vertical), the mean colour
    // of the outermost strip on each side, blurred along the edge.
    let (len, thick) = if horizontal {
        (p.height as usize, (p.width / 30).max(4).min(p.width))
    } else {
        (p.width as usize, (p.height / 30).max(4).min(p.height))
    };
    let profile = |far: bool| -> Vec<[f32; 3]> {
        let mut out = vec![[0.0f32; 3]; len];
        for (i, o) in out.iter_mut().enumerate() {
            let mut sum = [0.0f32; 3];
            for k in 0..thick {
                let (x, y) = match (horizontal, far) {
                    (true, false) => (k, i as u32),
                    (true, true) => (p.width - 1 - k, i as u32),
                    (false, false) => (i as u32, k),
                    (false, true) => (i as u32, p.height - 1 - k),
                };
                let px = picture.get_pixel(x, y).0;
                for ch in 0..3 {
                    sum[ch] += f32::from(px[ch]);
                }
            }
            *o = sum.map(|v| v / thick as f32);
        }
        let radius = (len / 20).max(1);
        let channels: Vec<Vec<f32>> = (0..3)
            .map(|ch| {
                let field: Vec<f32> = out.iter().map(|c| c[ch]).collect();
                box_blur(&box_blur(&field, len, 1, radius), len, 1, radius)
            })
            .collect();
        (0..len)
            .map(|i| [channels[0][i], channels[1][i], channels[2][i]])
            .collect()
    };
    let near = profile(false);
    let far = profile(true);
    let mean = |prof: &[[f32; 3]]| {
        let mut m = [0.0f32; 3];
        for c in prof {
            for ch in 0..3 {
                m[ch] += c[ch] / prof.len() as f32;
            }
        }
        Rgb(m.map(|v| v.round() as u8)).mix(brand.primary(), 0.35)
    };
    let (near_base, far_base) = (mean(&near), mean(&far));
    let margin_near = if horizontal { p.x } else { p.y }.max(1) as f32;
    let total = if horizontal { width } else { height } as i32;
    let (p_lo, p_hi) = if horizontal {
        (p.x, p.right())
    } else {
        (p.y, p.bottom())
    };
    let margin_far = (total - p_hi).max(1) as f32;
    let smooth = |t: f32| {
        let t = t.clamp(0.0, 1.0);
        t * t * (3.0 - 2.0 * t)
    };
    for (x, y, px) in canvas.enumerate_pixels_mut() {
        let (along, across) = if horizontal {
            (y as i32 - p.y, x as i32)
        } else {
            (x as i32 - p.x, y as i32)
        };
        let i = along.clamp(0, len as i32 - 1) as usize;
        let (edge, base, t) = if across < p_lo {
            (near[i], near_base, (p_lo - across) as f32 / margin_near)
        } else if across >= p_hi {
            (far[i], far_base, (across - p_hi + 1) as f32 / margin_far)
        } else {
            continue;
        };
        let edge = Rgb(edge.map(|v| v.round().clamp(0.0, 255.0) as u8));
        *px = edge.mix(base, smooth(t) * 0.8).with_alpha(255);
    }
    // The picture, with a soft seam: its outermost pixels fade into the edge colour.
    let seam = ((if horizontal { p.width } else { p.height }) as f32 * 0.03).max(4.0);
    for (ix, iy, q) in picture.enumerate_pixels() {
        let (along, across) = if horizontal { (iy, ix) } else { (ix, iy) };
        let extent = if horizontal { p.width } else { p.height };
        let from_near = across as f32;
        let from_far = (extent - 1 - across) as f32;
        let (d, edge) = if from_near <= from_far {
            (from_near, near[along as usize])
        } else {
            (from_far, far[along as usize])
        };
        let w = if d < seam {
            (1.0 - d / seam) * 0.6
        } else {
            0.0
        };
        let mut out = [0u8; 4];
        for ch in 0..3 {
            out[ch] = (f32::from(q.0[ch]) * (1.0 - w) + edge[ch] * w).round() as u8;
        }
        out[3] = 255;
        let (cx, cy) = (p.x + ix as i32, p.y + iy as i32);
        if cx >= 0 && cy >= 0 && (cx as u32) < width && (cy as u32) < height {
            // Pictures with transparency show the extension behind them.
            let a = f32::from(q.0[3]) / 255.0;
            let under = canvas.get_pixel(cx as u32, cy as u32).0;
            for ch in 0..3 {
                out[ch] = (f32::from(out[ch]) * a + f32::from(under[ch]) * (1.0 - a)).round() as u8;
            }
            canvas.put_pixel(cx as u32, cy as u32, Rgba(out));
        }
    }
    canvas
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A square picture: a warm gradient with a red product in the middle, spanning most of its
    /// height.
    fn square() -> RgbaImage {
        with_product(170..230, 60..360)
    }

    fn with_product(xs: std::ops::Range<u32>, ys: std::ops::Range<u32>) -> RgbaImage {
        RgbaImage::from_fn(400, 400, |x, y| {
            if xs.contains(&x) && ys.contains(&y) {
                Rgba([210, 30, 40, 255])
            } else {
                Rgba([240, (200 + y / 8) as u8, 170, 255])
            }
        })
    }

    fn brand() -> BrandStyle {
        BrandStyle::with_colors(vec![Rgb([20, 50, 90]), Rgb([200, 120, 40])])
    }

    fn reds(img: &RgbaImage) -> usize {
        img.pixels()
            .filter(|p| p.0[0] > 180 && p.0[1] < 70 && p.0[2] < 80)
            .count()
    }

    #[test]
    fn square_to_wide_keeps_the_whole_product() {
        let src = square();
        let (w, h) = (1200, 628);
        let plan = ExpansionPlan::of(&src, w, h);
        // A plain cover crop would keep only 209 of the 400 rows and cut the 300 px product;
        // the plan keeps every row of it.
        assert!(plan.crop.y <= 60 && plan.crop.bottom() >= 360, "{plan:?}");
        assert!(!plan.covers(w, h));
        let out = expand_designed(&src, w, h, &brand());
        assert_eq!(out.dimensions(), (w, h));
        // The product's 60x300 px scaled by 628 / crop height, all of it visible.
        let scale = h as f32 / plan.crop.height as f32;
        let expected = 60.0 * 300.0 * scale * scale;
        let got = reds(&out) as f32;
        assert!(got > expected * 0.9, "{got} red px of {expected}");
        // The margins are filled (no transparent or black pixels) and continue the edges: the
        // leftmost column is close to the picture's edge colour mixed towards the brand.
        assert!(out.pixels().all(|p| p.0[3] == 255));
        let left = out.get_pixel(0, 314).0;
        assert!(left[0] > 90, "{left:?}");
    }

    #[test]
    fn square_to_story_extends_top_and_bottom() {
        // A wide product (240 of the 400 columns): a 9:16 crop (225 columns) would cut it.
        let src = with_product(80..320, 150..250);
        let plan = ExpansionPlan::of(&src, 1080, 1920);
        assert!(plan.crop.x <= 80 && plan.crop.right() >= 320, "{plan:?}");
        assert!(plan.placed.y > 0 && plan.placed.width == 1080, "{plan:?}");
        let out = expand_designed(&src, 1080, 1920, &brand());
        assert_eq!(out.dimensions(), (1080, 1920));
        let scale = 1080.0 / plan.crop.width as f32;
        let expected = 240.0 * 100.0 * scale * scale;
        assert!(
            reds(&out) as f32 > 0.9 * expected,
            "{} of {expected}",
            reds(&out)
        );
        // Top and bottom margins are filled, opaque.
        assert!(out.pixels().all(|p| p.0[3] == 255));
    }

    #[test]
    fn narrow_product_to_story_is_a_crop_that_keeps_it() {
        let src = square();
        let plan = ExpansionPlan::of(&src, 1080, 1920);
        assert!(plan.covers(1080, 1920), "{plan:?}");
        assert!(plan.crop.x <= 170 && plan.crop.right() >= 230, "{plan:?}");
        let out = expand_designed(&src, 1080, 1920, &brand());
        assert!(reds(&out) > 60 * 300 * 20);
    }

    #[test]
    fn close_aspect_ratios_are_a_crop() {
        let src = square();
        let plan = ExpansionPlan::of(&src, 1080, 1350);
        assert!(plan.covers(1080, 1350));
        let out = expand_designed(&src, 1080, 1350, &brand());
        assert_eq!(out.dimensions(), (1080, 1350));
        assert!(reds(&out) > 100_000);
    }
}
