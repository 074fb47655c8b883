//! Model configurations, mirroring the fields of a Hugging Face `config.json` (and filled from
//! GGUF metadata for GGUF checkpoints).

use serde::Deserialize;
use serde_json::Value;

use super::error::{Result, TextError};
use super::gguf::{GgufFile, GgufValue};

/// Which decoder architecture a checkpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Llama 2/3, SmolLM2 and other `LlamaForCausalLM` checkpoints.
    Llama,
    /// Mistral (Llama layout with sliding-window attention).
    Mistral,
    /// Qwen2 / Qwen2.5 (Llama layout with biases on the q, k and v projections).
    Qwen2,
    /// GPT-2.
    Gpt2,
}

impl Architecture {
    /// The architecture named by a `model_type` (config.json) or `general.architecture` (GGUF).
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "llama" | "smollm" | "smollm2" => Ok(Self::Llama),
            "mistral" => Ok(Self::Mistral),
            "qwen2" => Ok(Self::Qwen2),
            "gpt2" => Ok(Self::Gpt2),
            other => Err(TextError::Config(format!(
                "unsupported architecture {other:?}"
            ))),
        }
    }
}

/// RoPE frequency scaling as described by `rope_scaling` / `rope_parameters`.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// Positions divided by `factor`.
    Linear {
        /// The divisor.
        factor: f64,
    },
    /// Llama 3.x frequency-dependent scaling.
    Llama3 {
        /// Overall scaling factor.
        factor: f64,
        /// Wavelengths longer than `original / low_freq_factor` are scaled fully.
        low_freq_factor: f64,
        /// Wavelengths shorter than `original / high_freq_factor` are kept.
        high_freq_factor: f64,
        /// Context length the model was pretrained with.
        original_max_position_embeddings: f64,
    },
}

/// Configuration of a Llama-family decoder (Llama, Mistral, Qwen2, SmolLM2).
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    /// Which variant this is.
    pub architecture: Architecture,
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Model width.
    pub hidden_size: i64,
    /// MLP inner width.
    pub intermediate_size: i64,
    /// Number of decoder layers.
    pub num_hidden_layers: i64,
    /// Query heads.
    pub num_attention_heads: i64,
    /// Key/value heads (grouped-query attention when fewer than query heads).
    pub num_key_value_heads: i64,
    /// Width of one head.
    pub head_dim: i64,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// RoPE scaling.
    pub rope_scaling: RopeScaling,
    /// Longest supported context.
    pub max_position_embeddings: i64,
    /// Whether the output projection is the token embedding.
    pub tie_word_embeddings: bool,
    /// Biases on q, k, v projections (Qwen2; Llama with `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on the attention output projection (Llama with `attention_bias`).
    pub o_bias: bool,
    /// Biases on the MLP projections.
    pub mlp_bias: bool,
    /// Sliding-window attention span (Mistral; Qwen2 with `use_sliding_window`): a query sees
    /// only the keys less than this many positions behind it.
    pub sliding_window: Option<i64>,
}

/// Configuration of a GPT-2 decoder.
#[derive(Debug, Clone, Deserialize)]
pub struct Gpt2Config {
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Number of learned positions.
    pub n_positions: i64,
    /// Model width.
    pub n_embd: i64,
    /// Number of blocks.
    pub n_layer: i64,
    /// Number of heads.
    pub n_head: i64,
    /// MLP inner width (default 4 * n_embd).
    #[serde(default)]
    pub n_inner: Option<i64>,
    /// LayerNorm epsilon.
    #[serde(default = "default_ln_eps")]
    pub layer_norm_epsilon: f64,
    /// Activation; only the GELU variants are supported.
    #[serde(default = "default_gpt2_act")]
    pub activation_function: String,
}

fn default_ln_eps() -> f64 {
    1e-5
}

fn default_gpt2_act() -> String {
    "gelu_new".to_string()
}

/// A parsed model configuration.
#[derive(Debug, Clone)]
pub enum ModelConfig {
    /// Llama family.
    Llama(LlamaConfig),
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
                Architecture::Mistral => json.get("sliding_window").and_then(Value::as_i64),
                Architecture::Qwen2
                    if json.get("use_sliding_window").and_then(Value::as_bool) == Some(true) =>
                {
                    json.get("sliding_window").and_then(Value::as_i64)
                }
                _ => None,
            },
        }))
    }

    /// Builds the configuration from GGUF metadata (`<arch>.block_count`, ...).
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self> {
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
                activation_function: default_gpt2_act(),
            }));
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
            tie_word_embeddings: !gguf.tensors.contains_key("output.weight"),
            qkv_bias: gguf.tensors.contains_key("blk.0.attn_q.bias"),
            o_bias: gguf.tensors.contains_key("blk.0.attn_output.bias"),
            mlp_bias: gguf.tensors.contains_key("blk.0.ffn_up.bias"),
            sliding_window: gguf
                .get(&format!("{arch_name}.attention.sliding_window"))
                .and_then(GgufValue::as_i64),
        }))
    }
}
