//! Image engine: latent diffusion (CLIP text encoders, UNet, VAE, schedulers) on tch, loading
//! Hugging Face diffusers checkpoint folders unchanged.

mod attention;
pub mod clip;
pub mod config;
mod error;
mod layers;
pub mod noise;
pub mod pipeline;
pub mod scheduler;
pub mod tokenizer;
pub mod unet;
mod unet_blocks;
pub mod vae;
mod weights;

pub use error::{ImageError, Result};
pub use pipeline::{DiffusionPipeline, Family, ImageRequest, PromptEmbeddings, StepTrace};
pub use scheduler::SchedulerKind;
