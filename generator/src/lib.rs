//! adforge's generators: a text LLM (`text`), a latent-diffusion image pipeline (`image`), the
//! sentence embedder used to rank copy (`embed`) and the creative compositor that lays out
//! copy, logo and background at real ad sizes (`compose`). The networks share one layer kit
//! (`nn`). Everything runs on tch/libtorch, CPU by default, CUDA when available. `hub` finds
//! models by short name and pulls them from the Hugging Face Hub into its standard cache.

pub mod compose;
pub mod device;
pub mod embed;
pub mod hub;
pub mod image;
pub mod nn;
pub mod text;
