//! One sequence being decoded: its prompt tokens, sampler, optional output constraint, text so
//! far and streaming; and [`JsonPlan`], which builds sequences constrained to a JSON spec.

use std::sync::Arc;

use super::chat_template::ChatMessage;
use super::constraint::TokenConstraint;
use super::error::{Result, TextError};
use super::model::TextModel;
use super::request::{CancelToken, FinishReason, Generation, GenerationRequest, Prompt, TextSink};
use super::sampling::{Sampler, SamplingParams};
use super::structured::{JsonConstraint, JsonSchemaSpec, StructuredVocab};

/// A sequence being generated.
pub(crate) struct ActiveSequence<'a> {
    pub(crate) id: u64,
    tokens: Vec<u32>,
    prompt_len: usize,
    max_new_tokens: usize,
    sampler: Sampler,
    stop: Vec<String>,
    constraint: Option<Box<dyn TokenConstraint>>,
    text: String,
    streamed: usize,
    sink: Option<TextSink<'a>>,
    finish: Option<FinishReason>,
    cancel: Option<CancelToken>,
    /// Sum of the model's log-probabilities of the chosen, unforced tokens, and their count.
    logprob_sum: f64,
    scored: usize,
}

impl<'a> ActiveSequence<'a> {
    /// Prepares a request: renders and tokenizes the prompt and validates parameters.
    pub(crate) fn new(
        model: &TextModel,
        id: u64,
        request: &GenerationRequest,
        constraint: Option<Box<dyn TokenConstraint>>,
        sink: Option<TextSink<'a>>,
    ) -> Result<Self> {
        request.sampling.validate()?;
        let tokens = prompt_tokens(model, &request.prompt)?;
        if tokens.is_empty() {
            return Err(TextError::InvalidRequest("the prompt is empty".into()));
        }
        if tokens.len() as i64 >= model.max_positions() {
            return Err(TextError::InvalidRequest(format!(
                "the prompt has {} tokens; the model's context is {}",
                tokens.len(),
                model.max_positions()
            )));
        }
        if request.stop.iter().any(String::is_empty) {
            return Err(TextError::InvalidRequest(
                "stop strings must not be empty".into(),
            ));
        }
        Ok(Self {
            id,
            prompt_len: tokens.len(),
            tokens,
            max_new_tokens: request.max_new_tokens,
            sampler: Sampler::new(request.sampling.clone()),
            stop: request.stop.clone(),
            constraint,
            text: String::new(),
            streamed: 0,
            sink,
            finish: if request
                .cancel
                .as_ref()
                .is_some_and(CancelToken::is_cancelled)
            {
                Some(FinishReason::Cancelled)
            } else if request.max_new_tokens == 0 {
                Some(FinishReason::Length)
            } else {
                None
            },
            cancel: request.cancel.clone(),
            logprob_sum: 0.0,
            scored: 0,
        })
    }

    /// The prompt and generated tokens so far.
    pub(crate) fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Most tokens this sequence may still generate.
    pub(crate) fn remaining_budget(&self) -> usize {
        self.max_new_tokens
            .saturating_sub(self.tokens.len() - self.prompt_len)
    }

    /// Whether generation has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.finish.is_some()
    }

    fn generated(&self) -> &[u32] {
        &self.tokens[self.prompt_len..]
    }

    /// Ends the sequence with [`FinishReason::Cancelled`] if its token was cancelled; returns
    /// whether it did.
    pub(crate) fn check_cancelled(&mut self) -> bool {
        if self.finish.is_none() && self.cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
            self.finish = Some(FinishReason::Cancelled);
            self.stream();
        }
        self.finish == Some(FinishReason::Cancelled)
    }

    /// Chooses and appends the next token from this row's logits.
    pub(crate) fn advance(&mut self, model: &TextModel, logits: &mut [f32]) -> Result<()> {
        let scored = !self.constraint.as_ref().is_some_and(|c| c.is_forced());
        let raw = scored.then(|| (log_sum_exp(logits), logits.to_vec()));
        self.sampler.penalize(logits, &self.tokens);
        if let Some(c) = &mut self.constraint {
            c.mask(logits);
        }
        let token = loop {
            let Some(t) = self.sampler.pick(logits) else {
                return Err(TextError::Structured(
                    "no token satisfies the output constraints".into(),
                ));
            };
            match &self.constraint {
                Some(c) if !c.allows(t) => logits[t as usize] = f32::NEG_INFINITY,
                _ => break t,
            }
        };
        if let Some((lse, raw)) = raw {
            if let Some(&l) = raw.get(token as usize).filter(|l| l.is_finite()) {
                self.logprob_sum += f64::from(l) - lse;
                self.scored += 1;
            }
        }
        self.tokens.push(token);
        let eos = model.tokenizer.eos_ids.contains(&token);
        if let Some(c) = &mut self.constraint {
            c.advance(token);
            if c.is_complete() {
                self.finish = Some(FinishReason::Eos);
            }
        } else if eos {
            self.finish = Some(FinishReason::Eos);
        }
        if !eos {
            self.text = model.tokenizer.decode(self.generated())?;
            if let Some(cut) = self
                .stop
                .iter()
                .filter_map(|s| self.text.find(s.as_str()))
                .min()
            {
                self.text.truncate(cut);
                self.finish = Some(FinishReason::Stop);
            }
        }
        if self.finish.is_none()
            && (self.generated().len() >= self.max_new_tokens
                || self.tokens.len() as i64 >= model.max_positions())
        {
            self.finish = Some(FinishReason::Length);
        }
        self.stream();
        Ok(())
    }

    /// Sends newly settled text to the sink: everything once finished; otherwise text that
    /// cannot still become part of a stop string and does not end in a partial character.
    fn stream(&mut self) {
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        let mut end = self.text.len();
        if self.finish.is_none() {
            if self.text.ends_with('\u{FFFD}') {
                end -= '\u{FFFD}'.len_utf8();
            }
            for stop in &self.stop {
                for (i, _) in self.text[..end]
                    .char_indices()
                    .rev()
                    .take(stop.chars().count())
                {
                    if stop.starts_with(&self.text[i..end]) {
                        end = end.min(i);
                    }
                }
            }
        }
        if end > self.streamed && self.text.is_char_boundary(end) {
            sink(&self.text[self.streamed..end]);
            self.streamed = end;
        }
    }

    /// The result, once finished.
    pub(crate) fn into_generation(self) -> Generation {
        Generation {
            token_ids: self.tokens[self.prompt_len..].to_vec(),
            text: self.text,
            prompt_tokens: self.prompt_len,
            finish_reason: self.finish.unwrap_or(FinishReason::Length),
            mean_logprob: if self.scored == 0 {
                0.0
            } else {
                (self.logprob_sum / self.scored as f64) as f32
            },
            scored_tokens: self.scored,
            cut_words: self.constraint.as_ref().map_or(0, |c| c.cut_words()),
        }
    }
}

/// `ln(sum(exp(x)))` over the finite values of `logits` (-inf when there are none).
fn log_sum_exp(logits: &[f32]) -> f64 {
    let max = logits
        .iter()
        .copied()
        .filter(|l| l.is_finite())
        .fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = logits
        .iter()
        .filter(|l| l.is_finite())
        .map(|&l| f64::from(l - max).exp())
        .sum();
    f64::from(max) + sum.ln()
}

/// Tokenizes a prompt, rendering chats with the model's template.
pub fn prompt_tokens(model: &TextModel, prompt: &Prompt) -> Result<Vec<u32>> {
    match prompt {
        Prompt::Tokens(ids) => Ok(ids.clone()),
        Prompt::Text(text) => model.tokenizer.encode(text),
        Prompt::Chat { system, user } => {
            let mut messages = Vec::new();
            if let Some(s) = system {
                messages.push(ChatMessage::new("system", s.clone()));
            }
            messages.push(ChatMessage::new("user", user.clone()));
            model.tokenizer.encode(&model.render_chat(&messages)?)
        }
        Prompt::Messages(messages) => model.tokenizer.encode(&model.render_chat(messages)?),
    }
}

/// A validated spec with its tokenized fixed text, shared by the sequences that decode it.
pub(crate) struct JsonPlan {
    vocab: Arc<StructuredVocab>,
    spec: Arc<JsonSchemaSpec>,
    forced: Arc<Vec<Vec<u32>>>,
}

impl JsonPlan {
    /// Validates `spec` and prepares what every sequence decoding it with `model` shares.
    pub(crate) fn new(model: &TextModel, spec: &JsonSchemaSpec) -> Result<Self> {
        spec.validate()?;
        let vocab = model.structured_vocab()?;
        let least = vocab.min_free_graphemes();
        if let Some(f) = spec
            .fields
            .iter()
            .find(|f| f.allowed_values.is_none() && f.max_graphemes < least)
        {
            return Err(TextError::Structured(format!(
                "field {:?} allows {} graphemes; a free field needs at least {least} to end on a \
                 whole word",
                f.name, f.max_graphemes
            )));
        }
        Ok(JsonPlan {
            vocab,
            forced: Arc::new(JsonConstraint::forced_tokens(&model.tokenizer, spec)?),
            spec: Arc::new(spec.clone()),
        })
    }

    /// A sequence that decodes one object for `prompt`.
    pub(crate) fn sequence<'a>(
        &self,
        model: &TextModel,
        id: u64,
        prompt: &Prompt,
        sampling: &SamplingParams,
        cancel: Option<CancelToken>,
        sink: Option<TextSink<'a>>,
    ) -> Result<ActiveSequence<'a>> {
        let constraint =
            JsonConstraint::new(self.vocab.clone(), self.spec.clone(), self.forced.clone());
        let request = GenerationRequest {
            prompt: prompt.clone(),
            max_new_tokens: constraint.max_tokens() + 1,
            sampling: sampling.clone(),
            stop: Vec::new(),
            cancel,
        };
        ActiveSequence::new(model, id, &request, Some(Box::new(constraint)), sink)
    }
}
