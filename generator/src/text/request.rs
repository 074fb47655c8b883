//! What a caller asks the text engine for and what it gets back: prompts, generation
//! requests, finished generations and structured (JSON) results.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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

/// A shared flag that stops generation: the decoder checks it before every step, and a
/// sequence whose token is cancelled ends with [`FinishReason::Cancelled`]. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every request carrying this token (or a clone of it).
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`Self::cancel`] has been called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Tokens are equal when they are the same flag.
impl PartialEq for CancelToken {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
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
    /// Stops generation between decode steps when cancelled.
    #[serde(skip)]
    pub cancel: Option<CancelToken>,
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
            cancel: None,
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
    /// The request's [`CancelToken`] was cancelled.
    Cancelled,
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
    /// Fluency: the mean natural-log probability the model gave the tokens it chose, under its
    /// own next-token distribution (raw logits, before repetition penalty, temperature and any
    /// output constraint), over the generated tokens a constraint did not force (for
    /// structured output: the values' text and closing quotes, not the keys and punctuation).
    /// 0 when no token counts.
    pub mean_logprob: f32,
    /// How many tokens `mean_logprob` averages.
    pub scored_tokens: usize,
    /// Structured output: how many values had to close while the model wanted to go on with
    /// the word it was writing, because the value's length limit left no room (the copy then
    /// ends on a fragment such as "city ra"). 0 for free text.
    #[serde(default)]
    pub cut_words: usize,
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
    /// Parses a finished structured generation ([`TextError::Cancelled`] when it was cancelled).
    pub(crate) fn from_generation(generation: Generation) -> Result<StructuredOutput> {
        if generation.finish_reason == FinishReason::Cancelled {
            return Err(TextError::Cancelled);
        }
        match serde_json::from_str::<serde_json::Value>(&generation.text) {
            Ok(serde_json::Value::Object(values)) => Ok(StructuredOutput { values, generation }),
            _ => Err(TextError::Structured(format!(
                "decoding ended without a complete object: {:?}",
                generation.text
            ))),
        }
    }
}
