//! Text engine: decoder-only LLMs on tch (Llama family — Llama 2/3, Mistral, Qwen2/2.5,
//! SmolLM2 — and GPT-2) loaded from GGUF files or Hugging Face directories, with KV-cached
//! generation, sampling, batching, continuous batching and length-aware structured output.
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
//! let spec = JsonSchemaSpec { fields: vec![
//!     JsonField { name: "headline".into(), max_graphemes: 30, allowed_values: None },
//!     JsonField { name: "cta".into(), max_graphemes: 12,
//!                 allowed_values: Some(vec!["Buy now".into(), "Learn more".into()]) },
//! ]};
//! let obj: StructuredOutput = model.generate_json(&req.prompt, &spec, &SamplingParams::default())?;
//!
//! // Continuous batching for the server: a cloneable Send + Sync handle.
//! let scheduler = TextScheduler::start(model, 16);
//! let events = scheduler.submit(req)?; // Receiver<SchedulerEvent>: Text(..)*, then Done(..)
//! # Ok(()) }
//! ```

mod chat_template;
mod config;
mod error;
mod generate;
mod ggml_quant;
mod gguf;
mod gpt2;
mod kv_cache;
mod llama;
mod model;
mod rope;
mod sampling;
mod scheduler;
mod structured;
mod tokenizer;
mod weights;

pub use chat_template::{ChatMessage, ChatTemplate};
pub use config::{Architecture, Gpt2Config, LlamaConfig, ModelConfig, RopeScaling};
pub use error::{Result, TextError};
pub use generate::{prompt_tokens, FinishReason, Generation, GenerationRequest, Prompt, TextSink};
pub use ggml_quant::GgmlType;
pub use gguf::{GgufFile, GgufTensorInfo, GgufValue};
pub use kv_cache::KvCache;
pub use model::{models_dir, resolve_model_path, CausalLm, TextModel, DEFAULT_MODEL_FILE};
pub use sampling::{argmax, Sampler, SamplingParams};
pub use scheduler::{SchedulerEvent, TextScheduler};
pub use structured::{JsonField, JsonSchemaSpec, StructuredOutput, StructuredVocab};
pub use tokenizer::TextTokenizer;
pub use weights::WeightSource;
