//! Backgrounds: a full-bleed image cropped around its salient area, a product over a designed
//! background or a picture, or a background designed from the brand colours alone (gradient and
//! shapes).

use image::imageops::{self, FilterType};
use image::RgbaImage;

use super::brand::BrandStyle;
use super::color::Rgb;
use super::cutout::ProductImage;
use super::paint;
use super::rect::Rect;

/// What goes behind the copy.
#[derive(Debug, Clone)]
pub enum Background {
    /// A full-bleed picture (a diffusion output or a photo): scaled to cover the canvas and
    /// cropped so that its salient area lands in the layout's visual region.
    Image(RgbaImage),
    /// A product photo (cut out once by [`ProductImage::prepare`]) drawn with a soft shadow in
    /// the layout's product slot, over `backdrop`.
    Product {
        /// The prepared product.
        product: ProductImage,
        /// What goes behind it.
        backdrop: ProductBackdrop,
    },
    /// No picture: a background designed from the brand colours (gradient and shapes).
    Designed,
}

/// What goes behind a product.
#[derive(Debug, Clone)]
pub enum ProductBackdrop {
    /// A background designed from the brand colours, with its accent shapes behind the product.
    Designed,
    /// A picture without the product (e.g. painted from a prompt), scaled and cropped around
    /// its salient area like [`Background::Image`]; the product is drawn over it.
    Picture(RgbaImage),
    /// A picture painted at exactly this creative's size around the product as placed by
    /// [`product_canvas`](super::product_canvas): used as is, the product is not drawn again.
    Scene(RgbaImage),
}

/// Longest side of the map the saliency is computed on.
const SALIENCY_SIDE: u32 = 160;

/// A per-pixel saliency map of a downscaled copy of an image, with its integral image.
pub(crate) struct Saliency {
    width: usize,
    height: usize,
    /// Source pixels per map pixel.
    scale_x: f32,
    scale_y: f32,
    /// Normalised colour distance from the mean border colour (foreground against backdrop).
    foreground: Vec<f32>,
    integral: Vec<f64>,
}

impl Saliency {
    /// Saliency = squared colour distance from the image's mean colour (rare colours), plus half
    /// the colour distance from the mean border colour (things that stand out from the
    /// backdrop), plus a quarter of the gradient magnitude (edges, texture), each normalised.
    pub fn of(image: &RgbaImage) -> Self {
        let (iw, ih) = image.dimensions();
        let k = (SALIENCY_SIDE as f32 / iw.max(ih) as f32).min(1.0);
        let w = ((iw as f32 * k).round() as u32).max(1);
        let h = ((ih as f32 * k).round() as u32).max(1);
        let small = imageops::resize(image, w, h, FilterType::Triangle);
        let (wu, hu) = (w as usize, h as usize);
        let rgb: Vec<[f32; 3]> = small
            .pixels()
            .map(|p| [f32::from(p.0[0]), f32::from(p.0[1]), f32::from(p.0[2])])
            .collect();
        let lum: Vec<f32> = rgb
            .iter()
            .map(|c| 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2])
            .collect();
        // Mean border colour.
        let mut border = [0.0f32; 3];
        let mut n = 0.0;
        for y in 0..hu {
            for x in 0..wu {
                if x == 0 || y == 0 || x + 1 == wu || y + 1 == hu {
                    for i in 0..3 {
                        border[i] += rgb[y * wu + x][i];
                    }
                    n += 1.0;
                }
            }
        }
        for b in &mut border {
            *b /= n;
        }
        // Mean colour of the whole image.
        let mut mean = [0.0f32; 3];
        for c in &rgb {
            for i in 0..3 {
                mean[i] += c[i] / rgb.len() as f32;
            }
        }
        let mut outlier = vec![0.0f32; wu * hu];
        let mut grad = vec![0.0f32; wu * hu];
        let mut dist = vec![0.0f32; wu * hu];
        let at = |x: isize, y: isize| {
            let x = x.clamp(0, wu as isize - 1) as usize;
            let y = y.clamp(0, hu as isize - 1) as usize;
            lum[y * wu + x]
        };
        for y in 0..hu {
            for x in 0..wu {
                let (xi, yi) = (x as isize, y as isize);
                let gx = at(xi + 1, yi - 1) + 2.0 * at(xi + 1, yi) + at(xi + 1, yi + 1)
                    - at(xi - 1, yi - 1)
                    - 2.0 * at(xi - 1, yi)
                    - at(xi - 1, yi + 1);
                let gy = at(xi - 1, yi + 1) + 2.0 * at(xi, yi + 1) + at(xi + 1, yi + 1)
                    - at(xi - 1, yi - 1)
                    - 2.0 * at(xi, yi - 1)
                    - at(xi + 1, yi - 1);
                grad[y * wu + x] = (gx * gx + gy * gy).sqrt();
                let c = rgb[y * wu + x];
                dist[y * wu + x] = ((c[0] - border[0]).powi(2)
                    + (c[1] - border[1]).powi(2)
                    + (c[2] - border[2]).powi(2))
                .sqrt();
                outlier[y * wu + x] =
                    (c[0] - mean[0]).powi(2) + (c[1] - mean[1]).powi(2) + (c[2] - mean[2]).powi(2);
            }
        }
        let norm = |v: &mut Vec<f32>| {
            let max = v.iter().copied().fold(0.0f32, f32::max);
            if max > 0.0 {
                v.iter_mut().for_each(|x| *x /= max);
            }
        };
        norm(&mut grad);
        norm(&mut dist);
        norm(&mut outlier);
        // Colours far from the image's mean colour (squared distance, so rare colours dominate)
        // and from the border colour are what the eye goes to; edges and texture count less.
        let values: Vec<f32> = (0..wu * hu)
            .map(|i| outlier[i] + 0.5 * dist[i] + 0.25 * grad[i])
            .collect();
        let mut integral = vec![0.0f64; (wu + 1) * (hu + 1)];
        for y in 0..hu {
            let mut row = 0.0f64;
            for x in 0..wu {
                row += f64::from(values[y * wu + x]);
                integral[(y + 1) * (wu + 1) + x + 1] = integral[y * (wu + 1) + x + 1] + row;
            }
        }
        Self {
            width: wu,
            height: hu,
            scale_x: iw as f32 / w as f32,
            scale_y: ih as f32 / h as f32,
            foreground: dist,
            integral,
        }
    }

    /// Sum of saliency inside a rectangle given in source-image pixels (clamped).
    pub fn sum(&self, x0: f32, y0: f32, x1: f32, y1: f32) -> f64 {
        let cx = |v: f32| ((v / self.scale_x).round().max(0.0) as usize).min(self.width);
        let cy = |v: f32| ((v / self.scale_y).round().max(0.0) as usize).min(self.height);
        let (a, b, c, d) = (cx(x0), cy(y0), cx(x1), cy(y1));
        if c <= a || d <= b {
            return 0.0;
        }
        let w1 = self.width + 1;
        self.integral[d * w1 + c] - self.integral[b * w1 + c] - self.integral[d * w1 + a]
            + self.integral[b * w1 + a]
    }

    /// Bounding box (source pixels) of the foreground: map pixels whose colour distance from
    /// the border colour is above `fraction` of the largest.
    pub fn foreground_bounds(&self, fraction: f32) -> Option<(f32, f32, f32, f32)> {
        let max = self.foreground.iter().copied().fold(0.0f32, f32::max);
        if max <= 0.0 {
            return None;
        }
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for y in 0..self.height {
            for x in 0..self.width {
                if self.foreground[y * self.width + x] >= fraction * max {
                    x0 = x0.min(x);
                    y0 = y0.min(y);
                    x1 = x1.max(x + 1);
                    y1 = y1.max(y + 1);
                }
            }
        }
        (x0 < x1).then_some((
            x0 as f32 * self.scale_x,
            y0 as f32 * self.scale_y,
            x1 as f32 * self.scale_x,
            y1 as f32 * self.scale_y,
        ))
    }
}

/// Zoom levels tried beyond the covering scale.
const ZOOMS: [f32; 4] = [1.0, 1.15, 1.3, 1.5];
/// Offsets tried along each free axis, per zoom level.
const CROP_STEPS: usize = 24;

/// Scales `image` to cover a `width` x `height` canvas (zooming in up to 1.5x more when that
/// helps) and crops it so that the salient area lands in `focus` (canvas coordinates) and as
/// little of it as possible lands elsewhere (behind the copy).
///
/// Score of a window, in shares of the whole image's saliency: inside focus, minus half of what
/// falls in the window outside focus, minus 0.15 per unit of extra zoom.
pub(crate) fn smart_crop(image: &RgbaImage, width: u32, height: u32, focus: &Rect) -> RgbaImage {
    let (iw, ih) = (image.width() as f32, image.height() as f32);
    let cover = (width as f32 / iw).max(height as f32 / ih);
    let saliency = Saliency::of(image);
    let total = saliency.sum(0.0, 0.0, iw, ih).max(1e-9);
    // (offset x, offset y, window w, window h, score)
    let mut best = (0.0f32, 0.0f32, iw, ih, f64::NEG_INFINITY);
    for zoom in ZOOMS {
        let s = cover * zoom;
        let (ww, wh) = ((width as f32 / s).min(iw), (height as f32 / s).min(ih));
        let (free_x, free_y) = (iw - ww, ih - wh);
        let steps_x = if free_x > 0.5 { CROP_STEPS } else { 0 };
        let steps_y = if free_y > 0.5 { CROP_STEPS } else { 0 };
        for i in 0..=steps_x {
            for j in 0..=steps_y {
                let tx = if steps_x == 0 {
                    0.5
                } else {
                    i as f32 / steps_x as f32
                };
                let ty = if steps_y == 0 {
                    0.5
                } else {
                    j as f32 / steps_y as f32
                };
                let (ox, oy) = (free_x * tx, free_y * ty);
                let inside = saliency.sum(
                    ox + focus.x as f32 / s,
                    oy + focus.y as f32 / s,
                    ox + focus.right() as f32 / s,
                    oy + focus.bottom() as f32 / s,
                );
                let window = saliency.sum(ox, oy, ox + ww, oy + wh);
                let outside = (window - inside).max(0.0);
                // Prefer the centred window when scores tie (flat images).
                let centred = ((tx - 0.5).abs() + (ty - 0.5).abs()) as f64 * 1e-6;
                let score =
                    (inside - 0.5 * outside) / total - 0.15 * f64::from(zoom - 1.0) - centred;
                if score > best.4 {
                    best = (ox, oy, ww, wh, score);
                }
            }
        }
    }
    let (ox, oy) = (best.0.round() as u32, best.1.round() as u32);
    let ox = ox.min(image.width() - 1);
    let oy = oy.min(image.height() - 1);
    let cw = (best.2.round() as u32).clamp(1, image.width() - ox);
    let ch = (best.3.round() as u32).clamp(1, image.height() - oy);
    let cropped = imageops::crop_imm(image, ox, oy, cw, ch).to_image();
    imageops::resize(&cropped, width, height, FilterType::CatmullRom)
}

/// Paints the brand-designed background: a diagonal gradient between the brand's primary and
/// secondary colours, with two soft circles and a band in the accent colour.
pub(crate) fn paint_designed(canvas: &mut RgbaImage, brand: &BrandStyle, visual: &Rect) {
    let (w, h) = (canvas.width() as f32, canvas.height() as f32);
    let primary = brand.primary();
    let secondary = brand.secondary();
    let accent = brand.accent();
    paint::linear_gradient(canvas, primary, secondary, w, h * 0.6);
    let min_side = w.min(h);
    let big = min_side * if h <= 100.0 { 1.2 } else { 0.9 };
    // A large soft circle anchored on the visual region, a smaller one in the opposite corner.
    let vx = visual.x as f32 + visual.width as f32 * 0.7;
    let vy = visual.y as f32 + visual.height as f32 * 0.4;
    paint::fill_circle(canvas, vx, vy, big * 0.6, accent, 0.22);
    paint::fill_circle(
        canvas,
        vx - big * 0.35,
        vy + big * 0.3,
        big * 0.3,
        Rgb::WHITE,
        0.10,
    );
    paint::fill_circle(
        canvas,
        w * 0.04,
        h * 1.02,
        min_side * 0.45,
        secondary.mix(Rgb::WHITE, 0.3),
        0.18,
    );
    // A thin accent band along the bottom edge.
    let band = ((h * 0.025).round() as u32).clamp(2, 24);
    let r = Rect::new(
        0,
        canvas.height() as i32 - band as i32,
        canvas.width(),
        band,
    );
    paint::fill_rounded_rect(canvas, &r, 0.0, accent, 0.85);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_crop_keeps_the_salient_object() {
        // A wide grey image with a red square near the right edge.
        let mut img = RgbaImage::from_pixel(400, 100, image::Rgba([128, 128, 128, 255]));
        for y in 30..70 {
            for x in 320..360 {
                img.put_pixel(x, y, image::Rgba([220, 20, 20, 255]));
            }
        }
        let out = smart_crop(&img, 100, 100, &Rect::new(0, 0, 100, 100));
        let reds = out.pixels().filter(|p| p.0[0] > 180 && p.0[1] < 80).count();
        assert!(reds > 1000, "red object cropped away: {reds}");
    }
}
