//! Painting primitives on an RGBA canvas: source-over blending, anti-aliased rounded
//! rectangles and circles, gradients and image placement.

use image::{Rgba, RgbaImage};

use super::color::Rgb;
use super::mask::CoverageMask;
use super::rect::Rect;

/// Blends `color` with opacity `alpha` (0..=1) over the opaque pixel at (`x`, `y`); pixels
/// outside the canvas are ignored.
pub(crate) fn blend(canvas: &mut RgbaImage, x: i32, y: i32, color: Rgb, alpha: f32) {
    if x < 0 || y < 0 || x >= canvas.width() as i32 || y >= canvas.height() as i32 || alpha <= 0.0 {
        return;
    }
    let a = alpha.min(1.0);
    let px = canvas.get_pixel_mut(x as u32, y as u32);
    for i in 0..3 {
        let v = f32::from(px.0[i]) * (1.0 - a) + f32::from(color.0[i]) * a;
        px.0[i] = v.round().clamp(0.0, 255.0) as u8;
    }
    px.0[3] = 255;
}

/// Fills the canvas with a linear gradient from `from` to `to` along the direction
/// (`dx`, `dy`) (need not be normalised).
pub(crate) fn linear_gradient(canvas: &mut RgbaImage, from: Rgb, to: Rgb, dx: f32, dy: f32) {
    let (w, h) = (canvas.width() as f32, canvas.height() as f32);
    let len = (dx * dx + dy * dy).sqrt().max(1e-6);
    let (ux, uy) = (dx / len, dy / len);
    // Project the four corners to find the gradient's extent.
    let proj = |x: f32, y: f32| x * ux + y * uy;
    let corners = [proj(0.0, 0.0), proj(w, 0.0), proj(0.0, h), proj(w, h)];
    let lo = corners.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = corners.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for (x, y, px) in canvas.enumerate_pixels_mut() {
        let t = (proj(x as f32 + 0.5, y as f32 + 0.5) - lo) / (hi - lo).max(1e-6);
        let c = from.mix(to, t);
        *px = c.with_alpha(255);
    }
}

/// Coverage (0..=1) of pixel (`x`, `y`) by a rounded rectangle.
pub(crate) fn rounded_rect_coverage(r: &Rect, radius: f32, x: i32, y: i32) -> f32 {
    let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
    let (l, t) = (r.x as f32, r.y as f32);
    let (rt, b) = (r.right() as f32, r.bottom() as f32);
    let radius = radius.min((rt - l) / 2.0).min((b - t) / 2.0).max(0.0);
    let cx = px.clamp(l + radius, rt - radius);
    let cy = py.clamp(t + radius, b - radius);
    let (dx, dy) = (px - cx, py - cy);
    let inside_straight = px >= l && px <= rt && py >= t && py <= b;
    if dx == 0.0 && dy == 0.0 {
        return if inside_straight { 1.0 } else { 0.0 };
    }
    let dist = (dx * dx + dy * dy).sqrt();
    (radius - dist + 0.5).clamp(0.0, 1.0)
}

/// Fills a rounded rectangle (anti-aliased corners) with `color` at opacity `alpha`.
pub(crate) fn fill_rounded_rect(
    canvas: &mut RgbaImage,
    r: &Rect,
    radius: f32,
    color: Rgb,
    alpha: f32,
) {
    for y in r.y..r.bottom() {
        for x in r.x..r.right() {
            let c = rounded_rect_coverage(r, radius, x, y);
            blend(canvas, x, y, color, alpha * c);
        }
    }
}

/// Fills a circle (anti-aliased edge) with `color` at opacity `alpha`.
pub(crate) fn fill_circle(
    canvas: &mut RgbaImage,
    cx: f32,
    cy: f32,
    radius: f32,
    color: Rgb,
    alpha: f32,
) {
    let x0 = (cx - radius - 1.0).floor() as i32;
    let x1 = (cx + radius + 1.0).ceil() as i32;
    let y0 = (cy - radius - 1.0).floor() as i32;
    let y1 = (cy + radius + 1.0).ceil() as i32;
    for y in y0.max(0)..y1.min(canvas.height() as i32) {
        for x in x0.max(0)..x1.min(canvas.width() as i32) {
            let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            let c = (radius - d + 0.5).clamp(0.0, 1.0);
            blend(canvas, x, y, color, alpha * c);
        }
    }
}

/// Draws `image` (with its own alpha) with its top-left corner at (`x`, `y`), optionally
/// clipped to a rounded rectangle.
pub(crate) fn draw_image(
    canvas: &mut RgbaImage,
    image: &RgbaImage,
    x: i32,
    y: i32,
    clip: Option<(&Rect, f32)>,
) {
    for (ix, iy, p) in image.enumerate_pixels() {
        let (cx, cy) = (x + ix as i32, y + iy as i32);
        let mut a = f32::from(p.0[3]) / 255.0;
        if let Some((r, radius)) = clip {
            a *= rounded_rect_coverage(r, radius, cx, cy);
        }
        blend(canvas, cx, cy, Rgb([p.0[0], p.0[1], p.0[2]]), a);
    }
}

/// Paints the covered pixels of `mask` in `color`.
pub(crate) fn draw_coverage(canvas: &mut RgbaImage, mask: &CoverageMask, color: Rgb) {
    for (x, y, c) in mask.covered() {
        blend(canvas, x, y, color, f32::from(c) / 255.0);
    }
}

/// The opaque colour of a canvas pixel.
pub(crate) fn pixel_rgb(p: &Rgba<u8>) -> Rgb {
    Rgb([p.0[0], p.0[1], p.0[2]])
}
