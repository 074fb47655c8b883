//! What a caller asks the text engine for and what it gets back: prompts, generation
//! requests, finished generations and structured (JSON) results.

use serde::{Deserialize, Serialize};

use super::chat_template::ChatMessage;
use super::error::{Result, TextError};
use super::sampling::SamplingParams;

/// What to continue from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// Raw text, tokenized as is (no chat template).
    Text(String),
    /// A user message with an optional system message, rendered with the chat template.
    Chat {
        /// Optional system message.
        system: Option<String>,
        /// The user's message.
        user: String,
    },
    /// A whole conversation, rendered with the chat template.
    Messages(Vec<ChatMessage>),
    /// Token ids, used as is.
    Tokens(Vec<u32>),
}

/// One generation request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRequest {
    /// The prompt.
    pub prompt: Prompt,
    /// Upper bound on generated tokens.
    pub max_new_tokens: usize,
    /// Token selection.
    pub sampling: SamplingParams,
    /// Generation stops when the text contains one of these; the text is cut before it.
    pub stop: Vec<String>,
}

impl GenerationRequest {
    /// A greedy request for a chat prompt.
    pub fn chat(system: Option<&str>, user: &str, max_new_tokens: usize) -> Self {
        Self {
            prompt: Prompt::Chat {
                system: system.map(str::to_string),
                user: user.to_string(),
            },
            max_new_tokens,
            sampling: SamplingParams::greedy(),
            stop: Vec::new(),
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model produced an end-of-sequence token (or a structured object was completed).
    Eos,
    /// A stop string appeared.
    Stop,
    /// `max_new_tokens` or the context length was reached.
    Length,
}

/// The result of one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// Generated text (special tokens left out, cut before a stop string).
    pub text: String,
    /// Generated token ids (including a final EOS token, as transformers reports them).
    pub token_ids: Vec<u32>,
    /// Number of prompt tokens.
    pub prompt_tokens: usize,
    /// Why it ended.
    pub finish_reason: FinishReason,
}

/// Receives text as it is generated.
pub type TextSink<'a> = Box<dyn FnMut(&str) + Send + 'a>;

/// A structured result: the parsed object and the raw generation.
#[derive(Debug, Clone, PartialEq)]
pub struct StructuredOutput {
    /// The object, field name to string value.
    pub values: serde_json::Map<String, serde_json::Value>,
    /// The generation that produced it (its `text` is the JSON).
    pub generation: Generation,
}

impl StructuredOutput {
    /// Parses a finished structured generation.
    pub(crate) fn from_generation(generation: Generation) -> Result<StructuredOutput> {
        match serde_json::from_str::<serde_json::Value>(&generation.text) {
            Ok(serde_json::Value::Object(values)) => Ok(StructuredOutput { values, generation }),
            _ => Err(TextError::Structured(format!(
                "decoding ended without a complete object: {:?}",
                generation.text
            ))),
        }
    }
}
