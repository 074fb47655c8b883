//! Length-aware structured output: a JSON object with named string fields, each with a limit
//! in grapheme clusters and optionally a closed set of allowed values, enforced while decoding.
//!
//! The object's punctuation and keys are forced token by token; inside a value only tokens
//! whose text needs no JSON escaping and keeps the value within its limit (or on the way to an
//! allowed value) can be chosen, and the closing quote is a token of its own choosing. The
//! result is therefore always a parseable object within every limit; nothing is cut afterwards.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use super::constraint::TokenConstraint;
use super::error::{Result, TextError};
use super::tokenizer::TextTokenizer;

/// One string field of the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonField {
    /// The key.
    pub name: String,
    /// Most grapheme clusters the value may have.
    pub max_graphemes: usize,
    /// When set, the value must be one of these.
    #[serde(default)]
    pub allowed_values: Option<Vec<String>>,
}

/// The object to produce: its fields, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonSchemaSpec {
    /// The fields.
    pub fields: Vec<JsonField>,
}

impl JsonSchemaSpec {
    /// Checks the spec can be satisfied: at least one field, allowed values within limits and
    /// free of characters that would need escaping.
    pub fn validate(&self) -> Result<()> {
        if self.fields.is_empty() {
            return Err(TextError::Structured("the schema has no fields".into()));
        }
        for f in &self.fields {
            for v in f.allowed_values.iter().flatten() {
                if v.graphemes(true).count() > f.max_graphemes {
                    return Err(TextError::Structured(format!(
                        "allowed value {v:?} of {:?} is longer than {} graphemes",
                        f.name, f.max_graphemes
                    )));
                }
                if !is_plain_content(v) {
                    return Err(TextError::Structured(format!(
                        "allowed value {v:?} contains quotes, backslashes or control characters"
                    )));
                }
            }
            if f.allowed_values.as_ref().is_some_and(Vec::is_empty) {
                return Err(TextError::Structured(format!(
                    "field {:?} allows no value",
                    f.name
                )));
            }
        }
        Ok(())
    }
}

impl JsonSchemaSpec {
    /// A plain-language instruction describing the object, to put in the prompt so the model
    /// knows what each field is for (the limits are enforced regardless).
    pub fn instruction(&self) -> String {
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|f| match &f.allowed_values {
                Some(values) => format!("\"{}\" (one of: {})", f.name, values.join(", ")),
                None => format!("\"{}\" (at most {} characters)", f.name, f.max_graphemes),
            })
            .collect();
        format!(
            "Reply with one JSON object with the string fields {}.",
            fields.join(", ")
        )
    }
}

/// Text that can sit inside a JSON string without escapes.
fn is_plain_content(s: &str) -> bool {
    s.chars().all(|c| c != '"' && c != '\\' && !c.is_control())
}

/// Per-token facts for constrained decoding, computed once per tokenizer.
pub struct StructuredVocab {
    /// For tokens usable inside a value: their text.
    content: Vec<Option<String>>,
    /// Grapheme count of each content token on its own.
    content_graphemes: Vec<usize>,
    /// For tokens that are some content followed by the closing quote: that content.
    close: Vec<Option<String>>,
}

impl StructuredVocab {
    /// Classifies every token of `tokenizer`.
    pub fn build(tokenizer: &TextTokenizer) -> Result<Self> {
        let bytes = tokenizer.vocab_bytes();
        let mut content = Vec::with_capacity(bytes.len());
        let mut content_graphemes = Vec::with_capacity(bytes.len());
        let mut close = Vec::with_capacity(bytes.len());
        for (id, b) in bytes.iter().enumerate() {
            let text = if tokenizer.is_special(id as u32) {
                None
            } else {
                std::str::from_utf8(b).ok()
            };
            let as_content = text.filter(|t| !t.is_empty() && is_plain_content(t));
            content_graphemes.push(as_content.map(|t| t.graphemes(true).count()).unwrap_or(0));
            content.push(as_content.map(str::to_string));
            close.push(
                text.and_then(|t| t.strip_suffix('"'))
                    .filter(|t| is_plain_content(t))
                    .map(str::to_string),
            );
        }
        if !close.iter().any(|c| c.as_deref() == Some("")) {
            return Err(TextError::Structured(
                "the vocabulary has no token for a lone '\"'".into(),
            ));
        }
        Ok(Self {
            content,
            content_graphemes,
            close,
        })
    }
}

enum State {
    Forced(VecDeque<u32>),
    Value { field: usize, text: String },
    Complete,
}

/// Decoding-time state machine for one object.
pub(crate) struct JsonConstraint {
    vocab: Arc<StructuredVocab>,
    spec: Arc<JsonSchemaSpec>,
    /// Token ids of the text forced after each value (index 0: before the first value).
    forced: Arc<Vec<Vec<u32>>>,
    state: State,
    next_field: usize,
}

/// Graphemes in `text + piece`.
fn joined_graphemes(text: &str, piece: &str) -> usize {
    let mut s = String::with_capacity(text.len() + piece.len());
    s.push_str(text);
    s.push_str(piece);
    s.graphemes(true).count()
}

impl JsonConstraint {
    pub(crate) fn new(
        vocab: Arc<StructuredVocab>,
        spec: Arc<JsonSchemaSpec>,
        forced: Arc<Vec<Vec<u32>>>,
    ) -> Self {
        let first = forced[0].iter().copied().collect();
        Self {
            vocab,
            spec,
            forced,
            state: State::Forced(first),
            next_field: 0,
        }
    }

    /// Tokenizes the fixed text between values: `{"a": "`, `", "b": "` minus the quote that
    /// closes a value (which the model picks), and the final `}`.
    pub(crate) fn forced_tokens(
        tokenizer: &TextTokenizer,
        spec: &JsonSchemaSpec,
    ) -> Result<Vec<Vec<u32>>> {
        let key = |name: &str| {
            serde_json::to_string(name).map_err(|e| TextError::Structured(e.to_string()))
        };
        let mut pieces = Vec::with_capacity(spec.fields.len() + 1);
        for (i, f) in spec.fields.iter().enumerate() {
            let text = if i == 0 {
                format!("{{{}: \"", key(&f.name)?)
            } else {
                format!(", {}: \"", key(&f.name)?)
            };
            pieces.push(tokenizer.encode_fragment(&text)?);
        }
        pieces.push(tokenizer.encode_fragment("}")?);
        if pieces.iter().any(Vec::is_empty) {
            return Err(TextError::Structured(
                "the tokenizer produced no tokens for JSON punctuation".into(),
            ));
        }
        Ok(pieces)
    }

    /// Upper bound on the tokens one object can take.
    pub(crate) fn max_tokens(&self) -> usize {
        let forced: usize = self.forced.iter().map(Vec::len).sum();
        let values: usize = self
            .spec
            .fields
            .iter()
            .map(|f| match &f.allowed_values {
                Some(vs) => vs.iter().map(|v| v.len()).max().unwrap_or(0) + 1,
                None => f.max_graphemes + 1,
            })
            .sum();
        forced + values
    }
}

impl TokenConstraint for JsonConstraint {
    /// Forced text keeps only its next token; inside a value, tokens that overrun the limit or
    /// leave every allowed value are masked.
    fn mask(&self, logits: &mut [f32]) {
        match &self.state {
            State::Forced(queue) => {
                let keep = queue.front().copied().unwrap_or(0) as usize;
                for (i, l) in logits.iter_mut().enumerate() {
                    if i != keep {
                        *l = f32::NEG_INFINITY;
                    }
                }
            }
            State::Value { field, text } => {
                let f = &self.spec.fields[*field];
                let used = text.graphemes(true).count();
                let budget = f.max_graphemes.saturating_sub(used);
                for (i, l) in logits.iter_mut().enumerate() {
                    let ok = match (&self.vocab.content[i], &self.vocab.close[i]) {
                        (Some(piece), _) if self.vocab.content_graphemes[i] <= budget => {
                            match &f.allowed_values {
                                Some(values) => values.iter().any(|v| {
                                    v.strip_prefix(text.as_str())
                                        .is_some_and(|r| r.starts_with(piece.as_str()))
                                }),
                                None => true,
                            }
                        }
                        (_, Some(rest)) => match &f.allowed_values {
                            Some(values) => values
                                .iter()
                                .any(|v| v.strip_prefix(text.as_str()) == Some(rest.as_str())),
                            None => rest.graphemes(true).count() <= budget,
                        },
                        _ => false,
                    };
                    if !ok {
                        *l = f32::NEG_INFINITY;
                    }
                }
            }
            State::Complete => logits.iter_mut().for_each(|l| *l = f32::NEG_INFINITY),
        }
    }

    /// Exact: grapheme counts of the joined text.
    fn allows(&self, token: u32) -> bool {
        let i = token as usize;
        match &self.state {
            State::Forced(queue) => queue.front() == Some(&token),
            State::Value { field, text } => {
                let f = &self.spec.fields[*field];
                if let Some(piece) = self.vocab.content.get(i).and_then(Option::as_ref) {
                    let joined = joined_graphemes(text, piece);
                    let grows = joined > text.graphemes(true).count();
                    let fits = match &f.allowed_values {
                        Some(values) => values
                            .iter()
                            .any(|v| v.starts_with(&format!("{text}{piece}"))),
                        None => joined <= f.max_graphemes,
                    };
                    return grows && fits;
                }
                if let Some(rest) = self.vocab.close.get(i).and_then(Option::as_ref) {
                    let value = format!("{text}{rest}");
                    return match &f.allowed_values {
                        Some(values) => values.contains(&value),
                        None => value.graphemes(true).count() <= f.max_graphemes,
                    };
                }
                false
            }
            State::Complete => false,
        }
    }

    fn advance(&mut self, token: u32) {
        let i = token as usize;
        let state = std::mem::replace(&mut self.state, State::Complete);
        self.state = match state {
            State::Forced(mut queue) => {
                queue.pop_front();
                if !queue.is_empty() {
                    State::Forced(queue)
                } else if self.next_field < self.spec.fields.len() {
                    let field = self.next_field;
                    self.next_field += 1;
                    State::Value {
                        field,
                        text: String::new(),
                    }
                } else {
                    State::Complete
                }
            }
            State::Value { field, mut text } => {
                if let Some(piece) = self.vocab.content.get(i).and_then(Option::as_ref) {
                    text.push_str(piece);
                    State::Value { field, text }
                } else {
                    State::Forced(self.forced[field + 1].iter().copied().collect())
                }
            }
            State::Complete => State::Complete,
        };
    }

    /// Complete once the closing brace has been produced.
    fn is_complete(&self) -> bool {
        matches!(self.state, State::Complete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_validation_rejects_impossible_values() {
        let spec = JsonSchemaSpec {
            fields: vec![JsonField {
                name: "cta".into(),
                max_graphemes: 3,
                allowed_values: Some(vec!["Buy now".into()]),
            }],
        };
        assert!(spec.validate().is_err());
        assert!(JsonSchemaSpec { fields: vec![] }.validate().is_err());
        let ok = JsonSchemaSpec {
            fields: vec![JsonField {
                name: "headline".into(),
                max_graphemes: 30,
                allowed_values: None,
            }],
        };
        assert!(ok.validate().is_ok());
        assert!(ok
            .instruction()
            .contains("\"headline\" (at most 30 characters)"));
        assert!(!is_plain_content("a\"b"));
        assert!(is_plain_content("Été 🇫🇷"));
    }
}
