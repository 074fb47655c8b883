//! Models from the Hugging Face Hub: the catalogue of short names (`assets/models.toml`), the
//! standard local cache (`~/.cache/huggingface/hub`, shared with every other Hugging Face tool)
//! and a blocking client that pulls only the files a model needs, resumes interrupted
//! downloads and checks them against the hub's SHA-256.
//!
//! Environment, as the Hugging Face tools read it: `HF_HOME`, `HF_HUB_CACHE` (the cache
//! folder), `HF_TOKEN` (gated and private repositories), `HF_ENDPOINT` (a mirror) and
//! `HF_HUB_OFFLINE=1` (the cache only, no network).
//!
//! Nothing here runs while serving: the server only looks models up in the cache
//! ([`resolve_model`]); downloads happen in `adforge models pull`.

pub mod cache;
pub mod catalogue;
pub mod client;
pub mod files;

use std::path::PathBuf;

pub use cache::{CachedRepo, HubCache};
pub use catalogue::{Catalogue, CatalogueEntry, ModelKind};
pub use client::{HubClient, HubConfig, NoProgress, Progress, Pulled};
pub use files::ModelRef;

/// What can go wrong looking up, downloading or checking a model.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A file or folder of the cache could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The hub could not be reached or answered something unexpected.
    #[error("{url}: {message}")]
    Http {
        /// The URL asked.
        url: String,
        /// What happened.
        message: String,
    },
    /// The repository needs a token (gated or private) and none was given, or the token was
    /// refused.
    #[error("{0}")]
    Unauthorized(String),
    /// The repository, revision or file does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A downloaded file's SHA-256 differs from the hub's; the file was deleted.
    #[error(
        "{file}: SHA-256 mismatch (the hub says {expected}, the download is {actual}); \
         the download was deleted, run the pull again"
    )]
    Checksum {
        /// The file in the repository.
        file: String,
        /// The hub's SHA-256.
        expected: String,
        /// The downloaded bytes' SHA-256.
        actual: String,
    },
    /// A downloaded file's size differs from the hub's; the file was deleted.
    #[error(
        "{file}: the hub announced {expected} bytes but sent {actual}; the download was deleted"
    )]
    Size {
        /// The file in the repository.
        file: String,
        /// Bytes announced.
        expected: u64,
        /// Bytes received.
        actual: u64,
    },
    /// `HF_HUB_OFFLINE` is set and the file is not in the cache.
    #[error(
        "{what} is not in the cache {cache} and HF_HUB_OFFLINE is set; \
         unset it to download, or copy the cache from a machine that has it"
    )]
    Offline {
        /// What was asked for.
        what: String,
        /// The cache folder.
        cache: PathBuf,
    },
    /// A catalogue model is configured but has not been downloaded.
    #[error(
        "model '{name}' ({repo}) is not in the Hugging Face cache {cache}; \
         download it with: adforge models pull {name}"
    )]
    NotPulled {
        /// The short name.
        name: String,
        /// Its repository.
        repo: String,
        /// The cache folder looked in.
        cache: PathBuf,
    },
    /// A model name or reference that means nothing.
    #[error("{0}")]
    BadReference(String),
    /// The catalogue file is malformed.
    #[error("model catalogue: {0}")]
    Catalogue(String),
}

/// Shorthand for results of this module.
pub type Result<T> = std::result::Result<T, HubError>;

/// What a configured model name points at once resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedModel {
    /// The file (GGUF; the first part of a split one) or folder to load.
    pub path: PathBuf,
    /// The catalogue entry, when the name was a short name.
    pub entry: Option<CatalogueEntry>,
}

/// Resolves a configured model name through the catalogue and the cache of `HF_HUB_CACHE` /
/// `HF_HOME`: `Ok(None)` when `name` is not a catalogue short name (it is then a path), the
/// snapshot path when the model is in the cache, and [`HubError::NotPulled`] (which names the
/// `adforge models pull` command) when it is not.
pub fn resolve_model(name: &str) -> Result<Option<ResolvedModel>> {
    resolve_model_in(name, Catalogue::builtin()?, &HubCache::from_env())
}

/// [`resolve_model`] against a given catalogue and cache.
pub fn resolve_model_in(
    name: &str,
    catalogue: &Catalogue,
    cache: &HubCache,
) -> Result<Option<ResolvedModel>> {
    let Some(entry) = catalogue.get(name) else {
        return Ok(None);
    };
    match cache.find_model(&entry.repo, "main", &entry.required_files())? {
        Some(snapshot) => Ok(Some(ResolvedModel {
            path: match entry.entry_file() {
                Some(file) => snapshot.join(file),
                None => snapshot,
            },
            entry: Some(entry.clone()),
        })),
        None => Err(HubError::NotPulled {
            name: entry.name.clone(),
            repo: entry.repo.clone(),
            cache: cache.root().to_path_buf(),
        }),
    }
}
