//! Where a model's tensors come from: a Hugging Face directory of (possibly sharded)
//! safetensors files, or a GGUF file whose tensors are renamed to Hugging Face names,
//! dequantized, and (for Llama-layout models) un-permuted.

use std::collections::HashMap;
use std::path::Path;

use tch::{Device, Kind, Tensor};

use super::architecture::Architecture;
use super::config::ModelConfig;
use crate::nn::{safetensors, GgufFile, NnError, Result, TensorSource};

/// A checkpoint's tensors, addressed by their Hugging Face names.
pub enum WeightSource {
    /// Tensors read from safetensors files, on the CPU in their stored dtype.
    SafeTensors(HashMap<String, Tensor>),
    /// A GGUF file, or every shard of a split one (`-00001-of-00003.gguf`), read lazily.
    Gguf(Vec<GgufFile>),
}

impl WeightSource {
    /// Reads `model.safetensors`, or every shard listed in `model.safetensors.index.json`.
    pub fn from_hf_dir(dir: &Path) -> Result<Self> {
        let mut map = HashMap::new();
        for file in safetensors::weight_files(dir, "model", false)? {
            safetensors::read(&file, |name, tensor| {
                map.insert(name, tensor);
            })?;
        }
        Ok(Self::SafeTensors(map))
    }

    /// Whether a tensor with this Hugging Face name exists.
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Self::SafeTensors(map) => resolve_hf_name(map, name).is_some(),
            Self::Gguf(shards) => gguf_name(name, false)
                .is_some_and(|(n, _)| shards.iter().any(|s| s.tensors.contains_key(&n))),
        }
    }

    /// Loads a tensor by Hugging Face name into `kind` on `device`. `config` tells GGUF loading
    /// how to undo llama.cpp's q/k row permutation and GPT-2's transposed projections.
    pub fn get(
        &self,
        name: &str,
        config: &ModelConfig,
        kind: Kind,
        device: Device,
    ) -> Result<Tensor> {
        match self {
            Self::SafeTensors(map) => {
                let key = resolve_hf_name(map, name)
                    .ok_or_else(|| NnError::MissingTensor(name.to_string()))?;
                Ok(map[key].to_device(device).to_kind(kind).contiguous())
            }
            Self::Gguf(shards) => {
                let gemma = matches!(config, ModelConfig::Gemma(_));
                let (gname, role) = gguf_name(name, gemma)
                    .ok_or_else(|| NnError::MissingTensor(name.to_string()))?;
                let gguf = shards
                    .iter()
                    .find(|s| s.tensors.contains_key(&gname))
                    .ok_or_else(|| NnError::MissingTensor(gname.clone()))?;
                // Dequantize in f32 so permutations are exact, then cast.
                let t = gguf.tensor(&gname, Kind::Float, Device::Cpu)?;
                let t = match (config, role) {
                    (ModelConfig::Llama(c), Role::Query)
                        if matches!(
                            c.architecture,
                            Architecture::Llama | Architecture::Mistral
                        ) =>
                    {
                        unpermute_rope_rows(&t, c.num_attention_heads)
                    }
                    (ModelConfig::Llama(c), Role::Key)
                        if matches!(
                            c.architecture,
                            Architecture::Llama | Architecture::Mistral
                        ) =>
                    {
                        unpermute_rope_rows(&t, c.num_key_value_heads)
                    }
                    // HF GPT-2 stores Conv1D weights as [in, out]; GGUF stores nn.Linear layout.
                    (ModelConfig::Gpt2(_), Role::Conv1dWeight) => t.transpose(0, 1),
                    // llama.cpp's converter stores Gemma's RMSNorm weights as `1 + w`.
                    (ModelConfig::Gemma(_), _) if gname.ends_with("norm.weight") => t - 1.0,
                    _ => t,
                };
                Ok(t.to_device(device).to_kind(kind).contiguous())
            }
        }
    }
}

/// The shard paths of a split GGUF named like `model-00002-of-00003.gguf` (any shard may be
/// given), in order; `None` for a file not named that way.
pub fn gguf_shard_paths(path: &Path) -> Option<Vec<std::path::PathBuf>> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".gguf")?;
    let (head, count) = stem.rsplit_once("-of-")?;
    let (base, index) = head.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(count) || !digits(index) {
        return None;
    }
    let count: u32 = count.parse().ok()?;
    Some(
        (1..=count)
            .map(|i| path.with_file_name(format!("{base}-{i:05}-of-{count:05}.gguf")))
            .collect(),
    )
}

/// Opens a GGUF file, or all shards of a split one (the first holds the metadata); checks the
/// shard count the first shard's `split.count` declares.
pub fn open_gguf(path: &Path) -> Result<Vec<GgufFile>> {
    let Some(paths) = gguf_shard_paths(path) else {
        return Ok(vec![GgufFile::open(path)?]);
    };
    let shards = paths
        .iter()
        .map(GgufFile::open)
        .collect::<Result<Vec<_>>>()?;
    let declared = shards[0].get("split.count").and_then(|v| v.as_u64());
    if let Some(declared) = declared.filter(|&d| d != shards.len() as u64) {
        return Err(NnError::Gguf {
            path: paths[0].clone(),
            message: format!(
                "split.count is {declared} but the file name says {}",
                shards.len()
            ),
        });
    }
    Ok(shards)
}

/// A [`WeightSource`] prepared for one model: tensors come out in the model's dtype on its
/// device, GGUF tensors transformed to the Hugging Face layout its config implies.
pub(crate) struct ModelTensors {
    /// The checkpoint.
    pub(crate) source: WeightSource,
    /// The model it is read for.
    pub(crate) config: ModelConfig,
    /// Target dtype.
    pub(crate) kind: Kind,
    /// Target device.
    pub(crate) device: Device,
}

impl TensorSource for ModelTensors {
    fn contains(&self, name: &str) -> bool {
        self.source.contains(name)
    }

    fn contains_prefix(&self, prefix: &str) -> bool {
        match &self.source {
            WeightSource::SafeTensors(map) => map.keys().any(|k| k.starts_with(prefix)),
            // GGUF names differ from Hugging Face ones and the text models never ask by module.
            WeightSource::Gguf(_) => false,
        }
    }

    fn tensor(&self, name: &str) -> Result<Tensor> {
        self.source.get(name, &self.config, self.kind, self.device)
    }
}

/// Tries the name as given, with and without a model-specific prefix.
fn resolve_hf_name<'a>(map: &'a HashMap<String, Tensor>, name: &str) -> Option<&'a String> {
    let candidates = [
        name.to_string(),
        format!("transformer.{name}"),
        // Image-text wrappers (Gemma 3 4B and up) keep the decoder under `language_model.`.
        format!("language_model.{name}"),
        // ... or, as transformers 5 names them, under `model.language_model.`.
        name.strip_prefix("model.")
            .map(|rest| format!("model.language_model.{rest}"))
            .unwrap_or_default(),
        name.strip_prefix("model.")
            .map(str::to_string)
            .unwrap_or_default(),
    ];
    candidates
        .into_iter()
        .find_map(|c| map.get_key_value(&c).map(|(k, _)| k))
}

/// How a GGUF tensor must be transformed to match the Hugging Face layout.
#[derive(Clone, Copy)]
enum Role {
    Plain,
    Query,
    Key,
    Conv1dWeight,
}

/// Maps a Hugging Face tensor name to its GGUF name (llama.cpp's naming). Gemma's four norms
/// per layer have names of their own; Llama's post-attention norm is Gemma's pre-MLP one.
fn gguf_name(hf: &str, gemma: bool) -> Option<(String, Role)> {
    let fixed = match hf {
        "model.embed_tokens.weight" | "wte.weight" => Some("token_embd.weight"),
        "wpe.weight" => Some("position_embd.weight"),
        "model.norm.weight" => Some("output_norm.weight"),
        "ln_f.weight" => Some("output_norm.weight"),
        "ln_f.bias" => Some("output_norm.bias"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some((f.to_string(), Role::Plain));
    }
    let (layer, rest) = if let Some(rest) = hf.strip_prefix("model.layers.") {
        rest.split_once('.')?
    } else {
        hf.strip_prefix("h.")?.split_once('.')?
    };
    let (module, suffix) = rest.rsplit_once('.')?;
    let (gguf_module, role) = match module {
        "post_attention_layernorm" if gemma => ("post_attention_norm", Role::Plain),
        "pre_feedforward_layernorm" => ("ffn_norm", Role::Plain),
        "post_feedforward_layernorm" => ("post_ffw_norm", Role::Plain),
        "input_layernorm" | "ln_1" => ("attn_norm", Role::Plain),
        "post_attention_layernorm" | "ln_2" => ("ffn_norm", Role::Plain),
        "self_attn.q_proj" => ("attn_q", Role::Query),
        "self_attn.k_proj" => ("attn_k", Role::Key),
        "self_attn.v_proj" => ("attn_v", Role::Plain),
        "self_attn.o_proj" => ("attn_output", Role::Plain),
        "self_attn.q_norm" => ("attn_q_norm", Role::Plain),
        "self_attn.k_norm" => ("attn_k_norm", Role::Plain),
        // Phi-3: fused projections (llama.cpp keeps them fused, gate rows first).
        "self_attn.qkv_proj" => ("attn_qkv", Role::Plain),
        "mlp.gate_up_proj" => ("ffn_up", Role::Plain),
        "mlp.gate_proj" => ("ffn_gate", Role::Plain),
        "mlp.up_proj" => ("ffn_up", Role::Plain),
        "mlp.down_proj" => ("ffn_down", Role::Plain),
        "attn.c_attn" => ("attn_qkv", Role::Conv1dWeight),
        "attn.c_proj" => ("attn_output", Role::Conv1dWeight),
        "mlp.c_fc" => ("ffn_up", Role::Conv1dWeight),
        "mlp.c_proj" => ("ffn_down", Role::Conv1dWeight),
        _ => return None,
    };
    let role = match (role, suffix) {
        (Role::Conv1dWeight, "bias") => Role::Plain,
        (r, _) => r,
    };
    Some((format!("blk.{layer}.{gguf_module}.{suffix}"), role))
}

/// Undoes llama.cpp's permutation of q/k projection rows (weights `[heads*dim, in]` or biases
/// `[heads*dim]`): llama.cpp interleaves the two rotary halves of each head.
fn unpermute_rope_rows(t: &Tensor, heads: i64) -> Tensor {
    let shape = t.size();
    let rows = shape[0];
    let half = rows / heads / 2;
    let mut view = vec![heads, half, 2];
    view.extend_from_slice(&shape[1..]);
    t.reshape(view.as_slice())
        .transpose(1, 2)
        .reshape(shape.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        // llama.cpp: w.reshape(h, 2, d/2, in).swapaxes(1, 2).reshape(w.shape)
        let heads = 3;
        let w = Tensor::arange(3 * 8 * 5, (Kind::Float, Device::Cpu)).reshape([24, 5]);
        let permuted = w.reshape([heads, 2, 4, 5]).transpose(1, 2).reshape([24, 5]);
        let restored = unpermute_rope_rows(&permuted, heads);
        assert!(restored.equal(&w));
    }

    #[test]
    fn finds_every_shard_of_a_split_gguf() {
        let paths = gguf_shard_paths(Path::new("/m/qwen-q4-00002-of-00003.gguf")).unwrap();
        assert_eq!(paths.len(), 3);
        assert_eq!(paths[0], Path::new("/m/qwen-q4-00001-of-00003.gguf"));
        assert_eq!(paths[2], Path::new("/m/qwen-q4-00003-of-00003.gguf"));
        assert!(gguf_shard_paths(Path::new("/m/model.Q4_1.gguf")).is_none());
        assert!(gguf_shard_paths(Path::new("/m/a-1-of-2.gguf")).is_none());
    }

    #[test]
    fn maps_hf_names_to_gguf() {
        let (n, _) = gguf_name("model.layers.12.self_attn.k_proj.weight", false).unwrap();
        assert_eq!(n, "blk.12.attn_k.weight");
        let (n, _) = gguf_name("h.3.mlp.c_fc.bias", false).unwrap();
        assert_eq!(n, "blk.3.ffn_up.bias");
        assert!(gguf_name("model.layers.1.unknown.weight", false).is_none());
        let (n, _) = gguf_name("model.layers.0.self_attn.q_norm.weight", false).unwrap();
        assert_eq!(n, "blk.0.attn_q_norm.weight");
        let (n, _) = gguf_name("model.layers.2.mlp.gate_up_proj.weight", false).unwrap();
        assert_eq!(n, "blk.2.ffn_up.weight");
        let (n, _) = gguf_name("model.layers.1.post_attention_layernorm.weight", false).unwrap();
        assert_eq!(n, "blk.1.ffn_norm.weight");
        let (n, _) = gguf_name("model.layers.1.post_attention_layernorm.weight", true).unwrap();
        assert_eq!(n, "blk.1.post_attention_norm.weight");
        let (n, _) = gguf_name("model.layers.1.pre_feedforward_layernorm.weight", true).unwrap();
        assert_eq!(n, "blk.1.ffn_norm.weight");
    }
}
