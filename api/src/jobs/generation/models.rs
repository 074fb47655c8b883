//! Where the configured models are: `text_model` and `image_model` may be `default`, a
//! catalogue short name (resolved through the Hugging Face cache, never downloaded here) or a
//! path. A catalogue model that is not in the cache is an error that names the
//! `adforge models pull` command; `serve` and `worker` check this at start.

use std::path::{Path, PathBuf};

use adforge_generator::hub::{self, HubError};

use crate::config::Settings;

/// Why a configured model cannot be found.
#[derive(Debug, thiserror::Error)]
pub enum ModelPathError {
    /// A catalogue model is not in the cache (the message names the pull command), or the
    /// catalogue cannot be read.
    #[error("{setting}: {source}")]
    Hub {
        /// The setting (`text_model` or `image_model`).
        setting: &'static str,
        /// What the hub module said.
        source: HubError,
    },
    /// Neither a catalogue name nor an existing file or folder.
    #[error(
        "{setting} '{value}' is neither a catalogue model (adforge models list --catalogue) \
         nor an existing {what}"
    )]
    Missing {
        /// The setting.
        setting: &'static str,
        /// Its value.
        value: String,
        /// What a path must be.
        what: &'static str,
    },
}

/// The file or folder `text_model` stands for: `models_dir`'s default model, a catalogue
/// model's snapshot in the Hugging Face cache, or the path itself.
pub fn text_model_path(text_model: &str, models_dir: &Path) -> Result<PathBuf, ModelPathError> {
    if text_model == "default" {
        return Ok(models_dir.join(adforge_generator::text::DEFAULT_MODEL_FILE));
    }
    resolve("text_model", text_model)
}

/// The diffusers folder `image_model` stands for: a catalogue model's snapshot in the Hugging
/// Face cache, or the path itself.
pub fn image_model_path(image_model: &Path) -> Result<PathBuf, ModelPathError> {
    match image_model.to_str() {
        Some(name) => resolve("image_model", name),
        None => Ok(image_model.to_path_buf()),
    }
}

fn resolve(setting: &'static str, value: &str) -> Result<PathBuf, ModelPathError> {
    match hub::resolve_model(value) {
        Ok(Some(resolved)) => Ok(resolved.path),
        Ok(None) => Ok(PathBuf::from(value)),
        Err(source) => Err(ModelPathError::Hub { setting, source }),
    }
}

/// Checks at start that the configured models can be found, so that a server with a
/// catalogue model that was never pulled stops with the command that pulls it instead of
/// failing every job later.
pub fn check_configured_models(settings: &Settings) -> Result<(), ModelPathError> {
    let text = text_model_path(&settings.text_model, &settings.models_dir)?;
    if settings.text_model != "default" && !text.exists() {
        return Err(ModelPathError::Missing {
            setting: "text_model",
            value: settings.text_model.clone(),
            what: "GGUF file or model folder",
        });
    }
    if let Some(image) = &settings.image_model {
        if !image_model_path(image)?.is_dir() {
            return Err(ModelPathError::Missing {
                setting: "image_model",
                value: image.display().to_string(),
                what: "diffusers folder",
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_pass_through_and_unknown_names_are_explained() {
        let dir = std::env::temp_dir();
        assert_eq!(
            text_model_path("default", &dir).unwrap(),
            dir.join(adforge_generator::text::DEFAULT_MODEL_FILE)
        );
        assert_eq!(
            text_model_path("/models/x.gguf", &dir).unwrap(),
            PathBuf::from("/models/x.gguf")
        );
        let settings = Settings {
            text_model: "qwen9-typo".into(),
            ..Settings::default()
        };
        let err = check_configured_models(&settings).unwrap_err().to_string();
        assert!(
            err.contains("qwen9-typo") && err.contains("--catalogue"),
            "{err}"
        );
    }
}
