//! [`ModelConfig`]: which architecture a checkpoint is and its configuration, read from a
//! Hugging Face `config.json` or from GGUF metadata. The configuration structs themselves live
//! with their architectures in `models/`.

use serde_json::Value;

use super::architecture::Architecture;
use super::error::{Result, TextError};
use super::models::gemma::GemmaConfig;
use super::models::gpt2::{self, Gpt2Config};
use super::models::llama::LlamaConfig;
use super::rope::RopeScaling;
use crate::nn::{GgufFile, GgufValue};

/// A parsed model configuration.
#[derive(Debug, Clone)]
pub enum ModelConfig {
    /// Llama family.
    Llama(LlamaConfig),
    /// Gemma 2 / Gemma 3 text.
    Gemma(GemmaConfig),
    /// GPT-2.
    Gpt2(Gpt2Config),
}

/// Token ids that end generation, from `config.json` / `generation_config.json` / GGUF.
pub fn eos_ids_from_json(value: Option<&Value>) -> Vec<u32> {
    match value {
        Some(Value::Number(n)) => n.as_u64().map(|v| vec![v as u32]).unwrap_or_default(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_u64())
            .map(|v| v as u32)
            .collect(),
        _ => Vec::new(),
    }
}

fn field_i64(json: &Value, key: &str) -> Result<i64> {
    json.get(key)
        .and_then(Value::as_i64)
        .ok_or_else(|| TextError::Config(format!("config.json has no integer {key:?}")))
}

fn rope_scaling_from_json(params: Option<&Value>) -> Result<RopeScaling> {
    let Some(params) = params.filter(|v| v.is_object()) else {
        return Ok(RopeScaling::None);
    };
    let kind = params
        .get("rope_type")
        .or_else(|| params.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let num = |key: &str| params.get(key).and_then(Value::as_f64);
    let need = |key: &str| {
        num(key).ok_or_else(|| TextError::Config(format!("rope scaling lacks {key:?}")))
    };
    match kind {
        "default" => Ok(RopeScaling::None),
        "linear" => Ok(RopeScaling::Linear {
            factor: need("factor")?,
        }),
        "llama3" => Ok(RopeScaling::Llama3 {
            factor: need("factor")?,
            low_freq_factor: need("low_freq_factor")?,
            high_freq_factor: need("high_freq_factor")?,
            original_max_position_embeddings: need("original_max_position_embeddings")?,
        }),
        other => Err(TextError::Config(format!(
            "unsupported rope scaling {other:?}"
        ))),
    }
}

impl ModelConfig {
    /// Parses a Hugging Face `config.json`.
    pub fn from_hf_json(json: &Value) -> Result<Self> {
        let model_type = json
            .get("model_type")
            .and_then(Value::as_str)
            .ok_or_else(|| TextError::Config("config.json has no model_type".into()))?;
        let architecture = Architecture::from_name(model_type)?;
        if let Some(text) = json.get("text_config").filter(|v| v.is_object()) {
            // Multimodal wrappers (Gemma 3 4B and up): the decoder is described in `text_config`.
            let mut text = text.clone();
            if text.get("model_type").is_none() {
                text["model_type"] = Value::String(format!("{model_type}_text"));
            }
            return Self::from_hf_json(&text);
        }
        if matches!(architecture, Architecture::Gemma2 | Architecture::Gemma3) {
            return gemma_from_json(json, architecture).map(Self::Gemma);
        }
        if architecture == Architecture::Gpt2 {
            let cfg: Gpt2Config = serde_json::from_value(json.clone())
                .map_err(|e| TextError::Config(e.to_string()))?;
            return Ok(Self::Gpt2(cfg));
        }
        let act = json
            .get("hidden_act")
            .and_then(Value::as_str)
            .unwrap_or("silu");
        if act != "silu" {
            return Err(TextError::Config(format!("unsupported hidden_act {act:?}")));
        }
        let hidden_size = field_i64(json, "hidden_size")?;
        let num_attention_heads = field_i64(json, "num_attention_heads")?;
        // transformers 5 nests RoPE settings in `rope_parameters`; older files use top-level keys.
        let rope_params = json.get("rope_parameters");
        let rope_theta = json
            .get("rope_theta")
            .and_then(Value::as_f64)
            .or_else(|| {
                rope_params
                    .and_then(|p| p.get("rope_theta"))
                    .and_then(Value::as_f64)
            })
            .unwrap_or(10_000.0);
        let rope_scaling = match json.get("rope_scaling").filter(|v| v.is_object()) {
            Some(scaling) => rope_scaling_from_json(Some(scaling))?,
            None => rope_scaling_from_json(rope_params)?,
        };
        let partial_rotary = json
            .get("partial_rotary_factor")
            .or_else(|| rope_params.and_then(|p| p.get("partial_rotary_factor")))
            .and_then(Value::as_f64)
            .unwrap_or(1.0);
        if partial_rotary != 1.0 {
            return Err(TextError::Config(format!(
                "unsupported partial_rotary_factor {partial_rotary}"
            )));
        }
        let attention_bias = json
            .get("attention_bias")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(Self::Llama(LlamaConfig {
            architecture,
            vocab_size: field_i64(json, "vocab_size")?,
            hidden_size,
            intermediate_size: field_i64(json, "intermediate_size")?,
            num_hidden_layers: field_i64(json, "num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads: json
                .get("num_key_value_heads")
                .and_then(Value::as_i64)
                .unwrap_or(num_attention_heads),
            head_dim: json
                .get("head_dim")
                .and_then(Value::as_i64)
                .unwrap_or(hidden_size / num_attention_heads),
            rms_norm_eps: json
                .get("rms_norm_eps")
                .and_then(Value::as_f64)
                .unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            max_position_embeddings: json
                .get("max_position_embeddings")
                .and_then(Value::as_i64)
                .unwrap_or(4096),
            tie_word_embeddings: json
                .get("tie_word_embeddings")
                .and_then(Value::as_bool)
                .unwrap_or(architecture == Architecture::Gpt2),
            qkv_bias: architecture == Architecture::Qwen2 || attention_bias,
            o_bias: attention_bias,
            mlp_bias: json
                .get("mlp_bias")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            sliding_window: match architecture {
                Architecture::Mistral | Architecture::Phi3 => {
                    json.get("sliding_window").and_then(Value::as_i64)
                }
                Architecture::Qwen2 | Architecture::Qwen3
                    if json.get("use_sliding_window").and_then(Value::as_bool) == Some(true) =>
                {
                    json.get("sliding_window").and_then(Value::as_i64)
                }
                _ => None,
            },
            qk_norm: architecture == Architecture::Qwen3,
        }))
    }

    /// Builds the configuration from GGUF metadata (`<arch>.block_count`, ...).
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self> {
        Self::from_gguf_shards(std::slice::from_ref(gguf))
    }

    /// Builds the configuration from a split GGUF: metadata from the first shard, tensors from
    /// all of them.
    pub fn from_gguf_shards(shards: &[GgufFile]) -> Result<Self> {
        let gguf = shards
            .first()
            .ok_or_else(|| TextError::Config("no GGUF shards".into()))?;
        let has = |name: &str| shards.iter().any(|s| s.tensors.contains_key(name));
        let arch_name = gguf
            .require("general.architecture")?
            .as_str()
            .ok_or_else(|| TextError::Config("general.architecture is not a string".into()))?
            .to_string();
        let architecture = Architecture::from_name(&arch_name)?;
        let int = |key: &str| -> Result<i64> {
            gguf.require(&format!("{arch_name}.{key}"))?
                .as_i64()
                .ok_or_else(|| TextError::Config(format!("{arch_name}.{key} is not an integer")))
        };
        let opt_f = |key: &str| {
            gguf.get(&format!("{arch_name}.{key}"))
                .and_then(GgufValue::as_f64)
        };
        let vocab_size = match int("vocab_size") {
            Ok(v) => v,
            Err(_) => gguf
                .require("tokenizer.ggml.tokens")?
                .as_array()
                .map(|a| a.len() as i64)
                .ok_or_else(|| TextError::Config("tokenizer.ggml.tokens is not an array".into()))?,
        };
        if architecture == Architecture::Gpt2 {
            let n_embd = int("embedding_length")?;
            return Ok(Self::Gpt2(Gpt2Config {
                vocab_size,
                n_positions: int("context_length")?,
                n_embd,
                n_layer: int("block_count")?,
                n_head: int("attention.head_count")?,
                n_inner: int("feed_forward_length").ok(),
                layer_norm_epsilon: opt_f("attention.layer_norm_epsilon").unwrap_or(1e-5),
                activation_function: gpt2::default_activation(),
            }));
        }
        if matches!(architecture, Architecture::Gemma2 | Architecture::Gemma3) {
            return Err(TextError::Config(format!(
                "{arch_name} GGUF files are not supported; use the Hugging Face directory"
            )));
        }
        let hidden_size = int("embedding_length")?;
        let heads = int("attention.head_count")?;
        let rope_scaling = match gguf
            .get(&format!("{arch_name}.rope.scaling.type"))
            .and_then(GgufValue::as_str)
        {
            Some("linear") => RopeScaling::Linear {
                factor: opt_f("rope.scaling.factor").unwrap_or(1.0),
            },
            Some("none") | None => RopeScaling::None,
            Some(other) => {
                return Err(TextError::Config(format!(
                    "unsupported GGUF rope scaling {other:?}"
                )))
            }
        };
        Ok(Self::Llama(LlamaConfig {
            architecture,
            vocab_size,
            hidden_size,
            intermediate_size: int("feed_forward_length")?,
            num_hidden_layers: int("block_count")?,
            num_attention_heads: heads,
            num_key_value_heads: int("attention.head_count_kv").unwrap_or(heads),
            head_dim: int("attention.key_length")
                .or_else(|_| int("rope.dimension_count"))
                .unwrap_or(hidden_size / heads),
            rms_norm_eps: opt_f("attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
            rope_theta: opt_f("rope.freq_base").unwrap_or(10_000.0),
            rope_scaling,
            max_position_embeddings: int("context_length").unwrap_or(4096),
            tie_word_embeddings: !has("output.weight"),
            qkv_bias: has("blk.0.attn_q.bias"),
            o_bias: has("blk.0.attn_output.bias"),
            mlp_bias: has("blk.0.ffn_up.bias"),
            sliding_window: gguf
                .get(&format!("{arch_name}.attention.sliding_window"))
                .and_then(GgufValue::as_i64),
            qk_norm: architecture == Architecture::Qwen3,
        }))
    }
}

/// The RoPE base and scaling of one Gemma layer type: `rope_parameters[layer_type]` (transformers
/// 5), else the flat `rope_parameters` / `rope_scaling` and `theta_key` of older files.
fn gemma_rope(
    json: &Value,
    layer_type: &str,
    theta_key: &str,
    default_theta: f64,
    flat_scaling: bool,
) -> Result<(f64, RopeScaling)> {
    let params = json.get("rope_parameters").filter(|v| v.is_object());
    if let Some(nested) = params
        .and_then(|p| p.get(layer_type))
        .filter(|v| v.is_object())
    {
        let theta = nested
            .get("rope_theta")
            .and_then(Value::as_f64)
            .unwrap_or(default_theta);
        return Ok((theta, rope_scaling_from_json(Some(nested))?));
    }
    let theta = json
        .get(theta_key)
        .and_then(Value::as_f64)
        .or_else(|| {
            params
                .filter(|_| theta_key == "rope_theta")
                .and_then(|p| p.get("rope_theta"))
                .and_then(Value::as_f64)
        })
        .unwrap_or(default_theta);
    let scaling = if flat_scaling {
        match json.get("rope_scaling").filter(|v| v.is_object()) {
            Some(scaling) => rope_scaling_from_json(Some(scaling))?,
            None => rope_scaling_from_json(params)?,
        }
    } else {
        RopeScaling::None
    };
    Ok((theta, scaling))
}

/// A Gemma 2 / Gemma 3 `config.json`; absent keys take transformers' defaults for the family.
fn gemma_from_json(json: &Value, architecture: Architecture) -> Result<GemmaConfig> {
    let gemma3 = architecture == Architecture::Gemma3;
    let int_or = |key: &str, default: i64| json.get(key).and_then(Value::as_i64).unwrap_or(default);
    // A key absent takes the family default; a key present as null turns the feature off.
    let cap = |key: &str, default: Option<f64>| match json.get(key) {
        None => default,
        Some(v) => v.as_f64(),
    };
    if json
        .get("use_bidirectional_attention")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Err(TextError::Config(
            "bidirectional Gemma 3 (embedding) checkpoints are not text generators".into(),
        ));
    }
    let act = json
        .get("hidden_activation")
        .or_else(|| json.get("hidden_act"))
        .and_then(Value::as_str)
        .unwrap_or("gelu_pytorch_tanh");
    let gelu_approximate = match act {
        "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => "tanh",
        "gelu" => "none",
        other => {
            return Err(TextError::Config(format!(
                "unsupported hidden_activation {other:?}"
            )))
        }
    };
    let num_hidden_layers = field_i64(json, "num_hidden_layers")?;
    let sliding_layers = match json.get("layer_types").and_then(Value::as_array) {
        Some(types) => types
            .iter()
            .map(|t| match t.as_str() {
                Some("sliding_attention") => Ok(true),
                Some("full_attention") => Ok(false),
                other => Err(TextError::Config(format!(
                    "unsupported layer type {other:?}"
                ))),
            })
            .collect::<Result<Vec<_>>>()?,
        None => {
            let pattern = json
                .get("sliding_window_pattern")
                .or_else(|| json.get("_sliding_window_pattern"))
                .and_then(Value::as_i64)
                .unwrap_or(if gemma3 { 6 } else { 2 })
                .max(1);
            (0..num_hidden_layers)
                .map(|i| (i + 1) % pattern != 0)
                .collect()
        }
    };
    if sliding_layers.len() as i64 != num_hidden_layers {
        return Err(TextError::Config(format!(
            "layer_types lists {} layers, num_hidden_layers is {num_hidden_layers}",
            sliding_layers.len()
        )));
    }
    let (rope_theta, rope_scaling) = gemma_rope(
        json,
        "full_attention",
        "rope_theta",
        if gemma3 { 1_000_000.0 } else { 10_000.0 },
        true,
    )?;
    let (rope_local_theta, rope_local_scaling) = if gemma3 {
        gemma_rope(
            json,
            "sliding_attention",
            "rope_local_base_freq",
            10_000.0,
            false,
        )?
    } else {
        (rope_theta, rope_scaling.clone())
    };
    let num_attention_heads = field_i64(json, "num_attention_heads")?;
    Ok(GemmaConfig {
        architecture,
        vocab_size: field_i64(json, "vocab_size")?,
        hidden_size: field_i64(json, "hidden_size")?,
        intermediate_size: field_i64(json, "intermediate_size")?,
        num_hidden_layers,
        num_attention_heads,
        num_key_value_heads: int_or("num_key_value_heads", num_attention_heads),
        head_dim: int_or("head_dim", 256),
        rms_norm_eps: json
            .get("rms_norm_eps")
            .and_then(Value::as_f64)
            .unwrap_or(1e-6),
        query_pre_attn_scalar: json
            .get("query_pre_attn_scalar")
            .and_then(Value::as_f64)
            .unwrap_or(256.0),
        attn_logit_softcapping: cap("attn_logit_softcapping", (!gemma3).then_some(50.0)),
        final_logit_softcapping: cap("final_logit_softcapping", (!gemma3).then_some(30.0)),
        sliding_window: match json.get("sliding_window") {
            None => Some(4096),
            Some(v) => v.as_i64(),
        },
        sliding_layers,
        rope_theta,
        rope_scaling,
        rope_local_theta,
        rope_local_scaling,
        max_position_embeddings: int_or(
            "max_position_embeddings",
            if gemma3 { 131_072 } else { 8192 },
        ),
        tie_word_embeddings: json
            .get("tie_word_embeddings")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        gelu_approximate,
    })
}
