//! Product placement: the product's slot in a layout (grown into the room the copy leaves), the
//! size it is drawn at (never under a legible minimum), and the soft shadow that grounds it.
//!
//! The slot is the template's product region, grown up, down, left and right until it meets a
//! placed text box, the CTA button or the logo (keeping a gap) or the safe area's edge, so the
//! product takes the room the copy does not need. Inside the slot the product is scaled to fit,
//! leaving room for its shadow, at most [`MAX_PRODUCT_UPSCALE`] times its own pixels and at most
//! [`MAX_PRODUCT_SHARE`] of the canvas, then centred horizontally and set a little below the
//! middle (grounded); on compact banners it is centred.

use image::imageops::{self, FilterType};
use image::RgbaImage;

use super::color::Rgb;
use super::cutout::{box_blur, CutoutDecision, ProductImage};
use super::layout::Template;
use super::paint;
use super::rect::Rect;
use super::size::{AdSize, LayoutFamily};

/// Smallest legible product, in pixels: the longer side of the drawn product must reach this
/// and [`MIN_PRODUCT_SHARE_OF_SHORT_SIDE`] of the canvas's shorter side.
pub const MIN_PRODUCT_PX: u32 = 48;
/// Smallest legible product relative to the canvas: its longer side must reach this share of
/// the canvas's shorter side.
pub const MIN_PRODUCT_SHARE_OF_SHORT_SIDE: f32 = 0.2;
/// Smallest shorter side of the drawn product, in pixels (a thinner product reads as a line).
pub const MIN_PRODUCT_THIN_PX: u32 = 12;
/// Largest share of the canvas area the product's box may take.
pub const MAX_PRODUCT_SHARE: f32 = 0.4;
/// Largest enlargement of the product photo's own pixels (more looks blurred).
pub const MAX_PRODUCT_UPSCALE: f32 = 3.0;

/// Where and how the product was drawn in a creative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacedProduct {
    /// The box of the drawn product (its cut-out's bounds, or the panel), shadow excluded.
    pub bounds: Rect,
    /// The slot it was fitted into; the product and its shadow lie inside, and no text box, CTA
    /// button or logo overlaps it.
    pub slot: Rect,
    /// How the photo was separated from its backdrop.
    pub decision: CutoutDecision,
    /// Share of the canvas area taken by `bounds`.
    pub share: f32,
}

/// The product's slot in a laid-out template, or why the size has none.
pub(crate) fn product_slot(
    template: &Template,
    obstacles: &[Rect],
    size: AdSize,
) -> Result<Rect, String> {
    let Some(slot) = template.product_panel else {
        return Err(match size.layout_family() {
            LayoutFamily::Compact => format!(
                "{size}: no room for the product beside the headline and the CTA (compact banners need 468 px of width and a 48 px tall row)"
            ),
            _ => format!("{size}: the layout has no product slot"),
        });
    };
    let gap = product_gap(size);
    let grown = grow(slot, &template.safe, obstacles, gap);
    let clear = |r: &Rect| obstacles.iter().all(|o| !o.inflate(gap - 1).intersects(r));
    if clear(&grown) {
        Ok(grown)
    } else if clear(&slot) {
        Ok(slot)
    } else {
        Err(format!("{size}: the copy takes the product's slot"))
    }
}

/// Gap kept between the product's slot and the copy: 2.5 % of the shorter side, at least 4 px.
fn product_gap(size: AdSize) -> i32 {
    ((size.width.min(size.height) as f32 * 0.025).round() as i32).max(4)
}

/// Grows `slot` inside `bounds` until it meets an obstacle (kept `gap` away): first vertically,
/// then horizontally over the grown height.
fn grow(slot: Rect, bounds: &Rect, obstacles: &[Rect], gap: i32) -> Rect {
    let (mut top, mut bottom) = (bounds.y.min(slot.y), bounds.bottom().max(slot.bottom()));
    for o in obstacles {
        if o.x < slot.right() && slot.x < o.right() {
            if o.bottom() <= slot.y {
                top = top.max(o.bottom() + gap);
            } else if o.y >= slot.bottom() {
                bottom = bottom.min(o.y - gap);
            }
        }
    }
    let (top, bottom) = (top.min(slot.y), bottom.max(slot.bottom()));
    let (mut left, mut right) = (bounds.x.min(slot.x), bounds.right().max(slot.right()));
    for o in obstacles {
        if o.y < bottom && top < o.bottom() {
            if o.right() <= slot.x {
                left = left.max(o.right() + gap);
            } else if o.x >= slot.right() {
                right = right.min(o.x - gap);
            }
        }
    }
    let (left, right) = (left.min(slot.x), right.max(slot.right()));
    Rect::new(left, top, (right - left) as u32, (bottom - top) as u32)
}

/// The box the product is drawn in inside `slot`, or why it would not be legible there.
pub(crate) fn fit_product(
    product: &ProductImage,
    slot: &Rect,
    size: AdSize,
) -> Result<Rect, String> {
    let (cw, ch) = (
        product.cutout().width() as f32,
        product.cutout().height() as f32,
    );
    // Room for the shadow: below and to the right (where it falls), a little on the other sides.
    let pad_x = (slot.width as f32 * 0.04).round() as i32;
    let pad_top = (slot.height as f32 * 0.02).round() as i32;
    let pad_bottom = (slot.height as f32 * 0.06).round() as i32;
    let avail_w = (slot.width as i32 - 2 * pad_x).max(0) as f32;
    let avail_h = (slot.height as i32 - pad_top - pad_bottom).max(0) as f32;
    let canvas_area = size.width as f32 * size.height as f32;
    let k = (avail_w / cw)
        .min(avail_h / ch)
        .min(MAX_PRODUCT_UPSCALE)
        .min((MAX_PRODUCT_SHARE * canvas_area / (cw * ch)).sqrt());
    let dw = (cw * k).round().min(avail_w) as u32;
    let dh = (ch * k).round().min(avail_h) as u32;
    let short = size.width.min(size.height) as f32;
    let min_long = (MIN_PRODUCT_PX as f32).max(short * MIN_PRODUCT_SHARE_OF_SHORT_SIDE);
    if (dw.max(dh) as f32) < min_long || dw.min(dh) < MIN_PRODUCT_THIN_PX {
        return Err(format!(
            "{size}: the product would be drawn at {dw}x{dh} px, under the legible minimum (longer side {min_long:.0} px, shorter side {MIN_PRODUCT_THIN_PX} px)"
        ));
    }
    let x = slot.x + pad_x + ((avail_w - dw as f32) / 2.0).round() as i32;
    let rise = if size.layout_family() == LayoutFamily::Compact {
        0.5
    } else {
        0.7
    };
    let y = slot.y + pad_top + ((avail_h - dh as f32) * rise).round() as i32;
    Ok(Rect::new(x, y, dw, dh))
}

/// The product scaled to `rect` (a panel gets rounded corners when drawn).
fn scaled(product: &ProductImage, rect: &Rect) -> RgbaImage {
    imageops::resize(
        product.cutout(),
        rect.width.max(1),
        rect.height.max(1),
        FilterType::CatmullRom,
    )
}

/// Corner radius of a product panel drawn in `rect`.
fn panel_radius(rect: &Rect) -> f32 {
    (rect.width.min(rect.height) as f32 * 0.06).max(2.0)
}

/// Draws the product's soft shadow, then the product, in `rect`; nothing is drawn outside
/// `slot`.
pub(crate) fn draw_product(
    canvas: &mut RgbaImage,
    product: &ProductImage,
    rect: &Rect,
    slot: &Rect,
) {
    let image = scaled(product, rect);
    let panel = product.decision() == CutoutDecision::Panel;
    draw_shadow(canvas, &image, rect, slot, panel);
    let clip_radius = if panel { panel_radius(rect) } else { 0.0 };
    paint::draw_image(canvas, &image, rect.x, rect.y, Some((rect, clip_radius)));
}

/// A canvas of `size` with only the product drawn (no shadow), transparent elsewhere: the
/// input of background painting around the product.
pub(crate) fn product_layer(product: &ProductImage, rect: &Rect, size: AdSize) -> RgbaImage {
    let mut layer = RgbaImage::new(size.width, size.height);
    let image = scaled(product, rect);
    let panel = product.decision() == CutoutDecision::Panel;
    let radius = if panel { panel_radius(rect) } else { 0.0 };
    for (ix, iy, p) in image.enumerate_pixels() {
        let (x, y) = (rect.x + ix as i32, rect.y + iy as i32);
        if x < 0 || y < 0 || x >= size.width as i32 || y >= size.height as i32 {
            continue;
        }
        let mut q = *p;
        if panel {
            let coverage = paint::rounded_rect_coverage(rect, radius, x, y);
            q.0[3] = (f32::from(q.0[3]) * coverage).round() as u8;
        }
        layer.put_pixel(x as u32, y as u32, q);
    }
    layer
}

/// The shadow grounding the product: a blurred copy of its silhouette (or of the panel) cast a
/// little down and to the right, plus a soft elliptic contact shadow under its base; black,
/// clipped to `slot`.
fn draw_shadow(canvas: &mut RgbaImage, image: &RgbaImage, rect: &Rect, slot: &Rect, panel: bool) {
    let blur = ((rect.height.min(rect.width) as f32 * 0.035).round() as usize).max(1);
    let pad = 3 * blur as i32;
    let (w, h) = (
        rect.width as usize + 2 * pad as usize,
        rect.height as usize + 2 * pad as usize,
    );
    let mut silhouette = vec![0.0f32; w * h];
    let radius = panel_radius(rect);
    for (ix, iy, p) in image.enumerate_pixels() {
        let a = if panel {
            paint::rounded_rect_coverage(rect, radius, rect.x + ix as i32, rect.y + iy as i32)
        } else {
            f32::from(p.0[3]) / 255.0
        };
        silhouette[(iy as usize + pad as usize) * w + ix as usize + pad as usize] = a;
    }
    // Three box blurs approximate a Gaussian.
    let mut soft = silhouette;
    for _ in 0..3 {
        soft = box_blur(&soft, w, h, blur);
    }
    let dx = (rect.width as f32 * 0.02).round() as i32;
    let dy = (rect.height as f32 * 0.03).round() as i32 + 1;
    let origin = (rect.x - pad + dx, rect.y - pad + dy);
    let shadow = Rgb([0, 0, 0]);
    for y in 0..h {
        for x in 0..w {
            let a = soft[y * w + x] * 0.28;
            let (cx, cy) = (origin.0 + x as i32, origin.1 + y as i32);
            if a > 0.002 && slot.contains(cx, cy) {
                paint::blend(canvas, cx, cy, shadow, a);
            }
        }
    }
    // Contact shadow: an ellipse under the base, darkest in the middle.
    let (ex, ey) = (
        rect.x as f32 + rect.width as f32 / 2.0,
        rect.bottom() as f32 - rect.height as f32 * 0.01,
    );
    let rx = rect.width as f32 * 0.48;
    let ry = (rect.height as f32 * 0.035).max(2.0);
    for y in (ey - ry).floor() as i32..=(ey + ry).ceil() as i32 {
        for x in (ex - rx).floor() as i32..=(ex + rx).ceil() as i32 {
            let d = ((x as f32 + 0.5 - ex) / rx).powi(2) + ((y as f32 + 0.5 - ey) / ry).powi(2);
            if d < 1.0 && slot.contains(x, y) {
                paint::blend(canvas, x, y, shadow, 0.3 * (1.0 - d).powf(1.5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    fn bottle() -> ProductImage {
        let photo = RgbaImage::from_fn(200, 300, |x, y| {
            if (70..130).contains(&x) && (40..280).contains(&y) {
                Rgba([30, 90, 160, 255])
            } else {
                Rgba([255, 255, 255, 255])
            }
        });
        ProductImage::prepare(&photo).unwrap()
    }

    #[test]
    fn slot_grows_into_free_room_but_not_over_copy() {
        let safe = Rect::new(10, 10, 280, 230);
        let slot = Rect::new(140, 10, 150, 80);
        // Headline below the slot, logo to its left.
        let obstacles = [Rect::new(10, 150, 280, 40), Rect::new(10, 10, 90, 30)];
        let grown = grow(slot, &safe, &obstacles, 6);
        assert_eq!(grown.bottom(), 150 - 6);
        assert_eq!(grown.x, 100 + 6);
        assert!(obstacles.iter().all(|o| !o.intersects(&grown)));
    }

    #[test]
    fn product_is_fitted_legibly_or_refused_with_a_reason() {
        let product = bottle();
        let size = AdSize::new(300, 250);
        let rect = fit_product(&product, &Rect::new(150, 15, 135, 120), size).unwrap();
        assert!(Rect::new(150, 15, 135, 120).contains_rect(&rect));
        // Aspect kept: 60x240 source.
        assert!((rect.height as f32 / rect.width as f32 - 4.0).abs() < 0.3);
        let err = fit_product(&product, &Rect::new(0, 0, 40, 40), size).unwrap_err();
        assert!(err.contains("legible minimum"), "{err}");
    }

    #[test]
    fn shadow_darkens_below_the_product_and_stays_in_the_slot() {
        let product = bottle();
        let mut canvas = RgbaImage::from_pixel(200, 200, Rgba([240, 240, 240, 255]));
        let slot = Rect::new(20, 20, 160, 160);
        let rect = fit_product(&product, &slot, AdSize::new(200, 200)).unwrap();
        draw_product(&mut canvas, &product, &rect, &slot);
        let below = canvas.get_pixel(
            (rect.x + rect.width as i32 / 2) as u32,
            rect.bottom() as u32 + 1,
        );
        assert!(
            below.0[0] < 225,
            "no shadow under the product: {:?}",
            below.0
        );
        assert!(canvas
            .enumerate_pixels()
            .all(|(x, y, p)| slot.contains(x as i32, y as i32) || p.0 == [240, 240, 240, 255]));
    }
}
