//! Loading of safetensors weights from a diffusers component folder, including the `fp16`
//! variant files and sharded checkpoints, into named tensors on the target device and dtype.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use tch::{Device, Kind, Tensor};

use super::error::{ImageError, Result};

/// The named tensors of one component, viewed under a name prefix such as `down_blocks.0.`.
///
/// Only used while building modules; the modules keep their own tensors afterwards.
#[derive(Clone)]
pub(crate) struct Weights {
    tensors: Rc<HashMap<String, Tensor>>,
    prefix: String,
}

impl Weights {
    /// Wraps an already loaded tensor map.
    pub(crate) fn from_map(tensors: HashMap<String, Tensor>) -> Self {
        Weights {
            tensors: Rc::new(tensors),
            prefix: String::new(),
        }
    }

    /// Loads the weights of a component folder (`unet/`, `vae/`, `text_encoder/`, ...).
    ///
    /// `stem` is the file stem diffusers or transformers use there
    /// (`diffusion_pytorch_model` or `model`). The plain file is preferred; the `fp16`
    /// variant is used when the plain one is missing or when `kind` is `Half`. Floating tensors
    /// are converted to `kind` and moved to `device`; integer buffers are dropped.
    pub(crate) fn load(dir: &Path, stem: &str, device: Device, kind: Kind) -> Result<Self> {
        let files = weight_files(dir, stem, kind == Kind::Half)?;
        let mut tensors = HashMap::new();
        for file in files {
            tracing::debug!(file = %file.display(), "loading weights");
            for (name, tensor) in Tensor::read_safetensors(&file)? {
                if tensor.is_floating_point() {
                    tensors.insert(name, tensor.to_device(device).to_kind(kind));
                }
            }
        }
        Ok(Self::from_map(tensors))
    }

    /// The same weights under `prefix` + `name` + `.`.
    pub(crate) fn sub(&self, name: impl std::fmt::Display) -> Weights {
        Weights {
            tensors: self.tensors.clone(),
            prefix: format!("{}{}.", self.prefix, name),
        }
    }

    /// Whether the tensor `name` exists under the current prefix.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.tensors
            .contains_key(&format!("{}{}", self.prefix, name))
    }

    /// Whether any tensor lives under the current prefix + `name` + `.`.
    pub(crate) fn has_module(&self, name: &str) -> bool {
        let start = format!("{}{}.", self.prefix, name);
        self.tensors.keys().any(|k| k.starts_with(&start))
    }

    /// The tensor `name` under the current prefix.
    pub(crate) fn get(&self, name: &str) -> Result<Tensor> {
        let full = format!("{}{}", self.prefix, name);
        self.tensors
            .get(&full)
            .map(|t| t.shallow_clone())
            .ok_or(ImageError::MissingTensor(full))
    }

    /// The tensor `name` if present.
    pub(crate) fn get_opt(&self, name: &str) -> Option<Tensor> {
        self.tensors
            .get(&format!("{}{}", self.prefix, name))
            .map(|t| t.shallow_clone())
    }
}

/// Picks the safetensors file(s) of a component: single file, fp16 variant, or shards listed in
/// a `.safetensors.index.json`.
fn weight_files(dir: &Path, stem: &str, prefer_fp16: bool) -> Result<Vec<PathBuf>> {
    let plain = [
        format!("{stem}.safetensors"),
        format!("{stem}.fp16.safetensors"),
    ];
    let order: Vec<&String> = if prefer_fp16 {
        vec![&plain[1], &plain[0]]
    } else {
        vec![&plain[0], &plain[1]]
    };
    for name in order {
        let path = dir.join(name);
        if path.is_file() {
            return Ok(vec![path]);
        }
    }
    let indexes = [
        format!("{stem}.safetensors.index.json"),
        format!("{stem}.safetensors.index.fp16.json"),
    ];
    for name in &indexes {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ImageError::Io {
            path: path.clone(),
            source,
        })?;
        let index: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| ImageError::Config {
                path: path.clone(),
                source,
            })?;
        let mut shards: Vec<PathBuf> = index
            .get("weight_map")
            .and_then(|m| m.as_object())
            .map(|m| {
                m.values()
                    .filter_map(|v| v.as_str())
                    .map(|f| dir.join(f))
                    .collect()
            })
            .unwrap_or_default();
        shards.sort();
        shards.dedup();
        if !shards.is_empty() {
            return Ok(shards);
        }
    }
    Err(ImageError::MissingWeights(dir.to_path_buf()))
}
