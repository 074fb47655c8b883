//! A scene painted around a product: everything but the product cut-out is repainted from a
//! prompt, and the product is laid back on top untouched.

use ::image::{GrayImage, Luma, Rgb, RgbImage, RgbaImage};

use super::{check_mask, paint_masked, PaintSettings};
use crate::image::error::{ImageError, Result};
use crate::image::pipeline::DiffusionPipeline;

/// Alpha from which a canvas pixel counts as solid product: anything more transparent is
/// repainted (the product's soft edge is then laid over the new scene).
const SOLID: u8 = 250;

/// Paints a scene around a product. `canvas` is the picture at its final size with the product
/// cut-out already in place: its alpha is the product's coverage, and the colour of the
/// transparent pixels is the start picture (used only when `settings.strength` is below 1).
/// Every pixel that is not solid product is repainted from `settings.prompt` (at the working
/// size, the repainted area widened to whole latent cells), and the product is alpha-composited
/// back over the painting at full resolution, so its solid pixels come back exactly.
///
/// Fails when the canvas has no solid product pixel or no transparent one.
pub fn paint_scene(
    pipeline: &DiffusionPipeline,
    canvas: &RgbaImage,
    settings: &PaintSettings,
) -> Result<RgbImage> {
    let (width, height) = canvas.dimensions();
    if width == 0 || height == 0 {
        return Err(ImageError::InvalidRequest("the canvas is empty".into()));
    }
    let mask = GrayImage::from_fn(width, height, |x, y| {
        Luma([if canvas.get_pixel(x, y).0[3] >= SOLID {
            0
        } else {
            255
        }])
    });
    check_mask(&mask, "scene around the product")?;
    let start = RgbImage::from_fn(width, height, |x, y| {
        let [r, g, b, _] = canvas.get_pixel(x, y).0;
        Rgb([r, g, b])
    });
    let painted = paint_masked(pipeline, &start, &mask, settings)?;
    Ok(RgbImage::from_fn(width, height, |x, y| {
        let [r, g, b, a] = canvas.get_pixel(x, y).0;
        let back = painted.get_pixel(x, y).0;
        let alpha = f32::from(a) / 255.0;
        let front = [r, g, b];
        Rgb(std::array::from_fn(|c| {
            (f32::from(front[c]) * alpha + f32::from(back[c]) * (1.0 - alpha)).round() as u8
        }))
    }))
}
