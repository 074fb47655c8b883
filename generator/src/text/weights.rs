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
    /// A GGUF file, read lazily.
    Gguf(Box<GgufFile>),
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
            Self::Gguf(gguf) => gguf_name(name).is_some_and(|(n, _)| gguf.tensors.contains_key(&n)),
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
            Self::Gguf(gguf) => {
                let (gname, role) =
                    gguf_name(name).ok_or_else(|| NnError::MissingTensor(name.to_string()))?;
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
                    _ => t,
                };
                Ok(t.to_device(device).to_kind(kind).contiguous())
            }
        }
    }
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

/// Maps a Hugging Face tensor name to its GGUF name (llama.cpp's naming).
fn gguf_name(hf: &str) -> Option<(String, Role)> {
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
        "input_layernorm" | "ln_1" => ("attn_norm", Role::Plain),
        "post_attention_layernorm" | "ln_2" => ("ffn_norm", Role::Plain),
        "self_attn.q_proj" => ("attn_q", Role::Query),
        "self_attn.k_proj" => ("attn_k", Role::Key),
        "self_attn.v_proj" => ("attn_v", Role::Plain),
        "self_attn.o_proj" => ("attn_output", Role::Plain),
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
    fn maps_hf_names_to_gguf() {
        let (n, _) = gguf_name("model.layers.12.self_attn.k_proj.weight").unwrap();
        assert_eq!(n, "blk.12.attn_k.weight");
        let (n, _) = gguf_name("h.3.mlp.c_fc.bias").unwrap();
        assert_eq!(n, "blk.3.ffn_up.bias");
        assert!(gguf_name("model.layers.1.unknown.weight").is_none());
    }
}
