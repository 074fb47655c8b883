//! `AutoencoderKL`: the VAE that encodes images into Stable Diffusion latents and decodes
//! latents back into images, built from a diffusers `vae/` folder.

use std::path::Path;

use tch::{Device, Kind, Tensor};

use super::attention::SpatialSelfAttention;
use super::config::{read_json, VaeConfig};
use super::error::{ImageError, Result};
use super::unet_blocks::{Downsample, ResnetBlock, Upsample};
use crate::nn::Weights;
use crate::nn::{Conv2d, GroupNorm};

/// The VAE middle block: ResNet, optional self-attention, ResNet.
struct VaeMidBlock {
    resnet_a: ResnetBlock,
    attention: Option<SpatialSelfAttention>,
    resnet_b: ResnetBlock,
}

impl VaeMidBlock {
    fn load(w: &Weights, groups: i64, channels: i64, with_attention: bool) -> Result<Self> {
        Ok(VaeMidBlock {
            resnet_a: ResnetBlock::load(&w.pp("resnets.0"), groups, 1e-6, 1.0)?,
            attention: if with_attention {
                Some(SpatialSelfAttention::load(
                    &w.pp("attentions.0"),
                    groups,
                    channels,
                )?)
            } else {
                None
            },
            resnet_b: ResnetBlock::load(&w.pp("resnets.1"), groups, 1e-6, 1.0)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let mut h = self.resnet_a.forward(x, None);
        if let Some(attn) = &self.attention {
            h = attn.forward(&h);
        }
        self.resnet_b.forward(&h, None)
    }
}

struct EncoderBlock {
    resnets: Vec<ResnetBlock>,
    downsampler: Option<Downsample>,
}

struct DecoderBlock {
    resnets: Vec<ResnetBlock>,
    upsampler: Option<Upsample>,
}

fn check_block_types(types: &[String], expected: &str) -> Result<()> {
    match types.iter().find(|t| t.as_str() != expected) {
        Some(other) => Err(ImageError::Unsupported(format!("VAE block {other}"))),
        None => Ok(()),
    }
}

/// The VAE with both halves.
pub struct AutoencoderKL {
    config: VaeConfig,
    enc_conv_in: Conv2d,
    enc_blocks: Vec<EncoderBlock>,
    enc_mid: VaeMidBlock,
    enc_norm_out: GroupNorm,
    enc_conv_out: Conv2d,
    quant_conv: Option<Conv2d>,
    post_quant_conv: Option<Conv2d>,
    dec_conv_in: Conv2d,
    dec_mid: VaeMidBlock,
    dec_blocks: Vec<DecoderBlock>,
    dec_norm_out: GroupNorm,
    dec_conv_out: Conv2d,
    kind: Kind,
}

impl AutoencoderKL {
    /// Loads `config.json` and the weights of a `vae/` folder in `kind` on `device`.
    pub fn load(dir: &Path, device: Device, kind: Kind) -> Result<Self> {
        let config: VaeConfig = read_json(&dir.join("config.json"))?;
        let weights = Weights::new(crate::nn::safetensors::load_dir(
            dir,
            "diffusion_pytorch_model",
            kind,
            device,
        )?);
        Self::from_weights(config, &weights, kind)
    }

    pub(crate) fn from_weights(config: VaeConfig, w: &Weights, kind: Kind) -> Result<Self> {
        check_block_types(&config.down_block_types, "DownEncoderBlock2D")?;
        check_block_types(&config.up_block_types, "UpDecoderBlock2D")?;
        let groups = config.norm_num_groups;
        let top = *config
            .block_out_channels
            .last()
            .ok_or_else(|| ImageError::Unsupported("VAE without blocks".into()))?;
        let enc = w.pp("encoder");
        let enc_blocks = (0..config.down_block_types.len())
            .map(|i| {
                let b = enc.pp(format!("down_blocks.{i}"));
                Ok(EncoderBlock {
                    resnets: (0..config.layers_per_block)
                        .map(|j| {
                            ResnetBlock::load(&b.pp(format!("resnets.{j}")), groups, 1e-6, 1.0)
                        })
                        .collect::<Result<Vec<_>>>()?,
                    downsampler: if b.has_module("downsamplers") {
                        Some(Downsample::load(&b.pp("downsamplers.0"), 0)?)
                    } else {
                        None
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let dec = w.pp("decoder");
        let dec_blocks = (0..config.up_block_types.len())
            .map(|i| {
                let b = dec.pp(format!("up_blocks.{i}"));
                Ok(DecoderBlock {
                    resnets: (0..config.layers_per_block + 1)
                        .map(|j| {
                            ResnetBlock::load(&b.pp(format!("resnets.{j}")), groups, 1e-6, 1.0)
                        })
                        .collect::<Result<Vec<_>>>()?,
                    upsampler: if b.has_module("upsamplers") {
                        Some(Upsample::load(&b.pp("upsamplers.0"))?)
                    } else {
                        None
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let optional_conv = |name: &str, wanted: bool| -> Result<Option<Conv2d>> {
            if wanted && w.has_module(name) {
                Ok(Some(Conv2d::load(&w.pp(name), 1)?))
            } else {
                Ok(None)
            }
        };
        Ok(AutoencoderKL {
            enc_conv_in: Conv2d::load(&enc.pp("conv_in"), 1)?,
            enc_blocks,
            enc_mid: VaeMidBlock::load(
                &enc.pp("mid_block"),
                groups,
                top,
                config.mid_block_add_attention,
            )?,
            enc_norm_out: GroupNorm::load(&enc.pp("conv_norm_out"), groups, 1e-6)?,
            enc_conv_out: Conv2d::load(&enc.pp("conv_out"), 1)?,
            quant_conv: optional_conv("quant_conv", config.use_quant_conv)?,
            post_quant_conv: optional_conv("post_quant_conv", config.use_post_quant_conv)?,
            dec_conv_in: Conv2d::load(&dec.pp("conv_in"), 1)?,
            dec_mid: VaeMidBlock::load(
                &dec.pp("mid_block"),
                groups,
                top,
                config.mid_block_add_attention,
            )?,
            dec_blocks,
            dec_norm_out: GroupNorm::load(&dec.pp("conv_norm_out"), groups, 1e-6)?,
            dec_conv_out: Conv2d::load(&dec.pp("conv_out"), 1)?,
            config,
            kind,
        })
    }

    /// The parsed `config.json`.
    pub fn config(&self) -> &VaeConfig {
        &self.config
    }

    /// The dtype the VAE runs in.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Encodes images in `[-1, 1]` `(batch, 3, H, W)` to the latent distribution's mean and
    /// standard deviation (unscaled latents).
    pub fn encode(&self, images: &Tensor) -> (Tensor, Tensor) {
        let mut h = self.enc_conv_in.forward(&images.to_kind(self.kind));
        for block in &self.enc_blocks {
            for resnet in &block.resnets {
                h = resnet.forward(&h, None);
            }
            if let Some(down) = &block.downsampler {
                h = down.forward(&h);
            }
        }
        h = self.enc_mid.forward(&h);
        h = self
            .enc_conv_out
            .forward(&self.enc_norm_out.forward(&h).silu());
        if let Some(q) = &self.quant_conv {
            h = q.forward(&h);
        }
        let parts = h.chunk(2, 1);
        let logvar = parts[1].clamp(-30.0, 20.0);
        (parts[0].shallow_clone(), (logvar * 0.5).exp())
    }

    /// Decodes unscaled latents to images in roughly `[-1, 1]`.
    pub fn decode(&self, latents: &Tensor) -> Tensor {
        let mut h = latents.to_kind(self.kind);
        if let Some(q) = &self.post_quant_conv {
            h = q.forward(&h);
        }
        h = self.dec_conv_in.forward(&h);
        h = self.dec_mid.forward(&h);
        for block in &self.dec_blocks {
            for resnet in &block.resnets {
                h = resnet.forward(&h, None);
            }
            if let Some(up) = &block.upsampler {
                h = up.forward(&h, None);
            }
        }
        self.dec_conv_out
            .forward(&self.dec_norm_out.forward(&h).silu())
    }

    /// Scales raw latents to the diffusion model's unit-variance space.
    pub fn scale_latents(&self, latents: &Tensor) -> Tensor {
        match self.config.shift_factor {
            Some(shift) => (latents - shift) * self.config.scaling_factor,
            None => latents * self.config.scaling_factor,
        }
    }

    /// Inverse of [`AutoencoderKL::scale_latents`].
    pub fn unscale_latents(&self, latents: &Tensor) -> Tensor {
        match self.config.shift_factor {
            Some(shift) => latents / self.config.scaling_factor + shift,
            None => latents / self.config.scaling_factor,
        }
    }
}
