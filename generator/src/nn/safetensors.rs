//! Safetensors checkpoints: finding a folder's weight files (plain, `fp16` variant or sharded)
//! and reading their tensors one at a time.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

use super::error::{NnError, Result};
use super::weights::TensorMap;

/// Loads the weights of a checkpoint folder (`unet/`, `vae/`, `text_encoder/`, ...).
///
/// `stem` is the file stem diffusers or transformers use there (`diffusion_pytorch_model` or
/// `model`); see [`weight_files`] for which files are read. Floating tensors are converted to
/// `kind` and moved to `device` as they are read; integer buffers are dropped.
pub fn load_dir(dir: &Path, stem: &str, kind: Kind, device: Device) -> Result<TensorMap> {
    let files = weight_files(dir, stem, kind == Kind::Half)?;
    let mut tensors = HashMap::new();
    for file in files {
        tracing::debug!(file = %file.display(), "loading weights");
        read(&file, |name, tensor| {
            tensors.insert(name, tensor.to_kind(kind).to_device(device));
        })?;
    }
    Ok(TensorMap::new(tensors, kind, device))
}

/// Picks the safetensors file(s) of a checkpoint folder: `{stem}.safetensors`, its `fp16`
/// variant (first when `prefer_fp16`), or the shards listed in a `.safetensors.index.json`.
pub fn weight_files(dir: &Path, stem: &str, prefer_fp16: bool) -> Result<Vec<PathBuf>> {
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
        let text = std::fs::read_to_string(&path).map_err(|source| NnError::Io {
            path: path.clone(),
            source,
        })?;
        let index: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| NnError::Safetensors {
                path: path.clone(),
                message: e.to_string(),
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
    Err(NnError::MissingWeights(dir.to_path_buf()))
}

/// Reads the floating-point tensors of a safetensors file one at a time (so that peak memory is
/// the model plus one tensor, not the model plus the whole file) and hands each to `take`.
pub fn read(path: &Path, mut take: impl FnMut(String, Tensor)) -> Result<()> {
    let io = |source| NnError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bad = |what: &str| NnError::Safetensors {
        path: path.to_path_buf(),
        message: what.to_string(),
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(io)?;
    let header_len = u64::from_le_bytes(len);
    if header_len > 100_000_000 {
        return Err(bad("safetensors header too large"));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(io)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| bad(&e.to_string()))?;
    let data_start = 8 + header_len;
    let mut entries: Vec<(String, Kind, Vec<i64>, u64, u64)> = Vec::new();
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let kind = match info.get("dtype").and_then(|d| d.as_str()) {
            Some("F32") => Kind::Float,
            Some("F16") => Kind::Half,
            Some("BF16") => Kind::BFloat16,
            Some("F64") => Kind::Double,
            Some(_) => continue, // integer buffers such as CLIP's position_ids
            None => return Err(bad("tensor without dtype")),
        };
        let shape: Vec<i64> = info
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad("tensor without shape"))?
            .iter()
            .map(|d| d.as_i64().ok_or_else(|| bad("bad shape")))
            .collect::<Result<_>>()?;
        let offsets = info
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .ok_or_else(|| bad("tensor without offsets"))?;
        let (begin, end) = match offsets.as_slice() {
            [b, e] => (
                b.as_u64().ok_or_else(|| bad("bad offset"))?,
                e.as_u64().ok_or_else(|| bad("bad offset"))?,
            ),
            _ => return Err(bad("bad offsets")),
        };
        let expected = shape.iter().product::<i64>() as u64 * kind.elt_size_in_bytes() as u64;
        if end < begin || end - begin != expected {
            return Err(bad(&format!(
                "tensor {name} has {} bytes for shape {shape:?}",
                end.saturating_sub(begin)
            )));
        }
        entries.push((name, kind, shape, begin, end));
    }
    entries.sort_by_key(|e| e.3);
    let mut buffer = Vec::new();
    for (name, kind, shape, begin, end) in entries {
        buffer.resize((end - begin) as usize, 0);
        file.seek(SeekFrom::Start(data_start + begin)).map_err(io)?;
        file.read_exact(&mut buffer).map_err(io)?;
        take(name, Tensor::from_data_size(&buffer, &shape, kind));
    }
    Ok(())
}
