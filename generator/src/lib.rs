//! adforge's generators: a text LLM (`text`), a latent-diffusion image pipeline (`image`) and
//! the creative compositor that lays out copy, logo and background at real ad sizes
//! (`compose`). Everything runs on tch/libtorch, CPU by default, CUDA when available.

pub mod compose;
pub mod device;
pub mod image;
pub mod text;
