//! The sentence embedder's error type.

use std::path::PathBuf;

use crate::nn::NnError;

/// Why the embedding model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `config.json` or the pooling config is malformed or describes another model.
    #[error("model config: {0}")]
    Config(String),
    /// The tokenizer could not be loaded or failed on an input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The weights file is unreadable, or a weight is missing or has the wrong shape.
    #[error("weights: {0}")]
    Weights(#[from] NnError),
    /// libtorch reported an error.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
}
