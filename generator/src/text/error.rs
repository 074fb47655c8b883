//! The text engine's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running a text model.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint's weights could not be read: a malformed GGUF or safetensors file, a
    /// missing tensor, a tensor of the wrong shape.
    #[error(transparent)]
    Weights(#[from] crate::nn::NnError),
    /// A checkpoint's `config.json` or metadata is missing a field or has an unsupported value.
    #[error("model config: {0}")]
    Config(String),
    /// The tokenizer could not be built or failed on some input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template could not be compiled or rendered.
    #[error("chat template: {0}")]
    ChatTemplate(String),
    /// A generation request is invalid (empty prompt, bad sampling parameters, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A structured-output schema cannot be satisfied by this model's vocabulary.
    #[error("structured output: {0}")]
    Structured(String),
    /// libtorch reported an error.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// The device or dtype setting is unusable.
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
    /// The request was cancelled through its [`CancelToken`](super::CancelToken).
    #[error("generation was cancelled")]
    Cancelled,
    /// The batching scheduler's worker thread has stopped.
    #[error("the text scheduler has shut down")]
    SchedulerClosed,
}

/// Result type of the text engine.
pub type Result<T, E = TextError> = std::result::Result<T, E>;
