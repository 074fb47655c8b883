//! Painting helpers for ad pictures on top of inpainting: a scene painted around a product
//! cut-out ([`paint_scene`]) and a picture expanded to another aspect ratio by outpainting its
//! new margins ([`expand`]). Both paint at the model's working size and blend the original
//! pixels back at full resolution, so what was kept is kept exactly.

mod expand;
mod scene;

pub use expand::{expand, expand_to, placement};
pub use scene::paint_scene;

use ::image::imageops::{self, FilterType};
use ::image::{GrayImage, RgbImage};

use super::error::{ImageError, Result};
use super::mask::{mask_coverage, snap_to_grid};
use super::pipeline::{DiffusionPipeline, ImageRequest};
use super::scheduler::SchedulerKind;

/// Sampling settings of the painting helpers.
#[derive(Debug, Clone)]
pub struct PaintSettings {
    /// What to paint.
    pub prompt: String,
    /// What to steer away from.
    pub negative: String,
    /// Denoising steps of the full schedule.
    pub steps: usize,
    /// Guidance scale; 1 or less disables classifier-free guidance.
    pub guidance: f64,
    /// Seed of the noise.
    pub seed: u64,
    /// Which scheduler to sample with.
    pub scheduler: SchedulerKind,
    /// In (0, 1]: 1 paints the masked area from pure noise; less starts from the picture under
    /// the mask and runs that share of the schedule.
    pub strength: f64,
    /// The model's working size: the picture is painted at about `work_size` x `work_size`
    /// pixels in its own aspect ratio (multiples of 8; 512 for SD 1.x, 768 for SD 2.x 768,
    /// 1024 for SDXL), then resized to the asked size.
    pub work_size: u32,
}

impl Default for PaintSettings {
    fn default() -> Self {
        PaintSettings {
            prompt: String::new(),
            negative: String::new(),
            steps: 25,
            guidance: 7.5,
            seed: 0,
            scheduler: SchedulerKind::Default,
            strength: 1.0,
            work_size: 512,
        }
    }
}

/// Pixels of one latent cell: the mask is sampled once per cell.
const CELL: u32 = 8;

/// The working size for a `width` x `height` picture: the same aspect ratio over about
/// `work_size`² pixels, each side a multiple of 8 and at least 8, the longer side at most
/// twice `work_size`.
pub fn working_size(width: u32, height: u32, work_size: u32) -> (u32, u32) {
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let target = f64::from(work_size.max(CELL));
    let mut scale = target / (w * h).sqrt();
    let longest = w.max(h) * scale;
    if longest > 2.0 * target {
        scale *= 2.0 * target / longest;
    }
    let round = |v: f64| (((v / f64::from(CELL)).round() as u32).max(1)) * CELL;
    (round(w * scale), round(h * scale))
}

/// Repaints the white area of `mask` in `picture` at the working size and returns the painted
/// picture resized back to `picture`'s size (kept areas are the model's reconstruction; the
/// callers blend the originals back).
fn paint_masked(
    pipeline: &DiffusionPipeline,
    picture: &RgbImage,
    mask: &GrayImage,
    settings: &PaintSettings,
) -> Result<RgbImage> {
    check_settings(settings)?;
    let (width, height) = picture.dimensions();
    let (ww, wh) = working_size(width, height, settings.work_size);
    let work_picture = imageops::resize(picture, ww, wh, FilterType::Lanczos3);
    let work_mask = snap_to_grid(&imageops::resize(mask, ww, wh, FilterType::Triangle), CELL);
    let request = ImageRequest {
        prompt: settings.prompt.clone(),
        negative: settings.negative.clone(),
        steps: settings.steps,
        guidance: settings.guidance,
        seed: settings.seed,
        width: ww,
        height: wh,
        scheduler: settings.scheduler,
        num_images: 1,
        init_image: Some(work_picture),
        strength: settings.strength,
    };
    let painted = pipeline
        .inpaint(&request, &work_mask)?
        .into_iter()
        .next()
        .ok_or_else(|| ImageError::InvalidRequest("the pipeline returned no image".into()))?;
    Ok(imageops::resize(
        &painted,
        width,
        height,
        FilterType::Lanczos3,
    ))
}

fn check_settings(settings: &PaintSettings) -> Result<()> {
    if settings.steps == 0 {
        return Err(ImageError::InvalidRequest(
            "steps must be at least 1".into(),
        ));
    }
    if !(settings.strength > 0.0 && settings.strength <= 1.0) {
        return Err(ImageError::InvalidRequest(
            "strength must be in (0, 1]".into(),
        ));
    }
    if settings.work_size < CELL {
        return Err(ImageError::InvalidRequest(format!(
            "work_size must be at least {CELL}"
        )));
    }
    Ok(())
}

/// Fails when a mask repaints nothing or keeps nothing.
fn check_mask(mask: &GrayImage, what: &str) -> Result<()> {
    match mask_coverage(mask) {
        (false, _) => Err(ImageError::InvalidRequest(format!(
            "{what}: nothing to paint"
        ))),
        (_, false) => Err(ImageError::InvalidRequest(format!(
            "{what}: nothing to keep"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_size_keeps_the_aspect_ratio_in_multiples_of_eight() {
        assert_eq!(working_size(1080, 1080, 512), (512, 512));
        let (w, h) = working_size(1200, 628, 512);
        assert_eq!((w % 8, h % 8), (0, 0));
        assert!(
            ((w as f64 / h as f64) - 1200.0 / 628.0).abs() < 0.05,
            "{w}x{h}"
        );
        let area = f64::from(w * h);
        assert!(area > 0.9 * 512.0 * 512.0 && area < 1.1 * 512.0 * 512.0);
        let (w, h) = working_size(1080, 1920, 512);
        assert_eq!((w, h), (384, 680));
        // Extreme banners keep the long side within twice the working size.
        let (w, h) = working_size(728, 90, 512);
        assert!(w <= 1024 && h >= 8, "{w}x{h}");
    }
}
