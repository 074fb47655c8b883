//! `UNet2DConditionModel`: the noise-prediction network of Stable Diffusion 1.x/2.x and SDXL,
//! built from a diffusers `unet/` folder.

use std::path::Path;

use tch::{Device, Kind, Tensor};

use super::config::{read_json, UNetConfig};
use super::error::{ImageError, Result};
use super::unet_blocks::{BlockSettings, DownBlock, MidBlock, UpBlock};
use crate::nn::Weights;
use crate::nn::{Conv2d, GroupNorm, Linear};

/// SDXL's extra conditioning: the pooled text embedding and the six size/crop time ids.
pub struct AddedConditions<'a> {
    /// Pooled text embeddings `(batch, pooled_dim)`.
    pub text_embeds: &'a Tensor,
    /// `(batch, 6)`: original size, crop top-left, target size.
    pub time_ids: &'a Tensor,
}

/// The two-layer MLP over a sinusoidal embedding (`TimestepEmbedding`).
struct TimestepMlp {
    linear_1: Linear,
    linear_2: Linear,
}

impl TimestepMlp {
    fn load(w: &Weights) -> Result<Self> {
        Ok(TimestepMlp {
            linear_1: Linear::load(&w.pp("linear_1"))?,
            linear_2: Linear::load(&w.pp("linear_2"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.linear_2.forward(&self.linear_1.forward(x).silu())
    }
}

/// Sinusoidal embedding of (possibly fractional) timesteps, as diffusers'
/// `get_timestep_embedding` with `max_period` 10000.
pub(crate) fn timestep_embedding(
    timesteps: &Tensor,
    dim: i64,
    flip_sin_to_cos: bool,
    shift: f64,
) -> Tensor {
    let half = dim / 2;
    let device = timesteps.device();
    let exponent =
        Tensor::arange(half, (Kind::Float, device)) * (-(10000f64.ln())) / (half as f64 - shift);
    let args = timesteps.to_kind(Kind::Float).unsqueeze(1) * exponent.exp().unsqueeze(0);
    let (sin, cos) = (args.sin(), args.cos());
    let emb = if flip_sin_to_cos {
        Tensor::cat(&[cos, sin], -1)
    } else {
        Tensor::cat(&[sin, cos], -1)
    };
    if dim % 2 == 1 {
        emb.constant_pad_nd([0, 1, 0, 0])
    } else {
        emb
    }
}

/// The conditional UNet.
pub struct UNet2DConditionModel {
    config: UNetConfig,
    conv_in: Conv2d,
    time_embedding: TimestepMlp,
    add_embedding: Option<TimestepMlp>,
    down_blocks: Vec<DownBlock>,
    mid_block: Option<MidBlock>,
    up_blocks: Vec<UpBlock>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
    kind: Kind,
}

impl UNet2DConditionModel {
    /// Loads `config.json` and the weights of a `unet/` folder in `kind` on `device`.
    pub fn load(dir: &Path, device: Device, kind: Kind) -> Result<Self> {
        let config: UNetConfig = read_json(&dir.join("config.json"))?;
        let weights = Weights::new(crate::nn::safetensors::load_dir(
            dir,
            "diffusion_pytorch_model",
            kind,
            device,
        )?);
        Self::from_weights(config, &weights, kind)
    }

    pub(crate) fn from_weights(config: UNetConfig, w: &Weights, kind: Kind) -> Result<Self> {
        if config.class_embed_type.is_some() {
            return Err(ImageError::Unsupported("UNet class embeddings".into()));
        }
        if config.resnet_time_scale_shift != "default" || config.time_embedding_type != "positional"
        {
            return Err(ImageError::Unsupported(format!(
                "UNet time conditioning {} / {}",
                config.resnet_time_scale_shift, config.time_embedding_type
            )));
        }
        if config.act_fn != "silu" {
            return Err(ImageError::Unsupported(format!(
                "UNet activation {}",
                config.act_fn
            )));
        }
        let settings = BlockSettings {
            groups: config.norm_num_groups.unwrap_or(32),
            eps: config.norm_eps,
            linear_projection: config.use_linear_projection,
        };
        let blocks = config.block_out_channels.len();
        let mut down_blocks = Vec::with_capacity(blocks);
        for (i, kind_name) in config.down_block_types.iter().enumerate() {
            let layers = config.layers_per_block.at(i).unwrap_or(2);
            let cross = match kind_name.as_str() {
                "CrossAttnDownBlock2D" => Some((
                    config.heads(i),
                    config.transformer_layers_per_block.at(i).unwrap_or(1),
                )),
                "DownBlock2D" => None,
                other => return Err(ImageError::Unsupported(format!("UNet block {other}"))),
            };
            down_blocks.push(DownBlock::load(
                &w.pp(format!("down_blocks.{i}")),
                layers,
                cross,
                settings,
                config.downsample_padding,
            )?);
        }
        let last = blocks - 1;
        let mid_block = match config.mid_block_type.as_deref() {
            Some("UNetMidBlock2DCrossAttn") => Some(MidBlock::load(
                &w.pp("mid_block"),
                config.heads(last),
                config.transformer_layers_per_block.at(last).unwrap_or(1),
                settings,
                config.mid_block_scale_factor,
            )?),
            None => None,
            Some(other) => {
                return Err(ImageError::Unsupported(format!(
                    "UNet middle block {other}"
                )))
            }
        };
        let mut up_blocks = Vec::with_capacity(blocks);
        for (i, kind_name) in config.up_block_types.iter().enumerate() {
            let down_index = last - i;
            let layers = config.layers_per_block.at(down_index).unwrap_or(2) + 1;
            let cross = match kind_name.as_str() {
                "CrossAttnUpBlock2D" => Some((
                    config.heads(down_index),
                    config
                        .transformer_layers_per_block
                        .at(down_index)
                        .unwrap_or(1),
                )),
                "UpBlock2D" => None,
                other => return Err(ImageError::Unsupported(format!("UNet block {other}"))),
            };
            up_blocks.push(UpBlock::load(
                &w.pp(format!("up_blocks.{i}")),
                layers,
                cross,
                settings,
            )?);
        }
        let add_embedding = match config.addition_embed_type.as_deref() {
            Some("text_time") => Some(TimestepMlp::load(&w.pp("add_embedding"))?),
            None => None,
            Some(other) => {
                return Err(ImageError::Unsupported(format!(
                    "UNet addition embedding {other}"
                )))
            }
        };
        Ok(UNet2DConditionModel {
            conv_in: Conv2d::load(&w.pp("conv_in"), 1)?,
            time_embedding: TimestepMlp::load(&w.pp("time_embedding"))?,
            add_embedding,
            down_blocks,
            mid_block,
            up_blocks,
            conv_norm_out: GroupNorm::load(&w.pp("conv_norm_out"), settings.groups, settings.eps)?,
            conv_out: Conv2d::load(&w.pp("conv_out"), 1)?,
            config,
            kind,
        })
    }

    /// The parsed `config.json`.
    pub fn config(&self) -> &UNetConfig {
        &self.config
    }

    /// Whether the UNet expects SDXL's pooled-text and time-id conditioning.
    pub fn needs_added_conditions(&self) -> bool {
        self.add_embedding.is_some()
    }

    /// Predicts noise (or v) for `sample` `(batch, C, H, W)` at `timestep`, attending to
    /// `context` `(batch, tokens, dim)`.
    pub fn forward(
        &self,
        sample: &Tensor,
        timestep: f64,
        context: &Tensor,
        added: Option<AddedConditions<'_>>,
    ) -> Result<Tensor> {
        let (batch, _, height, width) = sample.size4()?;
        let device = sample.device();
        let sample = sample.to_kind(self.kind);
        let context = context.to_kind(self.kind);
        let timesteps = Tensor::full([batch], timestep, (Kind::Float, device));
        let t_emb = timestep_embedding(
            &timesteps,
            self.config.block_out_channels[0],
            self.config.flip_sin_to_cos,
            self.config.freq_shift,
        )
        .to_kind(self.kind);
        let mut emb = self.time_embedding.forward(&t_emb);
        if let Some(add) = &self.add_embedding {
            let added = added.ok_or_else(|| {
                ImageError::InvalidRequest("SDXL UNet needs pooled text and time ids".into())
            })?;
            let dim = self.config.addition_time_embed_dim.unwrap_or(256);
            let ids = added.time_ids.flatten(0, -1);
            let time_embeds = timestep_embedding(
                &ids,
                dim,
                self.config.flip_sin_to_cos,
                self.config.freq_shift,
            )
            .reshape([batch, -1]);
            let add_in = Tensor::cat(&[added.text_embeds.to_kind(Kind::Float), time_embeds], -1)
                .to_kind(self.kind);
            emb += add.forward(&add_in);
        }
        let up_factor = 1i64 << self.up_blocks.iter().filter(|b| b.has_upsampler()).count();
        let forward_upsample_size = height % up_factor != 0 || width % up_factor != 0;

        let mut h = self.conv_in.forward(&sample);
        let mut skips = vec![h.shallow_clone()];
        for block in &self.down_blocks {
            h = block.forward(&h, &emb, &context, &mut skips);
        }
        if let Some(mid) = &self.mid_block {
            h = mid.forward(&h, &emb, &context);
        }
        let count = self.up_blocks.len();
        for (i, block) in self.up_blocks.iter().enumerate() {
            let upsample_size = if forward_upsample_size && i + 1 < count {
                let remaining = skips.len() - block.skip_count();
                skips.get(remaining.wrapping_sub(1)).map(|s| {
                    let size = s.size();
                    (size[2], size[3])
                })
            } else {
                None
            };
            h = block.forward(&h, &emb, &context, &mut skips, upsample_size);
        }
        let h = self
            .conv_out
            .forward(&self.conv_norm_out.forward(&h).silu());
        Ok(h)
    }
}
