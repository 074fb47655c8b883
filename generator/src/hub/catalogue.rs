//! The catalogue of models adforge knows by short name, read from `assets/models.toml` (built
//! into the binary).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::{HubError, Result};

/// The catalogue file, as shipped.
const BUILTIN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../assets/models.toml"
));

/// What a model makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A text LLM (copy).
    Text,
    /// A diffusion model (backgrounds).
    Image,
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            ModelKind::Text => "text",
            ModelKind::Image => "image",
        })
    }
}

/// One catalogue model (see the field list at the top of `assets/models.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueEntry {
    /// Short name, e.g. `qwen3-1.7b`.
    pub name: String,
    /// `OWNER/NAME` on the hub.
    pub repo: String,
    /// Text or image.
    pub kind: ModelKind,
    /// Network family, e.g. `qwen3` or `stable-diffusion-xl`.
    pub architecture: String,
    /// What the model is, in words.
    pub title: String,
    /// When to pick it.
    pub good_for: String,
    /// ISO 639-1 codes of the languages it writes usable copy in (text models).
    #[serde(default)]
    pub languages: Vec<String>,
    /// The licence's identifier on the hub.
    pub license: String,
    /// Whether the hub asks to accept the licence first (a token is then needed).
    pub gated: bool,
    /// Approximate download size in MB.
    pub size_mb: u64,
    /// GGUF quantisation pulled by default.
    #[serde(default)]
    pub quant: Option<String>,
    /// Files to pull; empty for a diffusers folder, whose files come from the listing.
    #[serde(default)]
    pub files: Vec<String>,
    /// Weights variant of a diffusers folder (`fp16`).
    #[serde(default)]
    pub variant: Option<String>,
    /// Recommended sampling temperature (text).
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Recommended denoising steps (image).
    #[serde(default)]
    pub steps: Option<usize>,
    /// Recommended classifier-free guidance (image).
    #[serde(default)]
    pub guidance: Option<f64>,
    /// Recommended square image side (image).
    #[serde(default)]
    pub image_size: Option<u32>,
    /// What to know before using it.
    #[serde(default)]
    pub note: Option<String>,
}

impl CatalogueEntry {
    /// The file to load inside the snapshot (a GGUF, the first part of a split one), or `None`
    /// when the model is the snapshot folder itself (safetensors, diffusers).
    pub fn entry_file(&self) -> Option<&str> {
        self.files
            .iter()
            .map(String::as_str)
            .find(|f| f.ends_with(".gguf"))
    }

    /// Files that must be in the cache for the model to count as pulled.
    pub fn required_files(&self) -> Vec<String> {
        if self.files.is_empty() {
            // A diffusers folder: its index and the two components every pipeline has.
            vec![
                "model_index.json".into(),
                "unet/config.json".into(),
                "vae/config.json".into(),
            ]
        } else {
            self.files.clone()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    model: Vec<CatalogueEntry>,
}

/// The models known by short name.
#[derive(Clone, Debug, PartialEq)]
pub struct Catalogue {
    entries: Vec<CatalogueEntry>,
}

impl Catalogue {
    /// Parses and checks a catalogue in the `assets/models.toml` format.
    pub fn parse(text: &str) -> Result<Self> {
        let file: CatalogueFile =
            toml::from_str(text).map_err(|e| HubError::Catalogue(e.to_string()))?;
        let mut seen = std::collections::BTreeSet::new();
        for entry in &file.model {
            let bad = |message: &str| {
                Err(HubError::Catalogue(format!(
                    "model '{}': {message}",
                    entry.name
                )))
            };
            if entry.name.is_empty()
                || entry.name.contains('/')
                || entry.name != entry.name.to_ascii_lowercase()
            {
                return bad("a short name is lower case, without '/'");
            }
            if !seen.insert(entry.name.clone()) {
                return bad("listed twice");
            }
            if super::files::split_repo(&entry.repo).is_none() {
                return bad("repo must read OWNER/NAME");
            }
            match entry.kind {
                ModelKind::Text => {
                    if entry.files.is_empty() {
                        return bad("a text model lists its files");
                    }
                    if entry.languages.is_empty() {
                        return bad("a text model lists the languages it writes");
                    }
                }
                ModelKind::Image => {
                    if entry.steps.is_none()
                        || entry.guidance.is_none()
                        || entry.image_size.is_none()
                    {
                        return bad("an image model has steps, guidance and image_size");
                    }
                }
            }
        }
        Ok(Catalogue {
            entries: file.model,
        })
    }

    /// The catalogue built into the binary (`assets/models.toml`).
    pub fn builtin() -> Result<&'static Catalogue> {
        static PARSED: OnceLock<std::result::Result<Catalogue, String>> = OnceLock::new();
        PARSED
            .get_or_init(|| Catalogue::parse(BUILTIN).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| HubError::Catalogue(e.clone()))
    }

    /// The entry of a short name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&CatalogueEntry> {
        let name = name.trim();
        self.entries
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[CatalogueEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_has_the_required_models() {
        let catalogue = Catalogue::builtin().expect("assets/models.toml parses");
        for name in [
            "qwen2.5-0.5b",
            "qwen2.5-1.5b",
            "qwen2.5-3b",
            "qwen2.5-7b",
            "qwen3-0.6b",
            "qwen3-1.7b",
            "qwen3-4b",
            "qwen3-8b",
            "llama-3.2-1b",
            "llama-3.2-3b",
            "mistral-7b",
            "gemma-3-1b",
            "gemma-3-4b",
            "phi-3.5-mini",
            "sd-turbo",
            "sdxl-turbo",
            "sd-1.5",
        ] {
            assert!(catalogue.get(name).is_some(), "{name} missing");
        }
        let qwen = catalogue.get("Qwen3-1.7B").expect("case-insensitive");
        assert_eq!(qwen.kind, ModelKind::Text);
        assert!(qwen.languages.contains(&"fr".to_string()));
        assert_eq!(qwen.entry_file(), Some("Qwen3-1.7B-Q4_K_M.gguf"));
        let split = catalogue.get("qwen2.5-7b").unwrap();
        assert_eq!(split.files.len(), 2);
        assert!(split.entry_file().unwrap().contains("00001-of-00002"));
        let turbo = catalogue.get("sd-turbo").unwrap();
        assert_eq!((turbo.steps, turbo.guidance), (Some(1), Some(0.0)));
        assert_eq!(turbo.entry_file(), None);
        assert!(catalogue.get("gemma-3-1b").unwrap().gated);
    }

    #[test]
    fn malformed_entries_are_refused_with_their_name() {
        let base = |extra: &str| {
            format!(
                "[[model]]\nname = \"x\"\nrepo = \"a/b\"\nkind = \"text\"\narchitecture = \"llama\"\n\
                 title = \"X\"\ngood_for = \"y\"\nlicense = \"mit\"\ngated = false\nsize_mb = 1\n{extra}"
            )
        };
        let ok = base("files = [\"x.gguf\"]\nlanguages = [\"en\"]\n");
        assert!(Catalogue::parse(&ok).is_ok());
        let err = Catalogue::parse(&base("files = [\"x.gguf\"]\n")).unwrap_err();
        assert!(err.to_string().contains("'x'"), "{err}");
        assert!(err.to_string().contains("languages"), "{err}");
        let err = Catalogue::parse(&format!("{ok}{ok}")).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        let err = Catalogue::parse(&ok.replace("a/b", "ab")).unwrap_err();
        assert!(err.to_string().contains("OWNER/NAME"), "{err}");
        assert!(Catalogue::parse(&format!("{ok}colour = 1\n")).is_err());
    }
}
