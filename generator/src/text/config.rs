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

/// What a `rope_scaling` / `rope_parameters` block is read against: the config's context
/// length, the pretraining length a top-level `original_max_position_embeddings` gives (Phi-3
/// keeps it there, defaulting to 4096, and transformers lets it override the block's), the
/// rotated width, and whether the model is Phi-3 (whose config reads "su" and "yarn" as LongRoPE).
struct RopeContext {
    max_position_embeddings: f64,
    original_max_position_embeddings: Option<f64>,
    rotary_dim: i64,
    phi3: bool,
}

fn rope_scaling_from_json(params: Option<&Value>, ctx: &RopeContext) -> Result<RopeScaling> {
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
        num(key).ok_or_else(|| TextError::Config(format!("rope scaling {kind:?} lacks {key:?}")))
    };
    let original = || {
        ctx.original_max_position_embeddings
            .or_else(|| num("original_max_position_embeddings"))
            .unwrap_or(ctx.max_position_embeddings)
    };
    let kind = match kind {
        "su" | "yarn" if ctx.phi3 => "longrope",
        other => other,
    };
    match kind {
        "default" => Ok(RopeScaling::None),
        // Dynamic NTK changes the base only for sequences longer than max_position_embeddings,
        // which this engine never runs: within them it is plain RoPE.
        "dynamic" => Ok(RopeScaling::None),
        "linear" => Ok(RopeScaling::Linear {
            factor: need("factor")?,
        }),
        "llama3" => Ok(RopeScaling::Llama3 {
            factor: need("factor")?,
            low_freq_factor: need("low_freq_factor")?,
            high_freq_factor: need("high_freq_factor")?,
            original_max_position_embeddings: original(),
        }),
        "yarn" => {
            let original = original();
            let factor = num("factor").unwrap_or(ctx.max_position_embeddings / original);
            let attention_factor = num("attention_factor").unwrap_or_else(|| {
                RopeScaling::yarn_attention_factor(factor, num("mscale"), num("mscale_all_dim"))
            });
            // transformers takes `beta_fast or 32`: a zero or null value means the default.
            let beta = |key: &str, default: f64| num(key).filter(|v| *v != 0.0).unwrap_or(default);
            Ok(RopeScaling::Yarn {
                factor,
                original_max_position_embeddings: original,
                beta_fast: beta("beta_fast", 32.0),
                beta_slow: beta("beta_slow", 1.0),
                truncate: params
                    .get("truncate")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                attention_factor,
            })
        }
        "longrope" => {
            let original = original();
            let list = |key: &str| -> Result<Vec<f64>> {
                let values = params
                    .get(key)
                    .and_then(Value::as_array)
                    .ok_or_else(|| TextError::Config(format!("longrope scaling lacks {key:?}")))?
                    .iter()
                    .map(|v| {
                        v.as_f64().ok_or_else(|| {
                            TextError::Config(format!("longrope {key:?} holds a non-number"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                if values.len() as i64 != ctx.rotary_dim / 2 {
                    return Err(TextError::Config(format!(
                        "longrope {key:?} has {} values, the rotary width {} needs {}",
                        values.len(),
                        ctx.rotary_dim,
                        ctx.rotary_dim / 2
                    )));
                }
                Ok(values)
            };
            let factor = num("factor").unwrap_or(ctx.max_position_embeddings / original);
            Ok(RopeScaling::LongRope {
                short_factor: list("short_factor")?,
                long_factor: list("long_factor")?,
                original_max_position_embeddings: original as i64,
                attention_factor: num("attention_factor")
                    .unwrap_or_else(|| RopeScaling::longrope_attention_factor(factor, original)),
            })
        }
        other => Err(TextError::Config(format!(
            "unsupported rope scaling type {other:?} (supported: default, linear, dynamic, \
             llama3, yarn, longrope)"
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
            // Keys the wrapper states and its text part leaves out apply to the text part.
            let mut text = text.clone();
            if text.get("model_type").is_none() {
                text["model_type"] = Value::String(format!("{model_type}_text"));
            }
            if text.get("tie_word_embeddings").is_none() {
                if let Some(tie) = json.get("tie_word_embeddings") {
                    text["tie_word_embeddings"] = tie.clone();
                }
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
        let num_hidden_layers = field_i64(json, "num_hidden_layers")?;
        let head_dim = json
            .get("head_dim")
            .and_then(Value::as_i64)
            .unwrap_or(hidden_size / num_attention_heads);
        let max_position_embeddings = json
            .get("max_position_embeddings")
            .and_then(Value::as_i64)
            .unwrap_or(4096);
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
        let phi3 = architecture == Architecture::Phi3;
        // Only Phi-3 rotates part of each head; the other families' rotary embedding ignores the key.
        let partial_rotary = json
            .get("partial_rotary_factor")
            .or_else(|| rope_params.and_then(|p| p.get("partial_rotary_factor")))
            .and_then(Value::as_f64)
            .filter(|_| phi3)
            .unwrap_or(1.0);
        if !(partial_rotary > 0.0 && partial_rotary <= 1.0) {
            return Err(TextError::Config(format!(
                "partial_rotary_factor {partial_rotary} is outside (0, 1]"
            )));
        }
        let rotary_dim = (head_dim as f64 * partial_rotary) as i64;
        let rope_context = RopeContext {
            max_position_embeddings: max_position_embeddings as f64,
            original_max_position_embeddings: json
                .get("original_max_position_embeddings")
                .and_then(Value::as_f64)
                .or(phi3.then_some(4096.0)),
            rotary_dim,
            phi3,
        };
        let rope_scaling = match json.get("rope_scaling").filter(|v| v.is_object()) {
            Some(scaling) => rope_scaling_from_json(Some(scaling), &rope_context)?,
            None => rope_scaling_from_json(rope_params, &rope_context)?,
        };
        let attention_bias = json
            .get("attention_bias")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let sliding_window = match architecture {
            Architecture::Mistral | Architecture::Phi3 => {
                json.get("sliding_window").and_then(Value::as_i64)
            }
            Architecture::Qwen2 | Architecture::Qwen3
                if json.get("use_sliding_window").and_then(Value::as_bool) == Some(true) =>
            {
                json.get("sliding_window").and_then(Value::as_i64)
            }
            _ => None,
        }
        .filter(|&w| w > 0);
        let sliding_layers = llama_sliding_layers(json, architecture, num_hidden_layers)?;
        Ok(Self::Llama(LlamaConfig {
            architecture,
            vocab_size: field_i64(json, "vocab_size")?,
            hidden_size,
            intermediate_size: field_i64(json, "intermediate_size")?,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads: json
                .get("num_key_value_heads")
                .and_then(Value::as_i64)
                .unwrap_or(num_attention_heads),
            head_dim,
            rotary_dim,
            rms_norm_eps: json
                .get("rms_norm_eps")
                .and_then(Value::as_f64)
                .unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            max_position_embeddings,
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
            sliding_layers: match sliding_window {
                Some(_) => sliding_layers,
                None => vec![false; num_hidden_layers as usize],
            },
            sliding_window,
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
            let mut config = gemma_from_gguf(
                gguf,
                &arch_name,
                architecture,
                vocab_size,
                !has("output.weight"),
            )?;
            config.attention_bias = has("blk.0.attn_q.bias");
            return Ok(Self::Gemma(config));
        }
        let hidden_size = int("embedding_length")?;
        let heads = int("attention.head_count")?;
        let num_hidden_layers = int("block_count")?;
        let head_dim = int("attention.key_length").unwrap_or(hidden_size / heads);
        let rotary_dim = int("rope.dimension_count").unwrap_or(head_dim);
        let max_position_embeddings = int("context_length").unwrap_or(4096);
        let rope_scaling =
            gguf_rope_scaling(shards, &arch_name, max_position_embeddings, rotary_dim)?;
        // Phi-4 GGUFs say 0 for "no window".
        let sliding_window = gguf
            .get(&format!("{arch_name}.attention.sliding_window"))
            .and_then(GgufValue::as_i64)
            .filter(|&w| w > 0);
        Ok(Self::Llama(LlamaConfig {
            architecture,
            vocab_size,
            hidden_size,
            intermediate_size: int("feed_forward_length")?,
            num_hidden_layers,
            num_attention_heads: heads,
            num_key_value_heads: int("attention.head_count_kv").unwrap_or(heads),
            head_dim,
            rotary_dim,
            rms_norm_eps: opt_f("attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
            rope_theta: opt_f("rope.freq_base").unwrap_or(10_000.0),
            rope_scaling,
            max_position_embeddings,
            tie_word_embeddings: !has("output.weight"),
            qkv_bias: has("blk.0.attn_q.bias"),
            o_bias: has("blk.0.attn_output.bias"),
            mlp_bias: has("blk.0.ffn_up.bias"),
            sliding_layers: vec![sliding_window.is_some(); num_hidden_layers as usize],
            sliding_window,
            qk_norm: architecture == Architecture::Qwen3,
        }))
    }
}

/// The RoPE scaling of a Llama-family GGUF: `rope.scaling.type` linear or yarn, else the
/// per-frequency factors llama.cpp stores as tensors: `rope_freqs.weight` (Llama 3.x) or
/// `rope_factors_short.weight` / `rope_factors_long.weight` (Phi-3 LongRoPE, with
/// `rope.scaling.original_context_length` and `rope.scaling.attn_factor`).
fn gguf_rope_scaling(
    shards: &[GgufFile],
    arch: &str,
    max_position_embeddings: i64,
    rotary_dim: i64,
) -> Result<RopeScaling> {
    let gguf = &shards[0];
    let opt_f = |key: &str| {
        gguf.get(&format!("{arch}.rope.scaling.{key}"))
            .and_then(GgufValue::as_f64)
    };
    let factors = |name: &str| -> Result<Option<Vec<f64>>> {
        let Some(shard) = shards.iter().find(|s| s.tensors.contains_key(name)) else {
            return Ok(None);
        };
        let t = shard.tensor(name, tch::Kind::Double, tch::Device::Cpu)?;
        let values = Vec::<f64>::try_from(t.reshape([-1]))
            .map_err(|e| TextError::Config(format!("{name}: {e}")))?;
        if values.len() as i64 != rotary_dim / 2 {
            return Err(TextError::Config(format!(
                "{name} has {} values, the rotary width {rotary_dim} needs {}",
                values.len(),
                rotary_dim / 2
            )));
        }
        Ok(Some(values))
    };
    let original = opt_f("original_context_length");
    match gguf
        .get(&format!("{arch}.rope.scaling.type"))
        .and_then(GgufValue::as_str)
    {
        Some("linear") => {
            return Ok(RopeScaling::Linear {
                factor: opt_f("factor").unwrap_or(1.0),
            })
        }
        Some("yarn") => {
            let original = original.unwrap_or(max_position_embeddings as f64);
            let factor = opt_f("factor").unwrap_or(max_position_embeddings as f64 / original);
            return Ok(RopeScaling::Yarn {
                factor,
                original_max_position_embeddings: original,
                beta_fast: opt_f("yarn_beta_fast")
                    .filter(|v| *v != 0.0)
                    .unwrap_or(32.0),
                beta_slow: opt_f("yarn_beta_slow").filter(|v| *v != 0.0).unwrap_or(1.0),
                truncate: true,
                attention_factor: opt_f("attn_factor")
                    .unwrap_or_else(|| RopeScaling::yarn_attention_factor(factor, None, None)),
            });
        }
        Some("none") | None => {}
        Some(other) => {
            return Err(TextError::Config(format!(
                "unsupported GGUF rope scaling type {other:?} (supported: none, linear, yarn)"
            )))
        }
    }
    if let (Some(short_factor), Some(long_factor)) = (
        factors("rope_factors_short.weight")?,
        factors("rope_factors_long.weight")?,
    ) {
        let original = original.unwrap_or(max_position_embeddings as f64);
        return Ok(RopeScaling::LongRope {
            short_factor,
            long_factor,
            original_max_position_embeddings: original as i64,
            attention_factor: opt_f("attn_factor").unwrap_or_else(|| {
                RopeScaling::longrope_attention_factor(
                    max_position_embeddings as f64 / original,
                    original,
                )
            }),
        });
    }
    if let Some(factors) = factors("rope_freqs.weight")? {
        return Ok(RopeScaling::Divisors { factors });
    }
    Ok(RopeScaling::None)
}

/// A Gemma 2 / Gemma 3 GGUF as llama.cpp's converter writes it. What GGUF does not store is
/// what llama.cpp assumes: sliding-window layers every layer but each 6th (Gemma 3) or every
/// other layer (Gemma 2) unless `attention.sliding_window_pattern` says otherwise; RoPE base
/// 10000 for the local layers unless `rope.freq_base_swa` says otherwise, with the scaling on the
/// global layers only; and a query scale of `head_dim^-1/2`, except `(hidden / heads)^-1/2` for
/// the 27B models (46 layers for Gemma 2, 62 for Gemma 3).
fn gemma_from_gguf(
    gguf: &GgufFile,
    arch: &str,
    architecture: Architecture,
    vocab_size: i64,
    tie_word_embeddings: bool,
) -> Result<GemmaConfig> {
    let gemma3 = architecture == Architecture::Gemma3;
    let key = |k: &str| format!("{arch}.{k}");
    let int = |k: &str| -> Result<i64> {
        gguf.require(&key(k))?
            .as_i64()
            .ok_or_else(|| TextError::Config(format!("{arch}.{k} is not an integer")))
    };
    let opt_f = |k: &str| gguf.get(&key(k)).and_then(GgufValue::as_f64);
    let hidden_size = int("embedding_length")?;
    let num_hidden_layers = int("block_count")?;
    let num_attention_heads = int("attention.head_count")?;
    let head_dim = int("attention.key_length").unwrap_or(256);
    let sliding_layers = match gguf.get(&key("attention.sliding_window_pattern")) {
        Some(GgufValue::Array(flags)) => flags
            .iter()
            .map(|f| f.as_bool().unwrap_or(false))
            .collect::<Vec<_>>(),
        other => sliding_every(other.and_then(GgufValue::as_i64), gemma3, num_hidden_layers),
    };
    check_layer_count(
        &sliding_layers,
        num_hidden_layers,
        &format!("{arch}.attention.sliding_window_pattern"),
        "block_count",
    )?;
    let rope_scaling = match gguf
        .get(&key("rope.scaling.type"))
        .and_then(GgufValue::as_str)
    {
        Some("linear") => RopeScaling::Linear {
            factor: opt_f("rope.scaling.factor").unwrap_or(1.0),
        },
        Some("none") | None => RopeScaling::None,
        Some(other) => {
            return Err(TextError::Config(format!(
                "unsupported GGUF rope scaling type {other:?} for {arch} (supported: none, linear)"
            )))
        }
    };
    let rope_theta = opt_f("rope.freq_base").unwrap_or(if gemma3 { 1_000_000.0 } else { 10_000.0 });
    let (rope_local_theta, rope_local_scaling) = if gemma3 {
        (
            opt_f("rope.freq_base_swa").unwrap_or(10_000.0),
            RopeScaling::None,
        )
    } else {
        (rope_theta, rope_scaling.clone())
    };
    let is_27b = num_hidden_layers == if gemma3 { 62 } else { 46 };
    let query_pre_attn_scalar = if is_27b {
        (hidden_size / num_attention_heads) as f64
    } else {
        head_dim as f64
    };
    let softcap = |k: &str| opt_f(k).filter(|v| *v > 0.0);
    Ok(GemmaConfig {
        architecture,
        vocab_size,
        hidden_size,
        intermediate_size: int("feed_forward_length")?,
        num_hidden_layers,
        num_attention_heads,
        num_key_value_heads: int("attention.head_count_kv").unwrap_or(num_attention_heads),
        head_dim,
        rms_norm_eps: opt_f("attention.layer_norm_rms_epsilon").unwrap_or(1e-6),
        query_pre_attn_scalar,
        attn_logit_softcapping: softcap("attn_logit_softcapping"),
        final_logit_softcapping: softcap("final_logit_softcapping"),
        sliding_window: int("attention.sliding_window").ok().filter(|&w| w > 0),
        sliding_layers,
        rope_theta,
        rope_scaling,
        rope_local_theta,
        rope_local_scaling,
        max_position_embeddings: int("context_length").unwrap_or(if gemma3 {
            131_072
        } else {
            8192
        }),
        tie_word_embeddings,
        attention_bias: false,
        gelu_approximate: "tanh",
    })
}

/// Which layers of a Llama-family model use the sliding window (when it has one): those
/// `layer_types` marks `sliding_attention`, else (Qwen2 / Qwen3, as transformers derives
/// `layer_types`) the layers from `max_window_layers` on, else (Mistral, Phi-3) every layer.
fn llama_sliding_layers(
    json: &Value,
    architecture: Architecture,
    num_hidden_layers: i64,
) -> Result<Vec<bool>> {
    if let Some(types) = json.get("layer_types").and_then(Value::as_array) {
        if types.len() as i64 != num_hidden_layers {
            return Err(TextError::Config(format!(
                "layer_types lists {} layers, num_hidden_layers is {num_hidden_layers}",
                types.len()
            )));
        }
        return types
            .iter()
            .map(|t| match t.as_str() {
                Some("sliding_attention") => Ok(true),
                Some("full_attention") => Ok(false),
                other => Err(TextError::Config(format!(
                    "unsupported layer type {other:?}"
                ))),
            })
            .collect();
    }
    let first_windowed = match architecture {
        Architecture::Qwen2 | Architecture::Qwen3 => json
            .get("max_window_layers")
            .and_then(Value::as_i64)
            .unwrap_or(28),
        _ => 0,
    };
    Ok((0..num_hidden_layers)
        .map(|i| i >= first_windowed)
        .collect())
}

/// The RoPE base and scaling of one Gemma layer type: `rope_parameters[layer_type]` (transformers
/// 5), else the flat `rope_parameters` / `rope_scaling` and `theta_key` of older files.
fn gemma_rope(
    json: &Value,
    layer_type: &str,
    theta_key: &str,
    default_theta: f64,
    flat_scaling: bool,
    ctx: &RopeContext,
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
        return Ok((theta, rope_scaling_from_json(Some(nested), ctx)?));
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
            Some(scaling) => rope_scaling_from_json(Some(scaling), ctx)?,
            None => rope_scaling_from_json(params, ctx)?,
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
    // transformers' Gemma2Config / Gemma3TextConfig defaults (the 2B / 1B-class sizes): real
    // configs such as gemma-3-4b-it's `text_config` leave out the keys that keep them.
    let num_hidden_layers = int_or("num_hidden_layers", 26);
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
        None => sliding_every(
            json.get("sliding_window_pattern")
                .or_else(|| json.get("_sliding_window_pattern"))
                .and_then(Value::as_i64),
            gemma3,
            num_hidden_layers,
        ),
    };
    check_layer_count(
        &sliding_layers,
        num_hidden_layers,
        "layer_types",
        "num_hidden_layers",
    )?;
    let head_dim = int_or("head_dim", 256);
    let max_position_embeddings = int_or(
        "max_position_embeddings",
        if gemma3 { 131_072 } else { 8192 },
    );
    let rope_context = RopeContext {
        max_position_embeddings: max_position_embeddings as f64,
        original_max_position_embeddings: json
            .get("original_max_position_embeddings")
            .and_then(Value::as_f64),
        rotary_dim: head_dim,
        phi3: false,
    };
    let (rope_theta, rope_scaling) = gemma_rope(
        json,
        "full_attention",
        "rope_theta",
        if gemma3 { 1_000_000.0 } else { 10_000.0 },
        true,
        &rope_context,
    )?;
    let (rope_local_theta, rope_local_scaling) = if gemma3 {
        gemma_rope(
            json,
            "sliding_attention",
            "rope_local_base_freq",
            10_000.0,
            false,
            &rope_context,
        )?
    } else {
        (rope_theta, rope_scaling.clone())
    };
    Ok(GemmaConfig {
        architecture,
        vocab_size: int_or("vocab_size", if gemma3 { 262_208 } else { 256_000 }),
        hidden_size: int_or("hidden_size", 2304),
        intermediate_size: int_or("intermediate_size", 9216),
        num_hidden_layers,
        num_attention_heads: int_or("num_attention_heads", 8),
        num_key_value_heads: int_or("num_key_value_heads", 4),
        head_dim,
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
        max_position_embeddings,
        tie_word_embeddings: json
            .get("tie_word_embeddings")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        attention_bias: json
            .get("attention_bias")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        gelu_approximate,
    })
}

/// Which of `layers` layers use sliding-window attention when the checkpoint gives a period
/// (`pattern`, every `pattern`-th layer attends to everything) instead of a list: Gemma 3's
/// default is 6, Gemma 2's 2.
fn sliding_every(pattern: Option<i64>, gemma3: bool, layers: i64) -> Vec<bool> {
    let pattern = pattern.unwrap_or(if gemma3 { 6 } else { 2 }).max(1);
    (0..layers).map(|i| (i + 1) % pattern != 0).collect()
}

/// An error unless the per-layer list (`list_name`) has one entry per layer (`count_name`).
fn check_layer_count(
    sliding_layers: &[bool],
    layers: i64,
    list_name: &str,
    count_name: &str,
) -> Result<()> {
    if sliding_layers.len() as i64 != layers {
        return Err(TextError::Config(format!(
            "{list_name} lists {} layers, {count_name} is {layers}",
            sliding_layers.len()
        )));
    }
    Ok(())
}
