//! Image engine: latent diffusion on tch (CLIP text encoders, `UNet2DConditionModel`,
//! `AutoencoderKL`, schedulers) that loads Hugging Face diffusers checkpoint folders unchanged:
//! Stable Diffusion 1.x, 2.x (v-prediction included), SD-Turbo, SDXL and SDXL-Turbo, with
//! plain or `fp16`-variant safetensors.
//!
//! # Using it
//!
//! ```no_run
//! use std::str::FromStr;
//! use adforge_generator::image::{DiffusionPipeline, ImageRequest, SchedulerKind};
//!
//! # fn main() -> adforge_generator::image::Result<()> {
//! let device = tch::Device::cuda_if_available();
//! // f32, f16 (`tch::Kind::Half`) or bf16; under f16 the VAE stays in f32 when its config has
//! // `force_upcast` (the black-image overflow of f16 SDXL VAEs).
//! let pipeline = DiffusionPipeline::load(std::path::Path::new("/models/sd-turbo"), device, tch::Kind::Float)?;
//! let images: Vec<image::RgbImage> = pipeline.generate(&ImageRequest {
//!     prompt: "a red sneaker on a white table".into(),
//!     negative: "blurry".into(),
//!     steps: 25,
//!     guidance: 7.5,
//!     seed: 42,
//!     width: 512,
//!     height: 512,
//!     scheduler: SchedulerKind::from_str("dpm++2m-karras")?,
//!     num_images: 2,
//!     init_image: None, // Some(product_photo) for img2img ...
//!     strength: 0.8,    // ... with this strength
//! })?;
//! # Ok(()) }
//! ```
//!
//! - [`DiffusionPipeline::load`]`(dir, device, kind) -> Result<DiffusionPipeline>` reads
//!   `model_index.json`, `text_encoder/` (+ `text_encoder_2/` for SDXL), `tokenizer/`
//!   (`tokenizer.json`, or `vocab.json` + `merges.txt`), `unet/`, `vae/` and `scheduler/`.
//! - [`DiffusionPipeline::generate`]`(&ImageRequest) -> Result<Vec<image::RgbImage>>` runs
//!   text-to-image, or image-to-image when `init_image` is set (the photo is resized to
//!   `width` x `height`, which must be multiples of 8). Guidance at or below 1 disables
//!   classifier-free guidance (Turbo models: `steps` 1-4, `guidance` 0, scheduler `turbo`).
//! - [`SchedulerKind::from_str`] parses `default`, `ddim`, `euler`, `euler-ancestral`
//!   (`euler_a`), `dpm++2m`, `dpm++2m-karras` and `turbo`; every scheduler is configured from the
//!   checkpoint's `scheduler_config.json` as diffusers' `from_config` does.
//! - [`DiffusionPipeline::run`] is the lower-level loop: any [`noise::NoiseSource`] and a
//!   per-step observer (used by the parity tests).
//! - [`DiffusionPipeline::inpaint`]`(&ImageRequest, &GrayImage mask) -> Result<Vec<RgbImage>>`
//!   repaints the white area of the mask in `init_image` as diffusers'
//!   `StableDiffusionInpaintPipeline`: inpainting checkpoints (9-channel UNet) read the mask and
//!   the masked picture's latents, ordinary ones blend the kept latents back every step
//!   ([`DiffusionPipeline::is_inpainting`] tells which; [`mask::mask_from_image`] reads a mask
//!   file as diffusers does). An inpainting checkpoint given no mask paints the whole picture.
//! - [`paint_scene`]`(&pipeline, &RgbaImage canvas, &PaintSettings) -> Result<RgbImage>` paints
//!   a scene around a product cut-out placed on the canvas and lays the product back on top;
//!   [`expand`]`(&pipeline, &RgbImage, width, height, &PaintSettings) -> Result<RgbImage>`
//!   outpaints a picture to another aspect ratio (1:1 to 1.91:1 or 9:16) and keeps the original
//!   pixels outside a narrow feather band.
//!
//! Nothing here downloads weights: without a configured checkpoint the platform uses the
//! compositor alone.

mod attention;
pub mod clip;
pub mod config;
mod error;
mod inpaint;
pub mod mask;
pub mod noise;
pub mod paint;
pub mod pipeline;
pub mod scheduler;
pub mod tokenizer;
pub mod unet;
mod unet_blocks;
pub mod vae;

pub use error::{ImageError, Result};
pub use paint::{expand, paint_scene, PaintSettings};
pub use pipeline::{DiffusionPipeline, Family, ImageRequest, PromptEmbeddings, StepTrace};
pub use scheduler::SchedulerKind;
