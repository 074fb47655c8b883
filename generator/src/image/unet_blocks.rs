//! The building blocks shared by the UNet and the VAE: ResNet blocks, spatial transformers with
//! cross-attention, down/up-sampling, and the down, middle and up blocks made of them.

use tch::Tensor;

use super::attention::Attention;
use super::error::Result;
use crate::nn::Weights;
use crate::nn::{Conv2d, GroupNorm, LayerNorm, Linear};

/// diffusers' `ResnetBlock2D` (default time conditioning): norm, SiLU, conv, plus the projected
/// time embedding, norm, SiLU, conv, and a shortcut (1x1 conv when channels change).
pub(crate) struct ResnetBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Option<Linear>,
    norm2: GroupNorm,
    conv2: Conv2d,
    conv_shortcut: Option<Conv2d>,
    output_scale_factor: f64,
}

impl ResnetBlock {
    /// Reads one block; `time_emb_proj` and `conv_shortcut` are used when present.
    pub(crate) fn load(
        w: &Weights,
        groups: i64,
        eps: f64,
        output_scale_factor: f64,
    ) -> Result<Self> {
        Ok(ResnetBlock {
            norm1: GroupNorm::load(&w.pp("norm1"), groups, eps)?,
            conv1: Conv2d::load(&w.pp("conv1"), 1)?,
            time_emb_proj: if w.has_module("time_emb_proj") {
                Some(Linear::load(&w.pp("time_emb_proj"))?)
            } else {
                None
            },
            norm2: GroupNorm::load(&w.pp("norm2"), groups, eps)?,
            conv2: Conv2d::load(&w.pp("conv2"), 1)?,
            conv_shortcut: if w.has_module("conv_shortcut") {
                Some(Conv2d::load(&w.pp("conv_shortcut"), 1)?)
            } else {
                None
            },
            output_scale_factor,
        })
    }

    /// Applies the block; `temb` is the (already computed) time embedding, if any.
    pub(crate) fn forward(&self, x: &Tensor, temb: Option<&Tensor>) -> Tensor {
        let mut h = self.conv1.forward(&self.norm1.forward(x).silu());
        if let (Some(proj), Some(temb)) = (&self.time_emb_proj, temb) {
            h += proj.forward(&temb.silu()).unsqueeze(-1).unsqueeze(-1);
        }
        let h = self.conv2.forward(&self.norm2.forward(&h).silu());
        let shortcut = match &self.conv_shortcut {
            Some(c) => c.forward(x),
            None => x.shallow_clone(),
        };
        let out = shortcut + h;
        if self.output_scale_factor == 1.0 {
            out
        } else {
            out / self.output_scale_factor
        }
    }
}

/// `BasicTransformerBlock`: self-attention, cross-attention to the text, GEGLU feed-forward, each
/// pre-normed with a residual.
struct TransformerBlock {
    norm1: LayerNorm,
    attn1: Attention,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    ff_proj: Linear,
    ff_out: Linear,
}

impl TransformerBlock {
    fn load(w: &Weights, heads: i64) -> Result<Self> {
        Ok(TransformerBlock {
            norm1: LayerNorm::load(&w.pp("norm1"), 1e-5)?,
            attn1: Attention::load(&w.pp("attn1"), heads)?,
            norm2: LayerNorm::load(&w.pp("norm2"), 1e-5)?,
            attn2: Attention::load(&w.pp("attn2"), heads)?,
            norm3: LayerNorm::load(&w.pp("norm3"), 1e-5)?,
            ff_proj: Linear::load(&w.pp("ff.net.0.proj"))?,
            ff_out: Linear::load(&w.pp("ff.net.2"))?,
        })
    }

    fn forward(&self, x: &Tensor, context: &Tensor) -> Tensor {
        let x = self.attn1.forward(&self.norm1.forward(x), None) + x;
        let x = self.attn2.forward(&self.norm2.forward(&x), Some(context)) + &x;
        let projected = self.ff_proj.forward(&self.norm3.forward(&x));
        let parts = projected.chunk(2, -1);
        let gated = &parts[0] * parts[1].gelu("none");
        self.ff_out.forward(&gated) + x
    }
}

/// How a spatial transformer moves between the image and token layouts.
enum Projection {
    Conv { proj_in: Conv2d, proj_out: Conv2d },
    Linear { proj_in: Linear, proj_out: Linear },
}

/// `Transformer2DModel` as used inside the UNet: group norm, projection to tokens, transformer
/// blocks, projection back, residual.
pub(crate) struct SpatialTransformer {
    norm: GroupNorm,
    projection: Projection,
    blocks: Vec<TransformerBlock>,
}

impl SpatialTransformer {
    /// Reads `layers` transformer blocks with `heads` heads each.
    pub(crate) fn load(
        w: &Weights,
        heads: i64,
        layers: i64,
        groups: i64,
        linear_projection: bool,
    ) -> Result<Self> {
        let projection = if linear_projection {
            Projection::Linear {
                proj_in: Linear::load(&w.pp("proj_in"))?,
                proj_out: Linear::load(&w.pp("proj_out"))?,
            }
        } else {
            Projection::Conv {
                proj_in: Conv2d::load(&w.pp("proj_in"), 1)?,
                proj_out: Conv2d::load(&w.pp("proj_out"), 1)?,
            }
        };
        let blocks = (0..layers)
            .map(|i| TransformerBlock::load(&w.pp(format!("transformer_blocks.{i}")), heads))
            .collect::<Result<Vec<_>>>()?;
        Ok(SpatialTransformer {
            norm: GroupNorm::load(&w.pp("norm"), groups, 1e-6)?,
            projection,
            blocks,
        })
    }

    /// Applies the transformer to an NCHW tensor with text `context` `(batch, tokens, dim)`.
    pub(crate) fn forward(&self, x: &Tensor, context: &Tensor) -> Tensor {
        let (b, c, h, w) = x.size4().expect("NCHW input");
        let normed = self.norm.forward(x);
        let to_tokens = |t: Tensor| t.permute([0, 2, 3, 1]).reshape([b, h * w, -1]);
        let mut tokens = match &self.projection {
            Projection::Conv { proj_in, .. } => to_tokens(proj_in.forward(&normed)),
            Projection::Linear { proj_in, .. } => proj_in.forward(&to_tokens(normed)),
        };
        for block in &self.blocks {
            tokens = block.forward(&tokens, context);
        }
        let to_image = |t: Tensor| t.reshape([b, h, w, -1]).permute([0, 3, 1, 2]).contiguous();
        let out = match &self.projection {
            Projection::Conv { proj_out, .. } => proj_out.forward(&to_image(tokens)),
            Projection::Linear { proj_out, .. } => to_image(proj_out.forward(&tokens)),
        };
        debug_assert_eq!(out.size()[1], c);
        out + x
    }
}

/// A stride-2 convolution that halves the resolution.
pub(crate) struct Downsample {
    conv: Conv2d,
    asymmetric_pad: bool,
}

impl Downsample {
    /// Reads `conv`; `padding` 1 pads symmetrically, 0 pads right/bottom by one (VAE encoder).
    pub(crate) fn load(w: &Weights, padding: i64) -> Result<Self> {
        Ok(Downsample {
            conv: Conv2d::load_padded(&w.pp("conv"), 2, padding)?,
            asymmetric_pad: padding == 0,
        })
    }

    /// Halves height and width.
    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        if self.asymmetric_pad {
            self.conv.forward(&x.constant_pad_nd([0, 1, 0, 1]))
        } else {
            self.conv.forward(x)
        }
    }
}

/// Nearest-neighbour up-sampling followed by a 3x3 convolution.
pub(crate) struct Upsample {
    conv: Conv2d,
}

impl Upsample {
    /// Reads `conv`.
    pub(crate) fn load(w: &Weights) -> Result<Self> {
        Ok(Upsample {
            conv: Conv2d::load(&w.pp("conv"), 1)?,
        })
    }

    /// Doubles height and width, or resizes to `size` when the skip connection needs it.
    pub(crate) fn forward(&self, x: &Tensor, size: Option<(i64, i64)>) -> Tensor {
        let (_, _, h, w) = x.size4().expect("NCHW input");
        let (oh, ow) = size.unwrap_or((h * 2, w * 2));
        let kind = x.kind();
        let up = if kind == tch::Kind::BFloat16 {
            x.to_kind(tch::Kind::Float)
                .upsample_nearest2d([oh, ow], None, None)
                .to_kind(kind)
        } else {
            x.upsample_nearest2d([oh, ow], None, None)
        };
        self.conv.forward(&up)
    }
}

/// Shared settings for the blocks of one UNet.
#[derive(Clone, Copy)]
pub(crate) struct BlockSettings {
    pub(crate) groups: i64,
    pub(crate) eps: f64,
    pub(crate) linear_projection: bool,
}

/// A down block: ResNets, optionally each followed by a spatial transformer, then an optional
/// downsampler. Collects the skip connections the up path consumes.
pub(crate) struct DownBlock {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<SpatialTransformer>,
    downsampler: Option<Downsample>,
}

impl DownBlock {
    /// Reads a `DownBlock2D` (`heads` is `None`) or a `CrossAttnDownBlock2D`.
    pub(crate) fn load(
        w: &Weights,
        layers: i64,
        cross_attention: Option<(i64, i64)>,
        settings: BlockSettings,
        downsample_padding: i64,
    ) -> Result<Self> {
        let resnets = (0..layers)
            .map(|i| {
                ResnetBlock::load(
                    &w.pp(format!("resnets.{i}")),
                    settings.groups,
                    settings.eps,
                    1.0,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let attentions = match cross_attention {
            Some((heads, depth)) => (0..layers)
                .map(|i| {
                    SpatialTransformer::load(
                        &w.pp(format!("attentions.{i}")),
                        heads,
                        depth,
                        settings.groups,
                        settings.linear_projection,
                    )
                })
                .collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        let downsampler = if w.has_module("downsamplers") {
            Some(Downsample::load(
                &w.pp("downsamplers.0"),
                downsample_padding,
            )?)
        } else {
            None
        };
        Ok(DownBlock {
            resnets,
            attentions,
            downsampler,
        })
    }

    /// Runs the block and pushes each intermediate state onto `skips`.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        temb: &Tensor,
        context: &Tensor,
        skips: &mut Vec<Tensor>,
    ) -> Tensor {
        let mut h = x.shallow_clone();
        for (i, resnet) in self.resnets.iter().enumerate() {
            h = resnet.forward(&h, Some(temb));
            if let Some(attn) = self.attentions.get(i) {
                h = attn.forward(&h, context);
            }
            skips.push(h.shallow_clone());
        }
        if let Some(down) = &self.downsampler {
            h = down.forward(&h);
            skips.push(h.shallow_clone());
        }
        h
    }
}

/// The middle block: ResNet, then (transformer, ResNet) pairs.
pub(crate) struct MidBlock {
    first: ResnetBlock,
    attentions: Vec<SpatialTransformer>,
    resnets: Vec<ResnetBlock>,
}

impl MidBlock {
    /// Reads a `UNetMidBlock2DCrossAttn`.
    pub(crate) fn load(
        w: &Weights,
        heads: i64,
        depth: i64,
        settings: BlockSettings,
        scale: f64,
    ) -> Result<Self> {
        let first = ResnetBlock::load(&w.pp("resnets.0"), settings.groups, settings.eps, scale)?;
        let mut attentions = Vec::new();
        let mut resnets = Vec::new();
        let mut i = 0;
        while w.has_module(&format!("attentions.{i}")) {
            attentions.push(SpatialTransformer::load(
                &w.pp(format!("attentions.{i}")),
                heads,
                depth,
                settings.groups,
                settings.linear_projection,
            )?);
            resnets.push(ResnetBlock::load(
                &w.pp(format!("resnets.{}", i + 1)),
                settings.groups,
                settings.eps,
                scale,
            )?);
            i += 1;
        }
        Ok(MidBlock {
            first,
            attentions,
            resnets,
        })
    }

    /// Runs the block.
    pub(crate) fn forward(&self, x: &Tensor, temb: &Tensor, context: &Tensor) -> Tensor {
        let mut h = self.first.forward(x, Some(temb));
        for (attn, resnet) in self.attentions.iter().zip(&self.resnets) {
            h = attn.forward(&h, context);
            h = resnet.forward(&h, Some(temb));
        }
        h
    }
}

/// An up block: ResNets over the state concatenated with a skip connection, optionally each
/// followed by a spatial transformer, then an optional upsampler.
pub(crate) struct UpBlock {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<SpatialTransformer>,
    upsampler: Option<Upsample>,
}

impl UpBlock {
    /// Reads an `UpBlock2D` (`cross_attention` is `None`) or a `CrossAttnUpBlock2D`.
    pub(crate) fn load(
        w: &Weights,
        layers: i64,
        cross_attention: Option<(i64, i64)>,
        settings: BlockSettings,
    ) -> Result<Self> {
        let resnets = (0..layers)
            .map(|i| {
                ResnetBlock::load(
                    &w.pp(format!("resnets.{i}")),
                    settings.groups,
                    settings.eps,
                    1.0,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let attentions = match cross_attention {
            Some((heads, depth)) => (0..layers)
                .map(|i| {
                    SpatialTransformer::load(
                        &w.pp(format!("attentions.{i}")),
                        heads,
                        depth,
                        settings.groups,
                        settings.linear_projection,
                    )
                })
                .collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        let upsampler = if w.has_module("upsamplers") {
            Some(Upsample::load(&w.pp("upsamplers.0"))?)
        } else {
            None
        };
        Ok(UpBlock {
            resnets,
            attentions,
            upsampler,
        })
    }

    /// Whether the block ends with an upsampler.
    pub(crate) fn has_upsampler(&self) -> bool {
        self.upsampler.is_some()
    }

    /// Number of skip connections the block consumes.
    pub(crate) fn skip_count(&self) -> usize {
        self.resnets.len()
    }

    /// Runs the block, taking its skip connections from the end of `skips`; `upsample_size`
    /// is the spatial size of the next block's skips when it is not exactly double.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        temb: &Tensor,
        context: &Tensor,
        skips: &mut Vec<Tensor>,
        upsample_size: Option<(i64, i64)>,
    ) -> Tensor {
        let mut h = x.shallow_clone();
        for (i, resnet) in self.resnets.iter().enumerate() {
            let skip = skips
                .pop()
                .expect("UNet skip connections match the up path");
            h = resnet.forward(&Tensor::cat(&[&h, &skip], 1), Some(temb));
            if let Some(attn) = self.attentions.get(i) {
                h = attn.forward(&h, context);
            }
        }
        if let Some(up) = &self.upsampler {
            h = up.forward(&h, upsample_size);
        }
        h
    }
}
