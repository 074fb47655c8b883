//! Text engine: decoder-only LLMs on tch (Llama family — Llama 2/3, Mistral, Qwen2/2.5, Qwen3,
//! Phi-3, SmolLM2 — Gemma 2/3 and GPT-2) loaded from GGUF files or Hugging Face directories, with KV-cached
//! generation, sampling, batching, continuous batching and length-aware structured output.
//!
//! # Layout (each layer uses only the ones above it)
//!
//! - `error`, `architecture`, `rope`, `kv_cache`, `sampling`, `chat_template`, `tokenizer`:
//!   leaves.
//! - `models/<arch>.rs`: one architecture each (config, layers, load, forward) on
//!   [`crate::nn`]; `config` maps `config.json` / GGUF metadata to [`ModelConfig`]; `weights`
//!   maps Hugging Face tensor names onto safetensors or GGUF.
//! - `model`: [`TextModel`], the network with its tokenizer and chat template. No decoding.
//! - `constraint` (the `TokenConstraint` trait the decoder calls) and `structured` (the JSON
//!   constraint, which sees token ids only, never the model).
//! - `request` (what callers send and get), `sequence` (one sequence being decoded), `batch`
//!   (the batch engine), then `generate` (the `TextModel::generate*` entry points) and
//!   `scheduler` (continuous batching).
//!
//! # Public API (for the api crate)
//!
//! ```no_run
//! use adforge_generator::text::*;
//! # fn main() -> Result<(), TextError> {
//! // "default" is SmolLM2-135M-Instruct under ADFORGE_MODELS_DIR; any other value is a path to
//! // a .gguf file or a Hugging Face directory.
//! let model = TextModel::load("default", tch::Device::Cpu, tch::Kind::Float)?;
//! // or TextModel::load_from_env("default") reading ADFORGE_DEVICE / ADFORGE_DTYPE.
//!
//! // One request (CLI `adforge text`): text + generated token ids.
//! let mut req = GenerationRequest::chat(Some("You write ads."), "A slogan for a bakery", 64);
//! req.sampling = SamplingParams { temperature: 0.7, seed: Some(42), ..Default::default() };
//! let out: Generation = model.generate(&req)?;
//! println!("{} {:?}", out.text, out.token_ids);
//!
//! // Streaming and batches.
//! model.generate_streaming(&req, |piece| print!("{piece}"))?;
//! let outs: Vec<Generation> = model.generate_batch(&[req.clone(), req.clone()])?;
//!
//! // Structured output: always valid JSON, every field within its grapheme limit.
//! // Free fields end on a whole word, never on a dangling "and" / "et" / "und" (per language).
//! let spec = JsonSchemaSpec::new(vec![
//!     JsonField::free("headline", 30),
//!     JsonField::one_of("cta", 12, vec!["Buy now".into(), "Learn more".into()]),
//! ]).with_language("en");
//! let obj: StructuredOutput = model.generate_json(&req.prompt, &spec, &SamplingParams::default())?;
//! // Fluency: the model's mean log-probability of the tokens it chose.
//! let fluency: f32 = obj.generation.mean_logprob;
//!
//! // Continuous batching for the server: a cloneable Send + Sync handle.
//! let scheduler = TextScheduler::start(model, 16);
//! let events = scheduler.submit(req)?; // Receiver<SchedulerEvent>: Text(..)*, then Done(..)
//! // K candidates of one prompt share one prefill; a cancel token stops them between steps.
//! let cancel = CancelToken::new();
//! let jobs: Vec<(Prompt, SamplingParams)> = (0..6)
//!     .map(|s| (obj_prompt(), SamplingParams { temperature: 0.8, seed: Some(s), ..Default::default() }))
//!     .collect();
//! let candidates = scheduler.generate_json_batch_cancellable(&jobs, &spec, &cancel)?;
//! # fn obj_prompt() -> Prompt { Prompt::Text("An ad".into()) }
//! # Ok(()) }
//! ```

mod architecture;
mod batch;
mod chat_template;
mod config;
mod constraint;
mod error;
mod generate;
mod kv_cache;
mod model;
pub mod models;
mod request;
mod rope;
mod sampling;
mod scheduler;
mod sentencepiece;
mod sequence;
mod structured;
mod tokenizer;
mod weights;
mod words;

pub use architecture::Architecture;
pub use chat_template::{ChatMessage, ChatTemplate};
pub use config::ModelConfig;
pub use error::{Result, TextError};
pub use kv_cache::KvCache;
pub use model::{models_dir, resolve_model_path, CausalLm, TextModel, DEFAULT_MODEL_FILE};
pub use models::gemma::GemmaConfig;
pub use models::gpt2::Gpt2Config;
pub use models::llama::LlamaConfig;
pub use request::{
    CancelToken, FinishReason, Generation, GenerationRequest, Prompt, StructuredOutput, TextSink,
};
pub use rope::RopeScaling;
pub use sampling::{argmax, Sampler, SamplingParams};
pub use scheduler::{SchedulerEvent, TextScheduler};
pub use sequence::prompt_tokens;
pub use structured::{JsonField, JsonSchemaSpec, StructuredVocab};
pub use tokenizer::TextTokenizer;
pub use weights::WeightSource;
// The GGUF reader lives in the layer kit; these paths are kept for the text engine's users.
pub use crate::nn::{GgmlType, GgufFile, GgufTensorInfo, GgufValue};
