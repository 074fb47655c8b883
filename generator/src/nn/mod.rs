//! The layer kit the text models, the diffusion models and the sentence embedder are built on:
//! layers ([`Linear`], [`Embedding`], [`LayerNorm`], [`RmsNorm`], [`GroupNorm`], [`Conv2d`]),
//! attention helpers, and the weight loader [`Weights`] that views a checkpoint under name
//! prefixes (`w.pp("model.layers.0")`) over safetensors ([`safetensors`], [`TensorMap`]) or
//! GGUF ([`GgufFile`]) tensors.

pub mod attention;
mod error;
mod ggml_quant;
mod gguf;
mod layers;
pub mod quant;
pub mod safetensors;
mod weights;

pub use error::{NnError, Result};
pub use ggml_quant::GgmlType;
pub use gguf::{GgufFile, GgufTensorInfo, GgufValue};
pub use layers::{Conv2d, Embedding, GroupNorm, LayerNorm, Linear, RmsNorm};
pub use weights::{TensorMap, TensorSource, Weights};
