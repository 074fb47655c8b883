//! The error type of the image engine.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running a diffusion pipeline.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file of the checkpoint folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON config file is malformed or lacks a required field.
    #[error("bad config {path}: {source}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The weights could not be read: no weights file, a malformed file, a missing tensor.
    #[error(transparent)]
    Weights(#[from] crate::nn::NnError),
    /// The checkpoint or config asks for a feature this engine does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The tokenizer files could not be loaded or used.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A request parameter is out of range.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result alias of the image engine.
pub type Result<T> = std::result::Result<T, ImageError>;
