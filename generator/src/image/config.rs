//! Configs that mirror the `config.json` of each diffusers component and the pipeline's
//! `model_index.json`. Field names and defaults follow the diffusers and transformers classes,
//! so a folder written by `save_pretrained` deserialises unchanged.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::{ImageError, Result};

/// Reads and parses one JSON config file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ImageError::Config {
        path: path.to_path_buf(),
        source,
    })
}

/// A config value that diffusers accepts either as one value for every block or as a list with
/// one value per block.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PerBlock<T> {
    /// The same value for every block.
    One(T),
    /// One value per block.
    Many(Vec<T>),
}

impl<T: Clone> PerBlock<T> {
    /// The value for block `index`.
    pub fn at(&self, index: usize) -> Option<T> {
        match self {
            PerBlock::One(v) => Some(v.clone()),
            PerBlock::Many(v) => v.get(index).cloned(),
        }
    }

    /// The values for `count` blocks, listed in reverse block order (as the up path uses them).
    pub fn reversed(&self, count: usize) -> Vec<Option<T>> {
        (0..count).rev().map(|i| self.at(i)).collect()
    }
}

/// `unet/config.json` of a `UNet2DConditionModel`.
#[derive(Debug, Clone, Deserialize)]
pub struct UNetConfig {
    /// Latent channels in.
    #[serde(default = "four")]
    pub in_channels: i64,
    /// Latent channels out.
    #[serde(default = "four")]
    pub out_channels: i64,
    /// Whether the sinusoidal time embedding puts cosines first.
    #[serde(default = "yes")]
    pub flip_sin_to_cos: bool,
    /// Frequency shift of the time embedding.
    #[serde(default)]
    pub freq_shift: f64,
    /// Block kinds of the down path (`CrossAttnDownBlock2D`, `DownBlock2D`).
    pub down_block_types: Vec<String>,
    /// Block kind of the middle (`UNetMidBlock2DCrossAttn`), or none.
    #[serde(default = "default_mid_block")]
    pub mid_block_type: Option<String>,
    /// Block kinds of the up path (`CrossAttnUpBlock2D`, `UpBlock2D`).
    pub up_block_types: Vec<String>,
    /// Output channels of each down block.
    pub block_out_channels: Vec<i64>,
    /// ResNet layers per down block (up blocks have one more).
    #[serde(default = "two_per_block")]
    pub layers_per_block: PerBlock<i64>,
    /// Padding of the down-sampling convolutions.
    #[serde(default = "one")]
    pub downsample_padding: i64,
    /// Output scale of the middle block's ResNets.
    #[serde(default = "one_f")]
    pub mid_block_scale_factor: f64,
    /// Activation (`silu`).
    #[serde(default = "silu")]
    pub act_fn: String,
    /// Groups of the group normalisations.
    #[serde(default = "groups32")]
    pub norm_num_groups: Option<i64>,
    /// Epsilon of the ResNet normalisations.
    #[serde(default = "eps5")]
    pub norm_eps: f64,
    /// Width of the text embeddings the cross-attention reads.
    #[serde(default = "cross_dim")]
    pub cross_attention_dim: PerBlock<i64>,
    /// Transformer blocks inside each cross-attention block.
    #[serde(default = "one_per_block")]
    pub transformer_layers_per_block: PerBlock<i64>,
    /// Attention heads per block (diffusers' historical name for the head count).
    #[serde(default = "heads8")]
    pub attention_head_dim: PerBlock<i64>,
    /// Attention heads per block, when given under its real name.
    #[serde(default)]
    pub num_attention_heads: Option<PerBlock<i64>>,
    /// Whether the transformers project in/out with linear layers (SD 2.x, SDXL) instead of 1x1
    /// convolutions.
    #[serde(default)]
    pub use_linear_projection: bool,
    /// Whether attention must be computed in f32 (SD 2.1); attention here always runs at the
    /// model dtype through libtorch's fused kernel, which accumulates in f32.
    #[serde(default)]
    pub upcast_attention: bool,
    /// `text_time` for SDXL's pooled-text and size conditioning.
    #[serde(default)]
    pub addition_embed_type: Option<String>,
    /// Embedding width of each SDXL time id.
    #[serde(default)]
    pub addition_time_embed_dim: Option<i64>,
    /// Input width of the SDXL additional embedding.
    #[serde(default)]
    pub projection_class_embeddings_input_dim: Option<i64>,
    /// Class conditioning kind; unsupported when set.
    #[serde(default)]
    pub class_embed_type: Option<String>,
    /// ResNet time conditioning mode; only `default` is supported.
    #[serde(default = "default_shift")]
    pub resnet_time_scale_shift: String,
    /// Time embedding kind; only `positional` is supported.
    #[serde(default = "positional")]
    pub time_embedding_type: String,
    /// Kernel of the input convolution.
    #[serde(default = "three")]
    pub conv_in_kernel: i64,
    /// Kernel of the output convolution.
    #[serde(default = "three")]
    pub conv_out_kernel: i64,
    /// Nominal latent size (pixels / 8).
    #[serde(default)]
    pub sample_size: Option<i64>,
}

impl UNetConfig {
    /// Attention heads of down block `index`.
    pub fn heads(&self, index: usize) -> i64 {
        self.num_attention_heads
            .as_ref()
            .unwrap_or(&self.attention_head_dim)
            .at(index)
            .unwrap_or(8)
    }
}

/// `vae/config.json` of an `AutoencoderKL`.
#[derive(Debug, Clone, Deserialize)]
pub struct VaeConfig {
    /// Image channels in.
    #[serde(default = "three")]
    pub in_channels: i64,
    /// Image channels out.
    #[serde(default = "three")]
    pub out_channels: i64,
    /// Encoder block kinds (`DownEncoderBlock2D`).
    pub down_block_types: Vec<String>,
    /// Decoder block kinds (`UpDecoderBlock2D`).
    pub up_block_types: Vec<String>,
    /// Channels of each encoder block.
    pub block_out_channels: Vec<i64>,
    /// ResNet layers per encoder block (decoder blocks have one more).
    #[serde(default = "one")]
    pub layers_per_block: i64,
    /// Latent channels.
    #[serde(default = "four")]
    pub latent_channels: i64,
    /// Groups of the group normalisations.
    #[serde(default = "groups32_plain")]
    pub norm_num_groups: i64,
    /// Factor that scales latents to unit variance.
    #[serde(default = "sd_scaling")]
    pub scaling_factor: f64,
    /// Shift subtracted before scaling, when the model has one.
    #[serde(default)]
    pub shift_factor: Option<f64>,
    /// Whether the VAE must run in f32 because it overflows in f16.
    #[serde(default = "yes")]
    pub force_upcast: bool,
    /// Whether the encoder output passes a 1x1 `quant_conv`.
    #[serde(default = "yes")]
    pub use_quant_conv: bool,
    /// Whether the decoder input passes a 1x1 `post_quant_conv`.
    #[serde(default = "yes")]
    pub use_post_quant_conv: bool,
    /// Whether the middle blocks have self-attention.
    #[serde(default = "yes")]
    pub mid_block_add_attention: bool,
}

/// `text_encoder/config.json` of a transformers `CLIPTextModel` or
/// `CLIPTextModelWithProjection`.
#[derive(Debug, Clone, Deserialize)]
pub struct ClipTextConfig {
    /// Vocabulary size.
    #[serde(default = "clip_vocab")]
    pub vocab_size: i64,
    /// Hidden width.
    #[serde(default = "clip_hidden")]
    pub hidden_size: i64,
    /// MLP width.
    #[serde(default = "clip_mlp")]
    pub intermediate_size: i64,
    /// Transformer layers.
    #[serde(default = "clip_layers")]
    pub num_hidden_layers: i64,
    /// Attention heads.
    #[serde(default = "clip_heads")]
    pub num_attention_heads: i64,
    /// Positions (77).
    #[serde(default = "clip_positions")]
    pub max_position_embeddings: i64,
    /// `quick_gelu` (OpenAI CLIP) or `gelu` (OpenCLIP).
    #[serde(default = "quick_gelu")]
    pub hidden_act: String,
    /// Epsilon of the layer norms.
    #[serde(default = "eps5")]
    pub layer_norm_eps: f64,
    /// Width of `text_projection` (with-projection models).
    #[serde(default)]
    pub projection_dim: Option<i64>,
    /// End-of-text token id; 2 means the legacy "argmax of ids" pooling.
    #[serde(default = "clip_eos")]
    pub eos_token_id: i64,
}

/// `scheduler/scheduler_config.json`. Every field is optional: each scheduler fills in its own
/// defaults, as diffusers' `from_config` does when switching scheduler class.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SchedulerConfig {
    /// The scheduler class the checkpoint was saved with.
    #[serde(rename = "_class_name", default)]
    pub class_name: Option<String>,
    /// Training timesteps (1000).
    pub num_train_timesteps: Option<usize>,
    /// First beta.
    pub beta_start: Option<f64>,
    /// Last beta.
    pub beta_end: Option<f64>,
    /// `linear`, `scaled_linear` or `squaredcos_cap_v2`.
    pub beta_schedule: Option<String>,
    /// Explicit betas.
    pub trained_betas: Option<Vec<f64>>,
    /// `epsilon`, `v_prediction` or `sample`.
    pub prediction_type: Option<String>,
    /// `leading`, `trailing` or `linspace`.
    pub timestep_spacing: Option<String>,
    /// Offset added to leading timesteps.
    pub steps_offset: Option<i64>,
    /// DDIM: whether the final alpha product is 1.
    pub set_alpha_to_one: Option<bool>,
    /// DDIM: whether the predicted sample is clipped.
    pub clip_sample: Option<bool>,
    /// DDIM: clip range.
    pub clip_sample_range: Option<f64>,
    /// Euler / DPM: Karras sigma spacing.
    pub use_karras_sigmas: Option<bool>,
    /// Euler / DPM: `zero` or `sigma_min` as the last sigma.
    pub final_sigmas_type: Option<String>,
    /// Euler: `linear` or `log_linear` sigma interpolation.
    pub interpolation_type: Option<String>,
    /// Rescales betas to zero terminal SNR.
    pub rescale_betas_zero_snr: Option<bool>,
    /// DPM-Solver: order (2 for DPM++ 2M).
    pub solver_order: Option<usize>,
    /// DPM-Solver: `dpmsolver++`.
    pub algorithm_type: Option<String>,
    /// DPM-Solver: `midpoint` or `heun`.
    pub solver_type: Option<String>,
    /// DPM-Solver: first order on the last steps when steps < 15.
    pub lower_order_final: Option<bool>,
    /// DPM-Solver: Euler on the final step.
    pub euler_at_final: Option<bool>,
    /// Karras: lowest sigma override.
    pub sigma_min: Option<f64>,
    /// Karras: highest sigma override.
    pub sigma_max: Option<f64>,
}

/// The pipeline's `model_index.json`: which class it is and which components it has.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelIndex {
    /// `StableDiffusionPipeline`, `StableDiffusionXLPipeline`, ...
    #[serde(rename = "_class_name")]
    pub class_name: String,
    /// SDXL: an empty negative prompt means zero embeddings.
    #[serde(default)]
    pub force_zeros_for_empty_prompt: Option<bool>,
    /// Component entries (`unet`, `text_encoder_2`, ...), each `[library, class]` or null.
    #[serde(flatten)]
    pub components: serde_json::Map<String, serde_json::Value>,
}

impl ModelIndex {
    /// Whether the component `name` is present (listed and not null).
    pub fn has(&self, name: &str) -> bool {
        matches!(self.components.get(name), Some(v) if !v.is_null() && v.as_array().is_some_and(|a| a.iter().all(|x| !x.is_null())))
    }
}

fn yes() -> bool {
    true
}
fn one() -> i64 {
    1
}
fn three() -> i64 {
    3
}
fn four() -> i64 {
    4
}
fn one_f() -> f64 {
    1.0
}
fn eps5() -> f64 {
    1e-5
}
fn silu() -> String {
    "silu".into()
}
fn default_mid_block() -> Option<String> {
    Some("UNetMidBlock2DCrossAttn".into())
}
fn default_shift() -> String {
    "default".into()
}
fn positional() -> String {
    "positional".into()
}
fn groups32() -> Option<i64> {
    Some(32)
}
fn groups32_plain() -> i64 {
    32
}
fn two_per_block() -> PerBlock<i64> {
    PerBlock::One(2)
}
fn one_per_block() -> PerBlock<i64> {
    PerBlock::One(1)
}
fn heads8() -> PerBlock<i64> {
    PerBlock::One(8)
}
fn cross_dim() -> PerBlock<i64> {
    PerBlock::One(1280)
}
fn sd_scaling() -> f64 {
    0.18215
}
fn clip_vocab() -> i64 {
    49408
}
fn clip_hidden() -> i64 {
    512
}
fn clip_mlp() -> i64 {
    2048
}
fn clip_layers() -> i64 {
    12
}
fn clip_positions() -> i64 {
    77
}
fn quick_gelu() -> String {
    "quick_gelu".into()
}
fn clip_eos() -> i64 {
    2
}
fn clip_heads() -> i64 {
    8
}
