//! Inpainting, as diffusers' `StableDiffusionInpaintPipeline` does it:
//!
//! - **inpainting checkpoints** (SD 1.x/2.x inpainting, a 9-channel UNet): every step the UNet
//!   reads the latents, the mask downsampled to latent size and the latents of the masked image
//!   (the start picture with the repainted area set to zero), concatenated along the channels;
//! - **ordinary checkpoints** (4-channel UNet), the mask-blend method: after every step the
//!   kept area of the latents is replaced by the start picture's latents noised to the next
//!   step's level, so that only the masked area is painted.
//!
//! The mask follows diffusers' convention (white = repaint, binarised at one half) and
//! `strength` its meaning: 1 starts the painted area from pure noise, less runs only the last
//! `int(steps * strength)` steps from the noised start picture.

use ::image::{GrayImage, RgbImage};
use tch::{Kind, Tensor};

use super::error::{ImageError, Result};
use super::mask::mask_tensor;
use super::noise::{NoiseSource, SeededNoise};
use super::pipeline::{image_to_tensor, start_index, to_rgb_images, DiffusionPipeline};
use super::pipeline::{ImageRequest, StepTrace};
use super::scheduler;

impl DiffusionPipeline {
    /// Repaints the white area of `mask` in `request.init_image` (required) from the prompt,
    /// seeded by `request.seed`. The picture and the mask are resized to `width` x `height`.
    /// Returns the decoded images as they come out of the VAE: pixels outside the mask are the
    /// model's reconstruction of the start picture, not copies of it (the painting helpers in
    /// [`crate::image::paint`] blend the original back).
    pub fn inpaint(&self, request: &ImageRequest, mask: &GrayImage) -> Result<Vec<RgbImage>> {
        let mut noise = SeededNoise::new(request.seed);
        let images = self.run_inpaint(request, mask, &mut noise, None)?;
        to_rgb_images(&images)
    }

    /// [`DiffusionPipeline::inpaint`] with noise from `noise` and a per-step observer (the latents
    /// it sees are those after the mask blend); returns `(num_images, 3, height, width)` f32 in
    /// `[0, 1]`.
    ///
    /// Random draws, in diffusers' order: the start picture's latent sample (ordinary
    /// checkpoints, or `strength` below 1), the initial noise, the masked picture's latent
    /// sample, then whatever the scheduler draws.
    pub fn run_inpaint(
        &self,
        request: &ImageRequest,
        mask: &GrayImage,
        noise: &mut dyn NoiseSource,
        mut observer: Option<&mut dyn FnMut(&StepTrace<'_>)>,
    ) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let image = request.init_image.as_ref().ok_or_else(|| {
            ImageError::InvalidRequest("inpainting needs the picture to paint into".into())
        })?;
        if mask.width() == 0 || mask.height() == 0 {
            return Err(ImageError::InvalidRequest("the mask is empty".into()));
        }
        let latent_channels = self.vae().config().latent_channels;
        let unet_channels = self.unet().config().in_channels;
        let conditioned = self.is_inpainting();
        if conditioned && unet_channels != 2 * latent_channels + 1 {
            return Err(ImageError::Unsupported(format!(
                "a UNet with {unet_channels} input channels: inpainting takes {latent_channels} (mask blend) or {} (inpainting checkpoint)",
                2 * latent_channels + 1
            )));
        }
        let cond = self.conditioning(request)?;
        let mut sched =
            scheduler::build(request.scheduler, self.scheduler_config(), request.steps)?;
        let start = start_index(sched.as_ref(), request)?;
        let from_noise = request.strength == 1.0;
        let device = self.device();
        let (w, h) = (request.width, request.height);
        let n = cond.rows;
        let pixels = image_to_tensor(image, w, h).to_device(device);

        let image_latents = if !conditioned || !from_noise {
            Some(self.encode_pixels(&pixels, noise)?.repeat([n, 1, 1, 1]))
        } else {
            None
        };
        let latent_shape = self.latent_shape(request);
        let fresh = noise.randn(&latent_shape, device)?;
        let mut latents = match &image_latents {
            Some(init) if !from_noise => sched.add_noise(init, &fresh, start),
            _ => &fresh * sched.init_noise_sigma(),
        };

        let full_mask = mask_tensor(mask, w, h).to_device(device);
        let masked = &pixels * full_mask.lt(0.5).to_kind(Kind::Float);
        let masked_latents = self.encode_pixels(&masked, noise)?.repeat([n, 1, 1, 1]);
        let small = full_mask
            .upsample_nearest2d([latent_shape[2], latent_shape[3]], None, None)
            .repeat([n, 1, 1, 1]);
        let extra = if conditioned {
            let both = Tensor::cat(&[&small, &masked_latents], 1);
            Some(match cond.guidance {
                Some(_) => Tensor::cat(&[&both, &both], 0),
                None => both,
            })
        } else {
            None
        };
        let keep = small.ones_like() - &small;
        let blend_source = if conditioned { None } else { image_latents };

        let timesteps = sched.timesteps().to_vec();
        for (index, &t) in timesteps.iter().enumerate().skip(start) {
            let (output, guided) =
                self.predict(&cond, &latents, extra.as_ref(), sched.as_ref(), index, t)?;
            latents = sched.step(&guided, index, &latents, noise)?;
            if let Some(init) = &blend_source {
                let proper = if index + 1 < timesteps.len() {
                    sched.add_noise(init, &fresh, index + 1)
                } else {
                    init.shallow_clone()
                };
                latents = &keep * proper + &small * &latents;
            }
            if let Some(observe) = observer.as_mut() {
                observe(&StepTrace {
                    index,
                    timestep: t,
                    unet_output: &output,
                    latents: &latents,
                });
            }
        }
        Ok(self.decode_latents(&latents))
    }
}
