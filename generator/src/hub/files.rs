//! What to pull: a model reference (`NAME` or `OWNER/REPO[:FILE]`) and the files of a
//! repository that a model needs (one GGUF quantisation with all its parts, the fp16 variant
//! of a diffusers folder with its configs, or a transformers folder's safetensors and
//! tokenizer), never every file.

use super::catalogue::Catalogue;
use super::{HubError, Result};

/// GGUF quantisations tried in this order when none is named.
const QUANT_PREFERENCE: &[&str] = &[
    "Q4_K_M", "Q4_K_S", "Q5_K_M", "Q4_0", "Q8_0", "Q6_K", "BF16", "F16",
];

/// The diffusers components adforge's image pipeline loads.
const DIFFUSERS_COMPONENTS: &[&str] = &[
    "scheduler",
    "text_encoder",
    "text_encoder_2",
    "tokenizer",
    "tokenizer_2",
    "unet",
    "vae",
];

/// Top-level files of a transformers folder besides its safetensors.
const TRANSFORMERS_FILES: &[&str] = &[
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "model.safetensors.index.json",
];

/// A model to pull, as the command line names it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRef {
    /// `OWNER/NAME` on the hub.
    pub repo: String,
    /// The catalogue's short name, when the reference was one.
    pub name: Option<String>,
    /// Files named by the catalogue, or by `:FILE` (a file name or a quantisation such as
    /// `Q8_0`); empty to choose from the repository listing.
    pub wanted: Wanted,
}

/// Which files of a repository a reference asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Wanted {
    /// Exactly these (from the catalogue).
    Files(Vec<String>),
    /// A file name or quantisation given after `:`.
    Pattern(String),
    /// Whatever the repository's kind of model needs.
    Auto,
}

/// `OWNER/NAME` split in two, when the string has that form.
pub fn split_repo(repo: &str) -> Option<(&str, &str)> {
    let (owner, name) = repo.split_once('/')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !s.starts_with('.')
    };
    (ok(owner) && ok(name)).then_some((owner, name))
}

impl ModelRef {
    /// Parses `NAME` (a catalogue short name) or `OWNER/REPO[:FILE]`.
    pub fn parse(text: &str, catalogue: &Catalogue) -> Result<Self> {
        let text = text.trim();
        if let Some(entry) = catalogue.get(text) {
            return Ok(ModelRef {
                repo: entry.repo.clone(),
                name: Some(entry.name.clone()),
                wanted: if entry.files.is_empty() {
                    Wanted::Auto
                } else {
                    Wanted::Files(entry.files.clone())
                },
            });
        }
        let (repo, file) = match text.split_once(':') {
            Some((repo, file)) => (repo, Some(file.trim())),
            None => (text, None),
        };
        if split_repo(repo).is_none() {
            let names: Vec<&str> = catalogue
                .entries()
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            return Err(HubError::BadReference(format!(
                "'{text}' is neither a catalogue model ({}) nor OWNER/REPO[:FILE]",
                names.join(", ")
            )));
        }
        let wanted = match file {
            Some("") => {
                return Err(HubError::BadReference(format!(
                "'{text}': nothing after ':' (give a file name or a quantisation such as Q4_K_M)"
            )))
            }
            Some(file) => Wanted::Pattern(file.to_string()),
            None => Wanted::Auto,
        };
        Ok(ModelRef {
            repo: repo.to_string(),
            name: None,
            wanted,
        })
    }
}

/// The files of `listing` that `wanted` asks for, in listing order. `default_quant` is the
/// quantisation to prefer when a GGUF repository is pulled without one.
pub fn select_files(
    repo: &str,
    listing: &[String],
    wanted: &Wanted,
    default_quant: Option<&str>,
) -> Result<Vec<String>> {
    match wanted {
        Wanted::Files(files) => {
            let missing: Vec<&String> = files.iter().filter(|f| !listing.contains(f)).collect();
            if missing.is_empty() {
                Ok(files.clone())
            } else {
                Err(HubError::NotFound(format!(
                    "{repo} has no {}{}",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    gguf_hint(listing)
                )))
            }
        }
        Wanted::Pattern(pattern) => {
            if listing.contains(pattern) {
                return Ok(with_split_parts(listing, pattern));
            }
            let chosen = quant_files(listing, pattern);
            if chosen.is_empty() {
                Err(HubError::NotFound(format!(
                    "{repo} has no file or quantisation '{pattern}'{}",
                    gguf_hint(listing)
                )))
            } else {
                one_model(repo, pattern, chosen)
            }
        }
        Wanted::Auto => {
            if listing.iter().any(|f| f == "model_index.json") {
                return diffusers_files(repo, listing);
            }
            if listing.iter().any(|f| f.ends_with(".gguf")) {
                let order = default_quant
                    .into_iter()
                    .chain(QUANT_PREFERENCE.iter().copied());
                for quant in order {
                    let chosen = quant_files(listing, quant);
                    if !chosen.is_empty() {
                        return one_model(repo, quant, chosen);
                    }
                }
                return Err(HubError::NotFound(format!(
                    "{repo}: no usual quantisation found; name one with {repo}:FILE{}",
                    gguf_hint(listing)
                )));
            }
            if listing.iter().any(|f| f == "config.json") {
                return transformers_files(repo, listing);
            }
            Err(HubError::NotFound(format!(
                "{repo} holds no GGUF file, no diffusers model_index.json and no config.json"
            )))
        }
    }
}

/// The `.gguf` files whose name carries `quant` as a separate token (case-insensitive).
fn quant_files(listing: &[String], quant: &str) -> Vec<String> {
    let quant = quant.to_ascii_lowercase();
    listing
        .iter()
        .filter(|f| f.ends_with(".gguf"))
        .filter(|f| {
            let name = f.rsplit('/').next().unwrap_or(f).to_ascii_lowercase();
            let stem = name.trim_end_matches(".gguf");
            let stem = strip_split_suffix(stem).unwrap_or(stem);
            stem.split(['-', '.', '_'])
                .collect::<Vec<_>>()
                .windows(quant.split('_').count())
                .any(|w| w.join("_") == quant)
        })
        .cloned()
        .collect()
}

/// `name` without its `-00001-of-00003` suffix, when it has one.
fn strip_split_suffix(stem: &str) -> Option<&str> {
    let (head, total) = stem.rsplit_once("-of-")?;
    let (head, part) = head.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    (digits(total) && digits(part)).then_some(head)
}

/// The chosen files must be one model: a single file, or the parts of one split file.
fn one_model(repo: &str, what: &str, chosen: Vec<String>) -> Result<Vec<String>> {
    let stems: std::collections::BTreeSet<&str> = chosen
        .iter()
        .map(|f| {
            let stem = f.trim_end_matches(".gguf");
            strip_split_suffix(stem).unwrap_or(stem)
        })
        .collect();
    if stems.len() == 1 {
        Ok(chosen)
    } else {
        Err(HubError::BadReference(format!(
            "{repo}: '{what}' matches several files ({}); name one with {repo}:FILE",
            chosen.join(", ")
        )))
    }
}

/// `file` and, when it is one part of a split GGUF, every other part.
fn with_split_parts(listing: &[String], file: &str) -> Vec<String> {
    let stem = file.trim_end_matches(".gguf");
    match strip_split_suffix(stem) {
        Some(head) => listing
            .iter()
            .filter(|f| {
                f.ends_with(".gguf")
                    && strip_split_suffix(f.trim_end_matches(".gguf")) == Some(head)
            })
            .cloned()
            .collect(),
        None => vec![file.to_string()],
    }
}

/// A diffusers folder: `model_index.json` and, for each component the pipeline loads, its
/// configs, tokenizer files and the fp16 variant of its safetensors (the plain ones when the
/// repository has no fp16 variant).
fn diffusers_files(repo: &str, listing: &[String]) -> Result<Vec<String>> {
    let mut files = vec!["model_index.json".to_string()];
    for component in DIFFUSERS_COMPONENTS {
        let prefix = format!("{component}/");
        let inside: Vec<&String> = listing
            .iter()
            .filter(|f| f.starts_with(&prefix) && !f[prefix.len()..].contains('/'))
            .collect();
        let fp16 = inside.iter().any(|f| f.ends_with(".fp16.safetensors"));
        for file in inside {
            let keep = if file.ends_with(".safetensors") {
                file.ends_with(".fp16.safetensors") == fp16
                    && (fp16 || file.matches('.').count() == 1)
            } else if file.ends_with(".safetensors.index.json") {
                file.contains(".fp16.") == fp16
            } else {
                file.ends_with(".json") || file.ends_with(".txt")
            };
            if keep {
                files.push(file.clone());
            }
        }
    }
    for needed in ["unet", "vae", "text_encoder"] {
        let prefix = format!("{needed}/");
        if !files
            .iter()
            .any(|f| f.starts_with(&prefix) && f.ends_with(".safetensors"))
        {
            return Err(HubError::NotFound(format!(
                "{repo}: the diffusers component {needed}/ has no safetensors weights"
            )));
        }
    }
    Ok(files)
}

/// A transformers folder: its configs, tokenizer and safetensors weights.
fn transformers_files(repo: &str, listing: &[String]) -> Result<Vec<String>> {
    let files: Vec<String> = listing
        .iter()
        .filter(|f| {
            TRANSFORMERS_FILES.contains(&f.as_str())
                || (!f.contains('/') && f.ends_with(".safetensors"))
        })
        .cloned()
        .collect();
    if !files.iter().any(|f| f.ends_with(".safetensors")) {
        return Err(HubError::NotFound(format!(
            "{repo} has no safetensors weights (adforge does not load .bin checkpoints)"
        )));
    }
    Ok(files)
}

/// `; its GGUF files: a, b` when the listing has any, for error messages.
fn gguf_hint(listing: &[String]) -> String {
    let ggufs: Vec<&str> = listing
        .iter()
        .filter(|f| f.ends_with(".gguf"))
        .map(String::as_str)
        .collect();
    if ggufs.is_empty() {
        String::new()
    } else {
        format!("; its GGUF files: {}", ggufs.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(files: &[&str]) -> Vec<String> {
        files.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn gguf_quantisations_and_split_parts() {
        let listing = list(&[
            "README.md",
            "qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf",
            "qwen2.5-7b-instruct-q4_k_m-00002-of-00002.gguf",
            "qwen2.5-7b-instruct-q4_k_s.gguf",
            "qwen2.5-7b-instruct-q8_0.gguf",
        ]);
        let auto = select_files("q/q", &listing, &Wanted::Auto, None).unwrap();
        assert_eq!(auto, listing[1..3].to_vec());
        let q8 = select_files("q/q", &listing, &Wanted::Pattern("Q8_0".into()), None).unwrap();
        assert_eq!(q8, vec!["qwen2.5-7b-instruct-q8_0.gguf"]);
        let part = select_files(
            "q/q",
            &listing,
            &Wanted::Pattern("qwen2.5-7b-instruct-q4_k_m-00002-of-00002.gguf".into()),
            None,
        )
        .unwrap();
        assert_eq!(part.len(), 2);
        let err = select_files("q/q", &listing, &Wanted::Pattern("Q2_K".into()), None).unwrap_err();
        assert!(err.to_string().contains("q8_0.gguf"), "{err}");
        let err = select_files("q/q", &listing, &Wanted::Pattern("q4".into()), None);
        assert!(err.is_err());
    }

    #[test]
    fn diffusers_folders_take_the_fp16_variant_only() {
        let listing = list(&[
            "model_index.json",
            "sd_turbo.safetensors",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            "text_encoder/model.safetensors",
            "text_encoder/model.fp16.safetensors",
            "tokenizer/merges.txt",
            "tokenizer/vocab.json",
            "unet/config.json",
            "unet/diffusion_pytorch_model.safetensors",
            "unet/diffusion_pytorch_model.fp16.safetensors",
            "unet/diffusion_pytorch_model.bin",
            "vae/config.json",
            "vae/diffusion_pytorch_model.fp16.safetensors",
            "safety_checker/model.fp16.safetensors",
        ]);
        let files = select_files("s/t", &listing, &Wanted::Auto, None).unwrap();
        assert_eq!(
            files,
            list(&[
                "model_index.json",
                "scheduler/scheduler_config.json",
                "text_encoder/config.json",
                "text_encoder/model.fp16.safetensors",
                "tokenizer/merges.txt",
                "tokenizer/vocab.json",
                "unet/config.json",
                "unet/diffusion_pytorch_model.fp16.safetensors",
                "vae/config.json",
                "vae/diffusion_pytorch_model.fp16.safetensors",
            ])
        );
    }

    #[test]
    fn references_parse_or_say_what_is_accepted() {
        let catalogue = Catalogue::builtin().unwrap();
        let r = ModelRef::parse("qwen3-1.7b", catalogue).unwrap();
        assert_eq!(r.repo, "unsloth/Qwen3-1.7B-GGUF");
        assert!(matches!(r.wanted, Wanted::Files(_)));
        let r = ModelRef::parse("Qwen/Qwen3-0.6B-GGUF:Q8_0", catalogue).unwrap();
        assert_eq!(r.wanted, Wanted::Pattern("Q8_0".into()));
        assert_eq!(r.name, None);
        let err = ModelRef::parse("qwen9", catalogue).unwrap_err().to_string();
        assert!(
            err.contains("qwen3-1.7b") && err.contains("OWNER/REPO"),
            "{err}"
        );
        assert!(ModelRef::parse("a/b:", catalogue).is_err());
        assert!(ModelRef::parse("../etc", catalogue).is_err());
    }

    #[test]
    fn transformers_folders_skip_other_formats() {
        let listing = list(&[
            "config.json",
            "model.safetensors",
            "pytorch_model.bin",
            "onnx/model.onnx",
            "tokenizer.json",
            "README.md",
        ]);
        let files = select_files("a/b", &listing, &Wanted::Auto, None).unwrap();
        assert_eq!(
            files,
            list(&["config.json", "model.safetensors", "tokenizer.json"])
        );
    }
}
