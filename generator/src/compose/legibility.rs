//! Legibility: the text colour (white or near-black) and, where neither reaches the target, the
//! scrim behind the text, chosen from the backdrop pixels measured on the canvas; the CTA button
//! colour; the contrast measured on the finished canvas.

use image::RgbaImage;

use super::color::{contrast_ratio, relative_luminance, Rgb, WCAG_AA_TEXT};
use super::mask::CoverageMask;
use super::paint;
use super::rect::Rect;
use super::text_block::FittedText;

/// Distance around the ink over which the backdrop is measured, in pixels.
pub(crate) const BACKDROP_RING: i32 = 3;
/// Contrast aimed at when choosing colours and scrims: a little above 4.5 so rounding in the
/// blend never lands under it.
const CONTRAST_TARGET: f32 = WCAG_AA_TEXT + 0.1;

/// A text colour and the scrim (colour, opacity) laid behind the text, if any.
pub(crate) type TextPaint = (Rgb, Option<(Rgb, f32)>);

/// The CTA button colour: the brand accent, darkened in steps until white or near-black text
/// on it reaches the contrast target (mid-tone accents reach neither).
pub(crate) fn button_color(accent: Rgb) -> Rgb {
    let mut color = accent;
    for step in 1..=20 {
        if color.contrast(Rgb::WHITE).max(color.contrast(Rgb::INK)) >= CONTRAST_TARGET {
            break;
        }
        color = accent.mix(Rgb([0, 0, 0]), step as f32 * 0.05);
    }
    color
}

/// The region whose backdrop decides the text colour: the ink grown by [`BACKDROP_RING`],
/// inside the element's box.
fn backdrop_region(fitted: &FittedText, text_box: &Rect, canvas: &RgbaImage) -> Option<Rect> {
    let canvas_rect = Rect::new(0, 0, canvas.width(), canvas.height());
    fitted
        .ink
        .inflate(BACKDROP_RING)
        .intersection(text_box)?
        .intersection(&canvas_rect)
}

fn pixels_in(canvas: &RgbaImage, r: &Rect) -> Vec<Rgb> {
    let mut out = Vec::with_capacity(r.width as usize * r.height as usize);
    for y in r.y..r.bottom() {
        for x in r.x..r.right() {
            out.push(paint::pixel_rgb(canvas.get_pixel(x as u32, y as u32)));
        }
    }
    out
}

fn worst_contrast(text: Rgb, backdrop: &[Rgb]) -> f32 {
    let lt = text.luminance();
    backdrop
        .iter()
        .map(|p| contrast_ratio(lt, relative_luminance(p.0)))
        .fold(f32::INFINITY, f32::min)
}

/// Picks white or near-black text for each block from the backdrop under it. When some block
/// reaches the target with neither, all the blocks get white text over one shared black scrim,
/// the weakest (opacity in 5 % steps) that brings every block to the target; the scrim covers
/// each block's ink grown by a padding, inside its box, and the space between the blocks.
pub(crate) fn legible_colors(
    canvas: &mut RgbaImage,
    blocks: &[(&FittedText, Rect)],
) -> Vec<TextPaint> {
    let canvas_rect = Rect::new(0, 0, canvas.width(), canvas.height());
    let backdrops: Vec<Vec<Rgb>> = blocks
        .iter()
        .map(|(fitted, text_box)| {
            backdrop_region(fitted, text_box, canvas)
                .map(|r| pixels_in(canvas, &r))
                .unwrap_or_default()
        })
        .collect();
    let plain: Vec<(Rgb, f32)> = backdrops
        .iter()
        .map(|b| {
            let light = worst_contrast(Rgb::WHITE, b);
            let dark = worst_contrast(Rgb::INK, b);
            if light >= dark {
                (Rgb::WHITE, light)
            } else {
                (Rgb::INK, dark)
            }
        })
        .collect();
    if plain.iter().all(|(_, c)| *c >= CONTRAST_TARGET) {
        return plain.into_iter().map(|(color, _)| (color, None)).collect();
    }
    let (text, scrim) = (Rgb::WHITE, Rgb([0, 0, 0]));
    let all: Vec<Rgb> = backdrops.concat();
    let mut alpha = 0.3f32;
    loop {
        let blended: Vec<Rgb> = all.iter().map(|p| p.mix(scrim, alpha)).collect();
        if worst_contrast(text, &blended) >= CONTRAST_TARGET || alpha >= 1.0 {
            break;
        }
        alpha = (alpha + 0.05).min(1.0);
    }
    let mut panel: Option<Rect> = None;
    let mut ink: Option<Rect> = None;
    for (fitted, text_box) in blocks {
        let pad = ((fitted.px * 0.3).round() as i32).max(BACKDROP_RING);
        if let Some(r) = fitted
            .ink
            .inflate(pad)
            .intersection(text_box)
            .and_then(|r| r.intersection(&canvas_rect))
        {
            panel = Some(panel.map_or(r, |p| p.union(&r)));
            ink = Some(ink.map_or(fitted.ink, |i| i.union(&fitted.ink)));
        }
    }
    if let (Some(panel), Some(ink)) = (panel, ink) {
        // Round the corners only as far as the padding left after clipping allows, so that the
        // measured regions (ink grown by the ring) stay fully covered.
        let spare = (ink.x - panel.x)
            .min(ink.y - panel.y)
            .min(panel.right() - ink.right())
            .min(panel.bottom() - ink.bottom());
        let radius = ((spare - BACKDROP_RING) as f32 * 2.0).max(0.0);
        paint::fill_rounded_rect(canvas, &panel, radius, scrim, alpha);
    }
    vec![(text, Some((scrim, alpha))); blocks.len()]
}

/// Lowest contrast between `color` and the backdrop pixels (uncovered by the element's glyphs)
/// within [`BACKDROP_RING`] px of the ink, inside the box, on the finished canvas.
pub(crate) fn measured_contrast(
    canvas: &RgbaImage,
    layer: &CoverageMask,
    fitted: &FittedText,
    text_box: &Rect,
    color: Rgb,
) -> f32 {
    let Some(region) = backdrop_region(fitted, text_box, canvas) else {
        return f32::INFINITY;
    };
    let lt = color.luminance();
    let mut worst = f32::INFINITY;
    for y in region.y..region.bottom() {
        for x in region.x..region.right() {
            if layer.get(x, y) == 0 {
                let p = canvas.get_pixel(x as u32, y as u32);
                worst = worst.min(contrast_ratio(
                    lt,
                    relative_luminance([p.0[0], p.0[1], p.0[2]]),
                ));
            }
        }
    }
    worst
}
