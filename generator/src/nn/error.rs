//! The layer kit's error type: what can go wrong while reading checkpoint files and tensors.

use std::path::PathBuf;

/// Why a checkpoint or one of its tensors could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A safetensors file or shard index is malformed.
    #[error("safetensors file {path}: {message}")]
    Safetensors {
        /// The file being read.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A GGUF file is malformed or uses something this loader does not support.
    #[error("GGUF file {path}: {message}")]
    Gguf {
        /// The file being read.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// No weights file was found in a checkpoint folder.
    #[error("no safetensors weights in {0} (pickled .bin checkpoints are not supported)")]
    MissingWeights(PathBuf),
    /// A tensor the model needs is not in the checkpoint.
    #[error("checkpoint has no tensor {0:?}")]
    MissingTensor(String),
    /// A tensor has a shape the model does not expect.
    #[error("tensor {name:?} has shape {actual:?}, expected {expected:?}")]
    TensorShape {
        /// The tensor's full name.
        name: String,
        /// The shape found in the checkpoint.
        actual: Vec<i64>,
        /// The shape the config implies.
        expected: Vec<i64>,
    },
    /// libtorch reported an error.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result type of the layer kit.
pub type Result<T, E = NnError> = std::result::Result<T, E>;
