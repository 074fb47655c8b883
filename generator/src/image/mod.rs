//! Image engine: latent diffusion (CLIP, UNet, VAE, schedulers) loading diffusers checkpoints.
//! Filled in by the image-engine issue.
