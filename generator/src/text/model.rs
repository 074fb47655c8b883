//! A loaded text model: the network, its tokenizer and its chat template, from a GGUF file or a
//! Hugging Face directory. Decoding is built on top of it (`generate`, `batch`, `scheduler`).
//!
//! The f32 libtorch network is the reference; a model loaded for the quantized CPU path
//! ([`TextModel::load_quantized`], or [`TextModel::load_for_decode`] where the quantized path
//! applies) prefills and decodes on the GGUF blocks and reads the libtorch network from the
//! file only when something asks for it ([`TextModel::network`]), so it does not hold the f32
//! copy of the weights.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tch::{Device, Kind, Tensor};

use super::chat_template::{ChatMessage, ChatTemplate};
use super::config::ModelConfig;
use super::error::{Result, TextError};
use super::kv_cache::KvCache;
use super::models::gemma::Gemma;
use super::models::gpt2::Gpt2;
use super::models::llama::Llama;
use super::models::llama_cpu::LlamaCpuDecoder;
use super::structured::StructuredVocab;
use super::tokenizer::TextTokenizer;
use super::weights::{open_gguf, ModelTensors, WeightSource};
use crate::nn::Weights;

/// File name of the default model inside `ADFORGE_MODELS_DIR`.
pub const DEFAULT_MODEL_FILE: &str = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The network of a decoder-only model.
pub enum CausalLm {
    /// Llama family.
    Llama(Llama),
    /// Gemma 2 / Gemma 3.
    Gemma(Gemma),
    /// GPT-2.
    Gpt2(Gpt2),
}

impl CausalLm {
    /// Runs the decoder; see [`Llama::forward`] for the contract.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        positions: &Tensor,
        mask: Option<&Tensor>,
        cache: &mut KvCache,
    ) -> Tensor {
        match self {
            Self::Llama(m) => m.forward(input_ids, positions, mask, cache),
            Self::Gemma(m) => m.forward(input_ids, positions, mask, cache),
            Self::Gpt2(m) => m.forward(input_ids, positions, mask, cache),
        }
    }

    /// Vocabulary logits for hidden states, in f32.
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        let logits = match self {
            Self::Llama(m) => m.logits(hidden),
            Self::Gemma(m) => m.logits(hidden),
            Self::Gpt2(m) => m.logits(hidden),
        };
        logits.to_kind(Kind::Float)
    }

    /// Number of decoder layers (KV cache slots).
    pub fn num_layers(&self) -> usize {
        match self {
            Self::Llama(m) => m.config().num_hidden_layers as usize,
            Self::Gemma(m) => m.config().num_hidden_layers as usize,
            Self::Gpt2(m) => m.config().n_layer as usize,
        }
    }

    /// Longest context the model supports.
    pub fn max_positions(&self) -> i64 {
        match self {
            Self::Llama(m) => m.config().max_position_embeddings,
            Self::Gemma(m) => m.config().max_position_embeddings,
            Self::Gpt2(m) => m.config().n_positions,
        }
    }
}

/// The models directory: `ADFORGE_MODELS_DIR`, else `<workspace>/.deps/models`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("ADFORGE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(".deps")
                .join("models")
        })
}

/// Resolves `"default"` to the bundled SmolLM2 GGUF; any other value is a path.
pub fn resolve_model_path(path_or_default: &str) -> PathBuf {
    if path_or_default == "default" {
        models_dir().join(DEFAULT_MODEL_FILE)
    } else {
        PathBuf::from(path_or_default)
    }
}

/// A ready-to-run text model.
pub struct TextModel {
    /// The f32 (or `kind`) libtorch network, once loaded (see [`Self::network`]).
    network: OnceLock<CausalLm>,
    /// Held while the network is read, so two threads asking at once read it once.
    network_load: Mutex<()>,
    config: ModelConfig,
    /// Its tokenizer.
    pub tokenizer: TextTokenizer,
    chat_template: Option<ChatTemplate>,
    device: Device,
    kind: Kind,
    /// Where it was loaded from.
    pub path: PathBuf,
    structured_vocab: OnceLock<Arc<StructuredVocab>>,
    quantized: Option<LlamaCpuDecoder>,
}

impl TextModel {
    /// Loads a model: `"default"` (SmolLM2-135M-Instruct), a `.gguf` file (any shard of a split
    /// `-0000N-of-0000M.gguf` one), or a Hugging Face
    /// directory with `config.json`, safetensors weights and `tokenizer.json`. The libtorch
    /// network is read now, in `kind` on `device`.
    pub fn load(path_or_default: &str, device: Device, kind: Kind) -> Result<Self> {
        let (model, source) = Self::open(path_or_default, device, kind)?;
        let network = model.read_network(source)?;
        let _ = model.network.set(network);
        tracing::info!(path = %model.path.display(), ?device, ?kind, "loaded text model");
        Ok(model)
    }

    /// Loads a GGUF model for the quantized CPU path: on the CPU, with the quantized prefill
    /// and decode step on ([`Self::enable_quantized_decode`]) and without the f32 libtorch
    /// network, which is read from the file only if something asks for it
    /// ([`Self::network`]: [`Self::prompt_logits`], or decoding after
    /// [`Self::disable_quantized_decode`]). Fails when the model does not qualify.
    pub fn load_quantized(path_or_default: &str) -> Result<Self> {
        let (mut model, source) = Self::open(path_or_default, Device::Cpu, Kind::Float)?;
        drop(source);
        model.enable_quantized_decode()?;
        Ok(model)
    }

    /// Loads `path_or_default` as `ADFORGE_DECODE` says (see [`Self::apply_decode_setting`]):
    /// with `auto` (the default) or `quantized` and a model the quantized CPU path takes, as
    /// [`Self::load_quantized`] does (no f32 network in memory until something asks for it);
    /// otherwise (`reference`, or `auto` on a model or device it does not take) as
    /// [`Self::load`] does.
    pub fn load_for_decode(path_or_default: &str, device: Device, kind: Kind) -> Result<Self> {
        let setting = decode_setting()?;
        if setting == DecodeSetting::Reference {
            return Self::load(path_or_default, device, kind);
        }
        let (mut model, source) = Self::open(path_or_default, device, kind)?;
        match model.enable_quantized_decode() {
            Ok(()) => Ok(model),
            Err(e) if setting == DecodeSetting::Auto => {
                tracing::info!(reason = %e, "decoding on libtorch");
                let network = model.read_network(source)?;
                let _ = model.network.set(network);
                Ok(model)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the config, tokenizer and chat template; returns the model without its network
    /// and the opened weights.
    fn open(path_or_default: &str, device: Device, kind: Kind) -> Result<(Self, WeightSource)> {
        let path = resolve_model_path(path_or_default);
        let (config, source, tokenizer) = if path.is_dir() {
            let cfg_path = path.join("config.json");
            let text = std::fs::read_to_string(&cfg_path).map_err(|source| TextError::Io {
                path: cfg_path.clone(),
                source,
            })?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| TextError::Config(format!("{}: {e}", cfg_path.display())))?;
            let config = ModelConfig::from_hf_json(&json)?;
            let source = WeightSource::from_hf_dir(&path)?;
            let tokenizer = TextTokenizer::from_hf_dir(&path)?;
            (config, source, tokenizer)
        } else {
            let shards = open_gguf(&path)?;
            let gguf = &shards[0];
            let config = ModelConfig::from_gguf_shards(&shards)?;
            let tokenizer = if path.with_file_name("tokenizer.json").exists() {
                TextTokenizer::from_hf_dir(path.parent().unwrap_or(Path::new(".")))?
            } else {
                TextTokenizer::from_gguf(gguf)?
            };
            (config, WeightSource::Gguf(shards), tokenizer)
        };
        let chat_template = match &tokenizer.chat_template {
            Some(src) => Some(ChatTemplate::new(
                src,
                tokenizer.bos_token.as_deref(),
                tokenizer.eos_token.as_deref(),
            )?),
            None => None,
        };
        let model = Self {
            network: OnceLock::new(),
            network_load: Mutex::new(()),
            config,
            tokenizer,
            chat_template,
            device,
            kind,
            path,
            structured_vocab: OnceLock::new(),
            quantized: None,
        };
        Ok((model, source))
    }

    /// Builds the libtorch network from `source`.
    fn read_network(&self, source: WeightSource) -> Result<CausalLm> {
        let _guard = tch::no_grad_guard();
        let weights = Weights::new(ModelTensors {
            source,
            config: self.config.clone(),
            kind: self.kind,
            device: self.device,
        });
        let device = self.device;
        Ok(match &self.config {
            ModelConfig::Llama(c) => CausalLm::Llama(Llama::load(c, &weights, device)?),
            ModelConfig::Gemma(c) => CausalLm::Gemma(Gemma::load(c, &weights, device)?),
            ModelConfig::Gpt2(c) => CausalLm::Gpt2(Gpt2::load(c, &weights)?),
        })
    }

    /// The libtorch network (in the model's dtype on its device), read from the model's file
    /// on first use when the model was loaded without it ([`Self::load_quantized`]).
    pub fn network(&self) -> Result<&CausalLm> {
        if let Some(network) = self.network.get() {
            return Ok(network);
        }
        let _reading = self.network_load.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(network) = self.network.get() {
            return Ok(network);
        }
        let source = if self.path.is_dir() {
            WeightSource::from_hf_dir(&self.path)?
        } else {
            WeightSource::Gguf(open_gguf(&self.path)?)
        };
        let network = self.read_network(source)?;
        tracing::info!(path = %self.path.display(), device = ?self.device, kind = ?self.kind,
            "loaded the libtorch network");
        Ok(self.network.get_or_init(|| network))
    }

    /// Whether the libtorch network is in memory (a model from [`Self::load_quantized`] reads
    /// it only when [`Self::network`] is first called).
    pub fn network_loaded(&self) -> bool {
        self.network.get().is_some()
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Number of decoder layers (KV cache slots).
    pub fn num_layers(&self) -> usize {
        match &self.config {
            ModelConfig::Llama(c) => c.num_hidden_layers as usize,
            ModelConfig::Gemma(c) => c.num_hidden_layers as usize,
            ModelConfig::Gpt2(c) => c.n_layer as usize,
        }
    }

    /// Longest context the model supports.
    pub fn max_positions(&self) -> i64 {
        match &self.config {
            ModelConfig::Llama(c) => c.max_position_embeddings,
            ModelConfig::Gemma(c) => c.max_position_embeddings,
            ModelConfig::Gpt2(c) => c.n_positions,
        }
    }

    /// Turns on the quantized CPU path ([`LlamaCpuDecoder`]) for prefill and decoding.
    ///
    /// It applies to Llama-family models (Llama, Mistral, Qwen2, Qwen3, Phi-3, SmolLM2) read
    /// from a GGUF file whose matrices are Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K or Q6_K
    /// (K-quant matrices need a multiple of 256 columns), loaded on the CPU. Once on, every
    /// sequence prefills ([`LlamaCpuDecoder::prefill`]) and decodes on it, for any number of
    /// sequences at once (each keeps its own cache; the weights are read once per step for
    /// all of them, and once per chunk of prompt positions when prefilling); libtorch is not
    /// used. Its output differs from the f32 path by the rounding of 8-bit activations, so
    /// greedy tokens can part from the f32 path's after a while; the f32 path is what
    /// [`TextModel::load`] gives and stays the reference ([`Self::prompt_logits`] and
    /// [`Self::network`] keep using it). A model loaded with [`Self::load`] keeps its f32
    /// network in memory; [`Self::load_quantized`] loads one without it. Errors explain why a
    /// model does not qualify (and leave the model as it was).
    pub fn enable_quantized_decode(&mut self) -> Result<()> {
        if self.device != Device::Cpu {
            return Err(TextError::Config(
                "the quantized decode step runs on the CPU only".into(),
            ));
        }
        let ModelConfig::Llama(config) = &self.config else {
            return Err(TextError::Config(
                "the quantized decode step implements the Llama family only".into(),
            ));
        };
        if let Some(reason) = unsupported_by_quantized_step(config) {
            return Err(TextError::Config(format!(
                "the quantized decode step does not implement {reason}"
            )));
        }
        if self.path.is_dir() {
            return Err(TextError::Config(
                "the quantized decode step reads GGUF files; this model is a safetensors folder"
                    .into(),
            ));
        }
        let shards = open_gguf(&self.path)?;
        let decoder = LlamaCpuDecoder::load(config, &shards)?;
        tracing::info!(
            path = %self.path.display(),
            weight_mib = decoder.weight_bytes() / (1 << 20),
            "quantized CPU decode step on"
        );
        self.quantized = Some(decoder);
        Ok(())
    }

    /// The quantized CPU decode step, when [`Self::enable_quantized_decode`] turned it on.
    pub fn quantized_decoder(&self) -> Option<&LlamaCpuDecoder> {
        self.quantized.as_ref()
    }

    /// Turns the quantized path off again (decoding then runs the f32 reference, reading the
    /// libtorch network first if the model was loaded without it).
    pub fn disable_quantized_decode(&mut self) {
        self.quantized = None;
    }

    /// Loads with the device from `ADFORGE_DEVICE` (default `auto`) and dtype from
    /// `ADFORGE_DTYPE` (default `f32`), as `ADFORGE_DECODE` says (see
    /// [`Self::load_for_decode`]).
    pub fn load_from_env(path_or_default: &str) -> Result<Self> {
        let device =
            crate::device::parse_device(&std::env::var("ADFORGE_DEVICE").unwrap_or_default())?;
        let kind = crate::device::parse_dtype(
            &std::env::var("ADFORGE_DTYPE").unwrap_or_else(|_| "f32".into()),
        )?;
        Self::load_for_decode(path_or_default, device, kind)
    }

    /// Applies `ADFORGE_DECODE`: `auto` (the default) turns the quantized CPU path on where
    /// [`Self::enable_quantized_decode`] allows it and keeps libtorch elsewhere; `quantized`
    /// requires it (an error when the model does not qualify); `reference` keeps every step on
    /// libtorch (reading the libtorch network now if the model was loaded without it).
    pub fn apply_decode_setting(&mut self) -> Result<()> {
        match decode_setting()? {
            DecodeSetting::Auto => {
                if let Err(e) = self.enable_quantized_decode() {
                    tracing::info!(reason = %e, "decoding on libtorch");
                    self.network()?;
                }
                Ok(())
            }
            DecodeSetting::Quantized => self.enable_quantized_decode(),
            DecodeSetting::Reference => {
                self.disable_quantized_decode();
                self.network()?;
                Ok(())
            }
        }
    }

    /// Token classes for structured output, computed on first use and kept with the model
    /// (they depend only on its tokenizer).
    pub fn structured_vocab(&self) -> Result<Arc<StructuredVocab>> {
        if let Some(v) = self.structured_vocab.get() {
            return Ok(v.clone());
        }
        let built = Arc::new(StructuredVocab::build(&self.tokenizer)?);
        Ok(self.structured_vocab.get_or_init(|| built).clone())
    }

    /// The compute device.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The compute dtype.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Renders chat messages into a prompt with the model's chat template (ending with the
    /// assistant turn's opening). Models without a template get the contents joined by newlines.
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String> {
        match &self.chat_template {
            Some(t) => t.render(messages, true),
            None => Ok(messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n")),
        }
    }

    /// Logits `[batch, seq, vocab]` (f32) of every position of unpadded prompts of equal length,
    /// from the libtorch network (read first if the model was loaded without it).
    pub fn prompt_logits(&self, token_ids: &[Vec<u32>]) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let len = token_ids.first().map(Vec::len).unwrap_or(0);
        if len == 0 || token_ids.iter().any(|r| r.len() != len) {
            return Err(TextError::InvalidRequest(
                "prompts must be non-empty and of equal length".into(),
            ));
        }
        let flat: Vec<i64> = token_ids.iter().flatten().map(|&t| t as i64).collect();
        let b = token_ids.len() as i64;
        let ids = Tensor::from_slice(&flat)
            .reshape([b, len as i64])
            .to_device(self.device);
        let positions = Tensor::arange(len as i64, (Kind::Int64, self.device))
            .unsqueeze(0)
            .expand([b, len as i64], false);
        let network = self.network()?;
        let mut cache = KvCache::new(network.num_layers());
        let hidden = network.forward(&ids, &positions.contiguous(), None, &mut cache);
        Ok(network.logits(&hidden))
    }
}

/// `ADFORGE_DECODE`'s value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeSetting {
    Auto,
    Quantized,
    Reference,
}

/// Reads `ADFORGE_DECODE` (default `auto`).
fn decode_setting() -> Result<DecodeSetting> {
    let setting = std::env::var("ADFORGE_DECODE").unwrap_or_else(|_| "auto".into());
    match setting.as_str() {
        "auto" | "" => Ok(DecodeSetting::Auto),
        "quantized" => Ok(DecodeSetting::Quantized),
        "reference" => Ok(DecodeSetting::Reference),
        other => Err(TextError::Config(format!(
            "ADFORGE_DECODE={other:?}: expected auto, quantized or reference"
        ))),
    }
}

/// What of `config` the quantized CPU decode step does not implement (it rotates with plain
/// per-dimension frequencies over the whole head and applies one window to every layer), so
/// such models keep decoding on libtorch, which implements all of it.
fn unsupported_by_quantized_step(
    config: &crate::text::models::llama::LlamaConfig,
) -> Option<&'static str> {
    use crate::text::rope::RopeScaling;
    if matches!(config.rope_scaling, RopeScaling::LongRope { .. }) {
        return Some("LongRoPE scaling");
    }
    if config.rope_scaling.attention_factor() != 1.0 {
        return Some("a RoPE attention factor");
    }
    if config.rotary_dim != config.head_dim {
        return Some("partial rotary embeddings");
    }
    let windowed = config.sliding_layers.iter().filter(|&&w| w).count();
    if config.sliding_window.is_some_and(|w| w > 0) && windowed != config.sliding_layers.len() {
        return Some("a sliding window on some layers only");
    }
    None
}
