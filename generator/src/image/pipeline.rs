//! The text-to-image and image-to-image pipeline over a diffusers checkpoint folder
//! (Stable Diffusion 1.x/2.x, SD-Turbo, SDXL, SDXL-Turbo): prompt encoding with classifier-free
//! guidance, the denoising loop, and VAE encoding/decoding.

use std::path::{Path, PathBuf};

use ::image::RgbImage;
use tch::{Device, Kind, Tensor};

use super::clip::ClipTextEncoder;
use super::config::{read_json, ModelIndex, SchedulerConfig};
use super::error::{ImageError, Result};
use super::noise::{NoiseSource, SeededNoise};
use super::scheduler::{self, SchedulerKind};
use super::tokenizer::ClipTokenizer;
use super::unet::{AddedConditions, UNet2DConditionModel};
use super::vae::AutoencoderKL;

/// One image-generation request.
#[derive(Debug, Clone)]
pub struct ImageRequest {
    /// What to draw.
    pub prompt: String,
    /// What to steer away from (classifier-free guidance's unconditional side).
    pub negative: String,
    /// Denoising steps (for img2img, of the full schedule; `strength` of them run).
    pub steps: usize,
    /// Guidance scale; 1 or less disables classifier-free guidance (Turbo models use 0).
    pub guidance: f64,
    /// Seed of the initial noise: the same seed gives the same images on the same device.
    pub seed: u64,
    /// Output width in pixels, a multiple of 8.
    pub width: u32,
    /// Output height in pixels, a multiple of 8.
    pub height: u32,
    /// Which scheduler to sample with.
    pub scheduler: SchedulerKind,
    /// Images to make for the prompt.
    pub num_images: usize,
    /// Starting image for image-to-image (resized to `width` x `height`).
    pub init_image: Option<RgbImage>,
    /// Image-to-image strength in (0, 1]: how much of the schedule to run over the start image.
    pub strength: f64,
}

impl Default for ImageRequest {
    fn default() -> Self {
        ImageRequest {
            prompt: String::new(),
            negative: String::new(),
            steps: 25,
            guidance: 7.5,
            seed: 0,
            width: 512,
            height: 512,
            scheduler: SchedulerKind::Default,
            num_images: 1,
            init_image: None,
            strength: 0.8,
        }
    }
}

/// Prompt embeddings for the UNet.
pub struct PromptEmbeddings {
    /// `(batch, tokens, dim)` text states the cross-attention reads.
    pub context: Tensor,
    /// SDXL's pooled text embedding `(batch, dim)`.
    pub pooled: Option<Tensor>,
}

/// What the denoising loop reports after each step (for tests and progress display).
pub struct StepTrace<'a> {
    /// Step number from 0.
    pub index: usize,
    /// The model timestep of this step.
    pub timestep: f64,
    /// Raw UNet output for the whole batch (unconditional half first under guidance).
    pub unet_output: &'a Tensor,
    /// Latents after the scheduler step.
    pub latents: &'a Tensor,
}

/// The text conditioning of one request's batch, ready for the UNet.
pub(crate) struct Conditioning {
    /// Text states, the unconditional rows first under guidance.
    context: Tensor,
    /// SDXL's pooled text embeddings and size ids.
    added: Option<(Tensor, Tensor)>,
    /// The guidance scale when classifier-free guidance is on.
    pub(crate) guidance: Option<f64>,
    /// Images in the batch (without the guidance doubling).
    pub(crate) rows: i64,
}

/// The first step to run for an image-to-image request: diffusers' `get_timesteps`, which runs
/// `int(steps * strength)` of the schedule's last steps.
pub(crate) fn start_index(
    sched: &dyn scheduler::Scheduler,
    request: &ImageRequest,
) -> Result<usize> {
    if !(request.strength > 0.0 && request.strength <= 1.0) {
        return Err(ImageError::InvalidRequest(
            "strength must be in (0, 1]".into(),
        ));
    }
    let steps = sched.timesteps().len();
    let init_steps = ((steps as f64 * request.strength) as usize).min(steps);
    if init_steps == 0 {
        return Err(ImageError::InvalidRequest(
            "steps x strength runs no denoising step".into(),
        ));
    }
    Ok(steps - init_steps)
}

/// Which pipeline family a checkpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Stable Diffusion 1.x / 2.x / SD-Turbo: one CLIP text encoder.
    StableDiffusion,
    /// SDXL / SDXL-Turbo: two text encoders, pooled and size conditioning.
    StableDiffusionXl,
}

/// A loaded diffusion pipeline.
pub struct DiffusionPipeline {
    family: Family,
    tokenizer: ClipTokenizer,
    text_encoder: ClipTextEncoder,
    second: Option<(ClipTokenizer, ClipTextEncoder)>,
    unet: UNet2DConditionModel,
    vae: AutoencoderKL,
    scheduler_config: SchedulerConfig,
    force_zeros_for_empty_prompt: bool,
    vae_scale_factor: i64,
    device: Device,
    kind: Kind,
}

impl DiffusionPipeline {
    /// Loads a diffusers pipeline folder (with `model_index.json`) in `kind` (f32, f16 or bf16)
    /// on `device`. The VAE stays in f32 under f16 when its config says it overflows there
    /// (`force_upcast`).
    pub fn load(dir: &Path, device: Device, kind: Kind) -> Result<Self> {
        if !matches!(kind, Kind::Float | Kind::Half | Kind::BFloat16) {
            return Err(ImageError::Unsupported(format!("dtype {kind:?}")));
        }
        let index: ModelIndex = read_json(&dir.join("model_index.json"))?;
        let family = if index.has("text_encoder_2") || index.class_name.contains("XL") {
            Family::StableDiffusionXl
        } else {
            Family::StableDiffusion
        };
        let part = |name: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            if path.is_dir() {
                Ok(path)
            } else {
                Err(ImageError::Unsupported(format!(
                    "{} has no {name}/ folder",
                    dir.display()
                )))
            }
        };
        tracing::info!(dir = %dir.display(), ?family, ?kind, ?device, "loading diffusion pipeline");
        let tokenizer = ClipTokenizer::load(&part("tokenizer")?)?;
        let text_encoder = ClipTextEncoder::load(&part("text_encoder")?, device, kind)?;
        let second = if family == Family::StableDiffusionXl {
            Some((
                ClipTokenizer::load(&part("tokenizer_2")?)?,
                ClipTextEncoder::load(&part("text_encoder_2")?, device, kind)?,
            ))
        } else {
            None
        };
        let unet = UNet2DConditionModel::load(&part("unet")?, device, kind)?;
        let vae_dir = part("vae")?;
        let vae_config: super::config::VaeConfig = read_json(&vae_dir.join("config.json"))?;
        let vae_kind = if kind == Kind::Half && vae_config.force_upcast {
            Kind::Float
        } else {
            kind
        };
        let vae = AutoencoderKL::load(&vae_dir, device, vae_kind)?;
        let vae_scale_factor = 1i64 << (vae.config().block_out_channels.len().saturating_sub(1));
        let scheduler_dir = part("scheduler")?;
        let scheduler_config: SchedulerConfig =
            read_json(&scheduler_dir.join("scheduler_config.json"))?;
        Ok(DiffusionPipeline {
            family,
            tokenizer,
            text_encoder,
            second,
            unet,
            vae,
            scheduler_config,
            force_zeros_for_empty_prompt: index
                .force_zeros_for_empty_prompt
                .unwrap_or(family == Family::StableDiffusionXl),
            vae_scale_factor,
            device,
            kind,
        })
    }

    /// The pipeline family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The checkpoint's scheduler config.
    pub fn scheduler_config(&self) -> &SchedulerConfig {
        &self.scheduler_config
    }

    /// The UNet.
    pub fn unet(&self) -> &UNet2DConditionModel {
        &self.unet
    }

    /// The VAE.
    pub fn vae(&self) -> &AutoencoderKL {
        &self.vae
    }

    /// Encodes one prompt to `(1, 77, dim)` embeddings (and SDXL's pooled embedding).
    pub fn encode_prompt(&self, prompt: &str) -> Result<PromptEmbeddings> {
        let _guard = tch::no_grad_guard();
        let ids = Tensor::from_slice(&self.tokenizer.encode(prompt)?)
            .unsqueeze(0)
            .to_device(self.device);
        let first = self.text_encoder.forward(&ids);
        match &self.second {
            None => Ok(PromptEmbeddings {
                context: first.last_hidden_state,
                pooled: None,
            }),
            Some((tokenizer, encoder)) => {
                let ids = Tensor::from_slice(&tokenizer.encode(prompt)?)
                    .unsqueeze(0)
                    .to_device(self.device);
                let second = encoder.forward(&ids);
                let context = Tensor::cat(
                    &[
                        first.penultimate_hidden_state,
                        second.penultimate_hidden_state,
                    ],
                    -1,
                );
                Ok(PromptEmbeddings {
                    context,
                    pooled: Some(second.pooled),
                })
            }
        }
    }

    /// Embeddings of the negative prompt: SDXL uses zeros for an empty one when its
    /// `model_index.json` says so.
    fn encode_negative(
        &self,
        negative: &str,
        positive: &PromptEmbeddings,
    ) -> Result<PromptEmbeddings> {
        if self.family == Family::StableDiffusionXl
            && self.force_zeros_for_empty_prompt
            && negative.is_empty()
        {
            return Ok(PromptEmbeddings {
                context: positive.context.zeros_like(),
                pooled: positive.pooled.as_ref().map(Tensor::zeros_like),
            });
        }
        self.encode_prompt(negative)
    }

    /// Generates images for a request, seeded by `request.seed`.
    pub fn generate(&self, request: &ImageRequest) -> Result<Vec<RgbImage>> {
        let mut noise = SeededNoise::new(request.seed);
        let images = self.run(request, &mut noise, None)?;
        to_rgb_images(&images)
    }

    /// Runs the pipeline with noise from `noise`, reporting each step to `observer`, and returns
    /// the decoded images as `(num_images, 3, height, width)` f32 in `[0, 1]`.
    ///
    /// An inpainting checkpoint (9-channel UNet) paints the whole picture: text-to-image or
    /// image-to-image under a mask that covers everything, as [`DiffusionPipeline::run_inpaint`].
    pub fn run(
        &self,
        request: &ImageRequest,
        noise: &mut dyn NoiseSource,
        mut observer: Option<&mut dyn FnMut(&StepTrace<'_>)>,
    ) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        if self.is_inpainting() {
            let full =
                ::image::GrayImage::from_pixel(request.width, request.height, ::image::Luma([255]));
            let mut request = request.clone();
            if request.init_image.is_none() {
                // Under a full mask the masked image is all zeros whatever the start picture.
                request.init_image = Some(RgbImage::new(request.width, request.height));
                request.strength = 1.0;
            }
            return self.run_inpaint(&request, &full, noise, observer);
        }
        let cond = self.conditioning(request)?;
        let mut sched = scheduler::build(request.scheduler, &self.scheduler_config, request.steps)?;
        let latent_shape = self.latent_shape(request);
        let (mut latents, start) = match &request.init_image {
            None => {
                let initial = noise.randn(&latent_shape, self.device)?;
                (initial * sched.init_noise_sigma(), 0)
            }
            Some(image) => {
                let start = start_index(sched.as_ref(), request)?;
                let init = self.encode_image(image, request.width, request.height, noise)?;
                let init = init.repeat([cond.rows, 1, 1, 1]);
                let fresh = noise.randn(&latent_shape, self.device)?;
                (sched.add_noise(&init, &fresh, start), start)
            }
        };

        let timesteps = sched.timesteps().to_vec();
        for (index, &t) in timesteps.iter().enumerate().skip(start) {
            let (output, guided) = self.predict(&cond, &latents, None, sched.as_ref(), index, t)?;
            latents = sched.step(&guided, index, &latents, noise)?;
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

    /// Whether the checkpoint is an inpainting one: its UNet reads the latents together with
    /// the mask and the masked image's latents (9 input channels for SD 1.x/2.x inpainting).
    pub fn is_inpainting(&self) -> bool {
        self.unet.config().in_channels != self.vae.config().latent_channels
    }

    /// Checks the request's size and image count.
    pub(crate) fn check_size(&self, request: &ImageRequest) -> Result<()> {
        let multiple = 8.max(self.vae_scale_factor) as u32;
        let aligned = |v: u32| v > 0 && v / multiple * multiple == v;
        if !aligned(request.width) || !aligned(request.height) {
            return Err(ImageError::InvalidRequest(format!(
                "width and height must be positive multiples of {multiple}"
            )));
        }
        if request.num_images == 0 {
            return Err(ImageError::InvalidRequest(
                "num_images must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Shape of the latents of a request: `(num_images, latent channels, H / f, W / f)`.
    pub(crate) fn latent_shape(&self, request: &ImageRequest) -> [i64; 4] {
        [
            request.num_images as i64,
            self.vae.config().latent_channels,
            i64::from(request.height) / self.vae_scale_factor,
            i64::from(request.width) / self.vae_scale_factor,
        ]
    }

    /// Validates the request and encodes its prompts into the UNet's conditioning.
    pub(crate) fn conditioning(&self, request: &ImageRequest) -> Result<Conditioning> {
        self.check_size(request)?;
        let n = request.num_images as i64;
        let guided = request.guidance > 1.0;
        let positive = self.encode_prompt(&request.prompt)?;
        let negative = if guided {
            Some(self.encode_negative(&request.negative, &positive)?)
        } else {
            None
        };
        let repeat = |t: &Tensor| t.repeat_interleave_self_int(n, 0, None);
        let context = match &negative {
            Some(neg) => Tensor::cat(&[repeat(&neg.context), repeat(&positive.context)], 0),
            None => repeat(&positive.context),
        };
        let (h, w) = (i64::from(request.height), i64::from(request.width));
        let added = match &positive.pooled {
            Some(pooled) => {
                let ids = Tensor::from_slice(&[h as f32, w as f32, 0.0, 0.0, h as f32, w as f32])
                    .unsqueeze(0)
                    .to_device(self.device);
                let pooled_all = match negative.as_ref().and_then(|neg| neg.pooled.as_ref()) {
                    Some(neg) => Tensor::cat(&[repeat(neg), repeat(pooled)], 0),
                    None => repeat(pooled),
                };
                let rows = pooled_all.size()[0];
                Some((pooled_all, ids.repeat([rows, 1])))
            }
            None => None,
        };
        Ok(Conditioning {
            context,
            added,
            guidance: if guided { Some(request.guidance) } else { None },
            rows: n,
        })
    }

    /// One UNet evaluation at step `index` (timestep `t`): returns the raw output (the
    /// unconditional half first under guidance) and the guided prediction. `extra` is
    /// concatenated to the scaled latents along the channels (an inpainting UNet's mask and
    /// masked-image latents, already doubled under guidance).
    pub(crate) fn predict(
        &self,
        cond: &Conditioning,
        latents: &Tensor,
        extra: Option<&Tensor>,
        sched: &dyn scheduler::Scheduler,
        index: usize,
        t: f64,
    ) -> Result<(Tensor, Tensor)> {
        let model_in = if cond.guidance.is_some() {
            Tensor::cat(&[latents, latents], 0)
        } else {
            latents.shallow_clone()
        };
        let mut model_in = sched.scale_model_input(&model_in, index);
        if let Some(extra) = extra {
            model_in = Tensor::cat(&[&model_in, extra], 1);
        }
        let conditions = cond
            .added
            .as_ref()
            .map(|(text_embeds, time_ids)| AddedConditions {
                text_embeds,
                time_ids,
            });
        let output = self
            .unet
            .forward(&model_in, t, &cond.context, conditions)?
            .to_kind(Kind::Float);
        let guided = match cond.guidance {
            Some(scale) => {
                let parts = output.chunk(2, 0);
                &parts[0] + (&parts[1] - &parts[0]) * scale
            }
            None => output.shallow_clone(),
        };
        Ok((output, guided))
    }

    /// Encodes an RGB image (resized to `width` x `height`) to scaled latents `(1, C, h, w)`,
    /// sampling the VAE's latent distribution with one draw from `noise`.
    pub(crate) fn encode_image(
        &self,
        image: &RgbImage,
        width: u32,
        height: u32,
        noise: &mut dyn NoiseSource,
    ) -> Result<Tensor> {
        let pixels = image_to_tensor(image, width, height).to_device(self.device);
        self.encode_pixels(&pixels, noise)
    }

    /// Encodes `(1, 3, H, W)` pixels in `[-1, 1]` to scaled latents, sampling the latent
    /// distribution with one draw from `noise`.
    pub(crate) fn encode_pixels(
        &self,
        pixels: &Tensor,
        noise: &mut dyn NoiseSource,
    ) -> Result<Tensor> {
        let (mean, std) = self.vae.encode(pixels);
        let sample = noise.randn(&mean.size(), self.device)?;
        Ok(self
            .vae
            .scale_latents(&(mean + std * sample.to_kind(self.vae.kind())).to_kind(Kind::Float)))
    }

    /// Decodes scaled latents to `(n, 3, H, W)` f32 images in `[0, 1]`.
    pub(crate) fn decode_latents(&self, latents: &Tensor) -> Tensor {
        let decoded = self
            .vae
            .decode(&self.vae.unscale_latents(latents))
            .to_kind(Kind::Float);
        (decoded / 2.0 + 0.5).clamp(0.0, 1.0)
    }

    /// The device the pipeline runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The dtype the UNet and text encoders run in.
    pub fn kind(&self) -> Kind {
        self.kind
    }
}

/// Converts an RGB image to a `(1, 3, height, width)` f32 tensor in `[-1, 1]`, resizing it first.
pub(crate) fn image_to_tensor(image: &RgbImage, width: u32, height: u32) -> Tensor {
    let resized = if image.width() == width && image.height() == height {
        image.clone()
    } else {
        ::image::imageops::resize(
            image,
            width,
            height,
            ::image::imageops::FilterType::Lanczos3,
        )
    };
    let data: Vec<f32> = resized
        .as_raw()
        .iter()
        .map(|&v| f32::from(v) / 127.5 - 1.0)
        .collect();
    Tensor::from_slice(&data)
        .view([1, i64::from(height), i64::from(width), 3])
        .permute([0, 3, 1, 2])
        .contiguous()
}

/// Converts `(n, 3, H, W)` images in `[0, 1]` to 8-bit RGB images.
pub fn to_rgb_images(images: &Tensor) -> Result<Vec<RgbImage>> {
    let (n, _, h, w) = images.size4()?;
    let bytes = (images * 255.0)
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
        .permute([0, 2, 3, 1])
        .contiguous()
        .to_device(Device::Cpu);
    let flat: Vec<u8> = Vec::<u8>::try_from(bytes.flatten(0, -1))?;
    let per = (h * w * 3) as usize;
    (0..n as usize)
        .map(|i| {
            RgbImage::from_raw(w as u32, h as u32, flat[i * per..(i + 1) * per].to_vec())
                .ok_or_else(|| {
                    ImageError::InvalidRequest("decoded image has an unexpected size".into())
                })
        })
        .collect()
}
