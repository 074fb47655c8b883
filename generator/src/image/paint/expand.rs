//! Image expansion: a picture set into a canvas of another aspect ratio (1:1 to 1.91:1 or 9:16)
//! with the new margins outpainted instead of cropping the picture.

use ::image::imageops::{self, FilterType};
use ::image::{Rgb, RgbImage};

use super::{check_mask, paint_masked, working_size, PaintSettings, CELL};
use crate::image::error::{ImageError, Result};
use crate::image::mask::{feather_weight, margin_mask, OpenSides, Rect};
use crate::image::pipeline::DiffusionPipeline;

/// Where [`expand`] sets a `width` x `height` picture in a `target_width` x `target_height`
/// canvas: scaled to fit whole, centred.
pub fn placement(width: u32, height: u32, target_width: u32, target_height: u32) -> Rect {
    let scale = (f64::from(target_width) / f64::from(width.max(1)))
        .min(f64::from(target_height) / f64::from(height.max(1)));
    let w = ((f64::from(width) * scale).round() as u32).clamp(1, target_width.max(1));
    let h = ((f64::from(height) * scale).round() as u32).clamp(1, target_height.max(1));
    Rect {
        x: (target_width - w) / 2,
        y: (target_height - h) / 2,
        width: w,
        height: h,
    }
}

/// Expands `image` to `target_width` x `target_height`: the picture is scaled to fit and centred
/// (see [`placement`]) and the margins it leaves are outpainted, as [`expand_to`] does.
pub fn expand(
    pipeline: &DiffusionPipeline,
    image: &RgbImage,
    target_width: u32,
    target_height: u32,
    settings: &PaintSettings,
) -> Result<RgbImage> {
    let at = placement(image.width(), image.height(), target_width, target_height);
    expand_to(pipeline, image, target_width, target_height, at, settings)
}

/// Expands `image` to `target_width` x `target_height` with the picture resized into the `at`
/// rectangle of the canvas (a caller that crops or places the picture its own way, as the
/// compositor's expansion plan does, passes its window and rectangle). The margins around `at`
/// are painted from `settings.prompt` by inpainting (the picture's edge pixels extended into
/// them are the start picture when `strength` is below 1), and the picture is blended back over
/// the painting. The blend ramps over a feather band inside the picture's sides that face a
/// margin, two latent cells wide at the working size (see [`PaintSettings::work_size`]); beyond
/// it the picture's pixels are kept exactly. When `at` covers the canvas the picture is only
/// resized.
pub fn expand_to(
    pipeline: &DiffusionPipeline,
    image: &RgbImage,
    target_width: u32,
    target_height: u32,
    at: Rect,
    settings: &PaintSettings,
) -> Result<RgbImage> {
    if image.width() == 0 || image.height() == 0 {
        return Err(ImageError::InvalidRequest(
            "the picture to expand is empty".into(),
        ));
    }
    if target_width == 0 || target_height == 0 {
        return Err(ImageError::InvalidRequest(
            "the expanded size must be at least 1 x 1".into(),
        ));
    }
    if at.width == 0
        || at.height == 0
        || at.x + at.width > target_width
        || at.y + at.height > target_height
    {
        return Err(ImageError::InvalidRequest(format!(
            "the picture's place {at:?} is not inside the {target_width}x{target_height} canvas"
        )));
    }
    let source = at;
    let placed = imageops::resize(image, source.width, source.height, FilterType::Lanczos3);
    if source.width == target_width && source.height == target_height {
        return Ok(placed);
    }
    let (work_width, _) = working_size(target_width, target_height, settings.work_size);
    // Two latent cells at the working size, in target pixels.
    let feather = ((2 * CELL) as f64 * f64::from(target_width) / f64::from(work_width))
        .ceil()
        .max(2.0) as u32;
    let feather = feather.min(source.width.min(source.height) / 2).max(1);

    let start = edge_extended(&placed, source, target_width, target_height);
    let mask = margin_mask(target_width, target_height, source, feather);
    check_mask(&mask, "expansion")?;
    let painted = paint_masked(pipeline, &start, &mask, settings)?;

    let sides = OpenSides::of(source, target_width, target_height);
    Ok(RgbImage::from_fn(target_width, target_height, |x, y| {
        let weight = feather_weight(source, sides, feather, x, y);
        let back = painted.get_pixel(x, y).0;
        if weight <= 0.0 {
            return Rgb(back);
        }
        let front = placed.get_pixel(x - source.x, y - source.y).0;
        if weight >= 1.0 {
            return Rgb(front);
        }
        Rgb(std::array::from_fn(|c| {
            (f32::from(front[c]) * weight + f32::from(back[c]) * (1.0 - weight)).round() as u8
        }))
    }))
}

/// The target canvas with `placed` at `source` and its edge pixels repeated into the margins.
fn edge_extended(placed: &RgbImage, source: Rect, width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let sx = x.clamp(source.x, source.x + source.width - 1) - source.x;
        let sy = y.clamp(source.y, source.y + source.height - 1) - source.y;
        *placed.get_pixel(sx, sy)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_pictures_are_centred_in_wide_and_tall_canvases() {
        assert_eq!(
            placement(1080, 1080, 1200, 628),
            Rect {
                x: 286,
                y: 0,
                width: 628,
                height: 628
            }
        );
        assert_eq!(
            placement(512, 512, 1080, 1920),
            Rect {
                x: 0,
                y: 420,
                width: 1080,
                height: 1080
            }
        );
        assert_eq!(
            placement(300, 100, 300, 100),
            Rect {
                x: 0,
                y: 0,
                width: 300,
                height: 100
            }
        );
    }

    #[test]
    fn margins_repeat_the_picture_edges() {
        let placed = RgbImage::from_fn(2, 2, |x, _| Rgb([x as u8 * 100, 0, 0]));
        let canvas = edge_extended(
            &placed,
            Rect {
                x: 2,
                y: 0,
                width: 2,
                height: 2,
            },
            6,
            2,
        );
        assert_eq!(canvas.get_pixel(0, 0).0[0], 0);
        assert_eq!(canvas.get_pixel(5, 1).0[0], 100);
    }
}
