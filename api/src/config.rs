//! All of adforge's settings in one place.
//!
//! Sources, later ones winning: built-in defaults, a TOML file (`--config PATH`, else
//! `ADFORGE_CONFIG`, else `adforge.toml` in the working directory when present), environment
//! variables `ADFORGE_<SETTING>` (e.g. `ADFORGE_BIND=0.0.0.0:8080`), and the conventional
//! `DATABASE_URL` and `REDIS_URL`. With no configuration at all, `adforge serve` listens on
//! 127.0.0.1:8080 with SQLite under `./data` and an in-process cache.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Every setting, with its default in [`Settings::default`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server binds. Default `127.0.0.1:8080`.
    pub bind: String,
    /// Directory for the SQLite file, assets and the signing secret. Default `data`.
    pub data_dir: PathBuf,
    /// `postgres://...` for PostgreSQL, or a SQLite file path. Default: `<data_dir>/adforge.sqlite3`.
    pub database_url: Option<String>,
    /// `redis://...` to share cache, counters and bandit state between processes. Default: none
    /// (in-process cache).
    pub redis_url: Option<String>,
    /// Base URL clients use to reach this server, for tracking and asset links. Default:
    /// `http://<bind>`.
    pub public_url: Option<String>,
    /// Largest JSON request body in bytes. Default 1 MiB.
    pub max_json_bytes: usize,
    /// Largest upload (logo, CSV) in bytes. Default 10 MiB.
    pub max_upload_bytes: usize,
    /// Folder holding the default models fetched by `scripts/setup.sh`.
    pub models_dir: PathBuf,
    /// Text model: `default` (SmolLM2-135M-Instruct), a catalogue short name such as
    /// `qwen3-1.7b` (`assets/models.toml`, pulled with `adforge models pull NAME` into the
    /// Hugging Face cache), or a path to a GGUF file or HF folder.
    pub text_model: String,
    /// ISO 639-1 codes of the languages the text model writes, e.g. `["en", "fr"]`. Default:
    /// the catalogue's list for a catalogue model, else English only (the default model writes
    /// no other language; a path without a list is assumed to write English only too).
    /// Segments in other languages get no copy and an error that says how to configure a model
    /// that writes theirs.
    pub text_model_languages: Option<Vec<String>>,
    /// Candidates decoded per wanted variant; the best pass the checks and are kept. 1 to 8.
    /// Default 3.
    pub copy_candidates_per_variant: u32,
    /// Optional diffusion model for ad backgrounds: a catalogue short name such as `sd-turbo`
    /// or a diffusers-layout checkpoint folder; without one the compositor designs backgrounds
    /// from the brand kit.
    pub image_model: Option<PathBuf>,
    /// Denoising steps for ad backgrounds with `image_model`. Default 25 (SD-Turbo: 1); a
    /// catalogue model left at the default gets the catalogue's recommendation.
    pub image_steps: usize,
    /// Classifier-free guidance for ad backgrounds with `image_model`; 1 or less disables it.
    /// Default 7.5 (SD-Turbo: 0); a catalogue model left at the default gets the catalogue's.
    pub image_guidance: f64,
    /// Side of the square background painted with `image_model`, a multiple of 8; the
    /// compositor crops it to each ad size. Default 512 (SDXL: 1024); a catalogue model left at
    /// the default gets the catalogue's.
    pub image_size: u32,
    /// Compute device: `auto`, `cpu`, `cuda` or `cuda:N`. Default `cpu`.
    pub device: String,
    /// Number of generation worker threads run inside `adforge serve`; they share one copy of
    /// the models and its decode batches. 0 disables them (use `adforge worker` processes
    /// instead). Default 2.
    pub workers: usize,
    /// Seconds a job lease lasts without a heartbeat before another worker may take the job
    /// over. Default 30.
    pub job_lease_seconds: u64,
    /// Most impressions one user (by hashed user key) gets of one creative per day. Default 3.
    pub frequency_cap_creative: u32,
    /// Most impressions one user gets of one campaign per day. Default 10.
    pub frequency_cap_campaign: u32,
    /// Seconds a user's frequency-cap counts last (the "per day" of the caps). Default 86400.
    pub frequency_cap_window_seconds: u64,
    /// Secret that signs impression and click URLs; replicas behind one load balancer must share
    /// it. Default: a random secret kept in `<data_dir>/signing.key`.
    pub signing_secret: Option<String>,
    /// `tracing` filter, e.g. `info` or `adforge_api=debug`. Default `info`.
    pub log: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            database_url: None,
            redis_url: None,
            public_url: None,
            max_json_bytes: 1 << 20,
            max_upload_bytes: 10 << 20,
            models_dir: default_models_dir(),
            text_model: "default".into(),
            text_model_languages: None,
            copy_candidates_per_variant: DEFAULT_COPY_CANDIDATES,
            image_model: None,
            image_steps: DEFAULT_IMAGE_STEPS,
            image_guidance: DEFAULT_IMAGE_GUIDANCE,
            image_size: DEFAULT_IMAGE_SIZE,
            device: "cpu".into(),
            workers: 2,
            job_lease_seconds: 30,
            frequency_cap_creative: 3,
            frequency_cap_campaign: 10,
            frequency_cap_window_seconds: 24 * 3600,
            signing_secret: None,
            log: "info".into(),
        }
    }
}

/// Default of `copy_candidates_per_variant`.
pub const DEFAULT_COPY_CANDIDATES: u32 = 3;
/// Default of `image_steps`.
pub const DEFAULT_IMAGE_STEPS: usize = 25;
/// Default of `image_guidance`.
pub const DEFAULT_IMAGE_GUIDANCE: f64 = 7.5;
/// Default of `image_size`.
pub const DEFAULT_IMAGE_SIZE: u32 = 512;

/// How ad backgrounds are painted: the `image_*` settings, with a catalogue model's
/// recommendations in place of the settings left at their defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageSettings {
    /// Denoising steps.
    pub steps: usize,
    /// Classifier-free guidance.
    pub guidance: f64,
    /// Side of the square painted.
    pub size: u32,
}

/// `recommended` in place of a setting left at its default, else the setting.
fn pick<T: PartialEq + Copy>(value: T, default: T, recommended: Option<T>) -> T {
    if value == default {
        recommended.unwrap_or(value)
    } else {
        value
    }
}

/// The catalogue entry a configured model name stands for, if it is a short name.
pub fn catalogue_entry(name: &str) -> Option<adforge_generator::hub::CatalogueEntry> {
    adforge_generator::hub::Catalogue::builtin()
        .ok()?
        .get(name)
        .cloned()
}

/// The text model and the languages it writes, as `GET /v1/models/text` reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TextModelInfo {
    /// The `text_model` setting: `default`, a catalogue short name or a path.
    pub name: String,
    /// What the model is, when known (e.g. `SmolLM2-135M-Instruct`).
    pub model: Option<String>,
    /// ISO 639-1 codes of the languages it writes.
    pub languages: Vec<String>,
}

/// The languages a text model writes when `text_model_languages` is not set: the catalogue's
/// list for a catalogue model, else English only (the default model and any path).
pub fn default_text_model_languages(text_model: &str) -> Vec<String> {
    match catalogue_entry(text_model) {
        Some(entry) if !entry.languages.is_empty() => entry.languages,
        _ => vec!["en".to_string()],
    }
}

/// The error of a segment in `language` (a BCP 47 tag) that the text model does not write.
pub fn unwritten_language_message(
    text_model: &str,
    languages: &[String],
    language: &str,
) -> String {
    let model = if text_model == "default" {
        "'default' (SmolLM2-135M)".to_string()
    } else {
        format!("'{text_model}'")
    };
    let primary = language
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut wanted: Vec<String> = languages.to_vec();
    if !primary.is_empty() && !wanted.contains(&primary) {
        wanted.push(primary);
    }
    let list = wanted
        .iter()
        .map(|l| format!("\"{l}\""))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "the segment's language '{language}' is not written by the text model {model}, which writes only {}; \
         set text_model to a multilingual catalogue model such as qwen3-1.7b (adforge models pull \
         qwen3-1.7b; `adforge models list --catalogue` lists each model's languages), or to your \
         own model with text_model_languages = [{list}] (adforge writes copy in en, fr, es and de)",
        languages.join(", ")
    )
}

/// The names of all settings, as they appear in the TOML file.
fn setting_names() -> Vec<String> {
    match serde_json::to_value(Settings::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// `.deps/models` of the checkout the binary was built from, where `scripts/setup.sh` puts the
/// default models; overridden by `ADFORGE_MODELS_DIR` (the Docker image does).
fn default_models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/models")
}

impl Settings {
    /// Loads settings from the defaults, the TOML file and the environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        let file = config_file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("ADFORGE_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("adforge.toml")).filter(|p| p.exists()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        // Only the names of real settings are read from ADFORGE_* so that unrelated variables
        // (ADFORGE_CONFIG, test settings) are not mistaken for misspelt settings.
        let names = setting_names();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        figment
            .merge(Env::prefixed("ADFORGE_").only(&names))
            .merge(Env::raw().only(&["DATABASE_URL", "REDIS_URL"]))
            .extract()
            .map_err(Box::new)
    }

    /// The text model and the languages it writes.
    pub fn text_model_info(&self) -> TextModelInfo {
        let languages = match &self.text_model_languages {
            Some(list) if !list.is_empty() => list
                .iter()
                .map(|l| l.trim().to_ascii_lowercase())
                .filter(|l| !l.is_empty())
                .collect(),
            _ => default_text_model_languages(&self.text_model),
        };
        let model = if self.text_model == "default" {
            Some("SmolLM2-135M-Instruct".to_string())
        } else {
            catalogue_entry(&self.text_model).map(|entry| entry.title)
        };
        TextModelInfo {
            name: self.text_model.clone(),
            model,
            languages,
        }
    }

    /// How backgrounds are painted: a catalogue `image_model`'s recommended steps, guidance and
    /// size replace the settings left at their defaults; settings given explicitly win.
    pub fn image_settings(&self) -> ImageSettings {
        let entry = self
            .image_model
            .as_deref()
            .and_then(|m| m.to_str())
            .and_then(catalogue_entry);
        ImageSettings {
            steps: pick(
                self.image_steps,
                DEFAULT_IMAGE_STEPS,
                entry.as_ref().and_then(|e| e.steps),
            ),
            guidance: pick(
                self.image_guidance,
                DEFAULT_IMAGE_GUIDANCE,
                entry.as_ref().and_then(|e| e.guidance),
            ),
            size: pick(
                self.image_size,
                DEFAULT_IMAGE_SIZE,
                entry.as_ref().and_then(|e| e.image_size),
            ),
        }
    }

    /// The base URL used in links this server hands out.
    pub fn public_base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.bind),
        }
    }
}

#[cfg(test)]
// figment's Jail fixes the closures' error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn file_and_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("custom.toml", "bind = \"0.0.0.0:9000\"\nworkers = 3\n")?;
            jail.set_env("ADFORGE_WORKERS", "5");
            jail.set_env("DATABASE_URL", "postgres://localhost/x");
            let settings = Settings::load(Some(Path::new("custom.toml"))).map_err(|e| *e)?;
            assert_eq!(settings.bind, "0.0.0.0:9000");
            assert_eq!(settings.workers, 5);
            assert_eq!(
                settings.database_url.as_deref(),
                Some("postgres://localhost/x")
            );
            assert_eq!(settings.text_model, "default");
            Ok(())
        });
    }

    #[test]
    fn text_model_languages_default_to_english() {
        let mut settings = Settings::default();
        assert_eq!(settings.text_model_info().languages, vec!["en"]);
        assert_eq!(settings.copy_candidates_per_variant, 3);
        settings.text_model = "/models/qwen".into();
        assert_eq!(settings.text_model_info().languages, vec!["en"]);
        settings.text_model_languages = Some(vec!["EN".into(), " fr ".into()]);
        assert_eq!(settings.text_model_info().languages, vec!["en", "fr"]);
        let message = unwritten_language_message("default", &["en".into()], "fr-CA");
        assert!(
            message.contains("'fr-CA'") && message.contains("SmolLM2-135M"),
            "{message}"
        );
        assert!(
            message.contains("text_model_languages = [\"en\",\"fr\"]"),
            "{message}"
        );
    }

    #[test]
    fn catalogue_models_bring_their_languages_and_settings() {
        let mut settings = Settings {
            text_model: "qwen3-1.7b".into(),
            ..Settings::default()
        };
        let info = settings.text_model_info();
        assert_eq!(info.model.as_deref(), Some("Qwen3-1.7B"));
        assert!(info.languages.contains(&"fr".to_string()), "{info:?}");
        assert_eq!(default_text_model_languages("qwen3-1.7b"), info.languages);
        settings.text_model_languages = Some(vec!["de".into()]);
        assert_eq!(settings.text_model_info().languages, vec!["de"]);

        settings.image_model = Some("sd-turbo".into());
        let image = settings.image_settings();
        assert_eq!((image.steps, image.guidance, image.size), (1, 0.0, 512));
        settings.image_steps = 4;
        assert_eq!(settings.image_settings().steps, 4);
        settings.image_model = Some("/models/sd15".into());
        let image = settings.image_settings();
        assert_eq!((image.steps, image.guidance), (4, 7.5));
        let message = unwritten_language_message("default", &["en".into()], "fr");
        assert!(
            message.contains("adforge models pull qwen3-1.7b"),
            "{message}"
        );
    }

    #[test]
    fn unknown_setting_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "bnid = \"0.0.0.0:9000\"\n")?;
            assert!(Settings::load(Some(Path::new("bad.toml"))).is_err());
            Ok(())
        });
    }
}
