//! Generation: requests, results, and the batch engine that runs many sequences in one forward
//! pass. Rows are left-padded to a shared sequence axis; padding is masked out and position ids
//! count only real tokens, so a row's greedy output does not depend on what it is batched with.
//! Sequences can join (after their own prefill) and leave a running batch at every step, which
//! is what the continuous-batching scheduler builds on.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::chat_template::ChatMessage;
use super::error::{Result, TextError};
use super::kv_cache::KvCache;
use super::model::TextModel;
use super::sampling::{Sampler, SamplingParams};
use super::structured::JsonConstraint;

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

/// A sequence being generated.
pub(crate) struct ActiveSequence<'a> {
    pub(crate) id: u64,
    tokens: Vec<u32>,
    prompt_len: usize,
    max_new_tokens: usize,
    sampler: Sampler,
    stop: Vec<String>,
    constraint: Option<JsonConstraint>,
    text: String,
    streamed: usize,
    sink: Option<TextSink<'a>>,
    finish: Option<FinishReason>,
}

impl<'a> ActiveSequence<'a> {
    /// Prepares a request: renders and tokenizes the prompt and validates parameters.
    pub(crate) fn new(
        model: &TextModel,
        id: u64,
        request: &GenerationRequest,
        constraint: Option<JsonConstraint>,
        sink: Option<TextSink<'a>>,
    ) -> Result<Self> {
        request.sampling.validate()?;
        let tokens = prompt_tokens(model, &request.prompt)?;
        if tokens.is_empty() {
            return Err(TextError::InvalidRequest("the prompt is empty".into()));
        }
        if tokens.len() as i64 >= model.network.max_positions() {
            return Err(TextError::InvalidRequest(format!(
                "the prompt has {} tokens; the model's context is {}",
                tokens.len(),
                model.network.max_positions()
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
            finish: if request.max_new_tokens == 0 {
                Some(FinishReason::Length)
            } else {
                None
            },
        })
    }

    fn generated(&self) -> &[u32] {
        &self.tokens[self.prompt_len..]
    }

    /// Chooses and appends the next token from this row's logits.
    fn advance(&mut self, model: &TextModel, logits: &mut [f32]) -> Result<()> {
        self.sampler.penalize(logits, &self.tokens);
        if let Some(c) = &self.constraint {
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
        self.tokens.push(token);
        let eos = model.tokenizer.eos_ids.contains(&token);
        if let Some(c) = &mut self.constraint {
            c.accept(token);
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
                || self.tokens.len() as i64 >= model.network.max_positions())
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
        }
    }
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

/// Sequences decoding together, sharing one left-padded KV cache.
pub(crate) struct Batch<'a> {
    rows: Vec<ActiveSequence<'a>>,
    /// Leading padding columns of each row in the cache.
    pads: Vec<i64>,
    cache: KvCache,
    /// Next-token logits of each row, `[rows, vocab]` f32, after the last forward pass.
    logits: Option<Tensor>,
}

impl<'a> Batch<'a> {
    /// An empty batch for `model`.
    pub(crate) fn new(model: &TextModel) -> Self {
        Self {
            rows: Vec::new(),
            pads: Vec::new(),
            cache: KvCache::new(model.network.num_layers()),
            logits: None,
        }
    }

    /// Number of running sequences.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no sequence is running.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Prefills `seqs` (together, left-padded) and adds them to the running batch.
    pub(crate) fn admit(
        &mut self,
        model: &TextModel,
        seqs: Vec<ActiveSequence<'a>>,
    ) -> Vec<ActiveSequence<'a>> {
        let (ready, done): (Vec<_>, Vec<_>) = seqs.into_iter().partition(|s| s.finish.is_none());
        if ready.is_empty() {
            return done;
        }
        let _guard = tch::no_grad_guard();
        let device = model.device();
        let lens: Vec<i64> = ready.iter().map(|s| s.tokens.len() as i64).collect();
        let t = *lens.iter().max().unwrap_or(&1);
        let n = ready.len() as i64;
        let pads: Vec<i64> = lens.iter().map(|l| t - l).collect();
        let mut ids = Vec::with_capacity((n * t) as usize);
        let mut positions = Vec::with_capacity((n * t) as usize);
        for (s, &pad) in ready.iter().zip(&pads) {
            ids.extend(std::iter::repeat_n(
                model.tokenizer.pad_id as i64,
                pad as usize,
            ));
            ids.extend(s.tokens.iter().map(|&x| x as i64));
            positions.extend(std::iter::repeat_n(0i64, pad as usize));
            positions.extend(0..t - pad);
        }
        let ids = Tensor::from_slice(&ids).reshape([n, t]).to_device(device);
        let positions = Tensor::from_slice(&positions)
            .reshape([n, t])
            .to_device(device);
        let mask = pads
            .iter()
            .any(|&p| p > 0)
            .then(|| prefill_mask(&pads, t, device));
        let mut cache = KvCache::new(model.network.num_layers());
        let hidden = model
            .network
            .forward(&ids, &positions, mask.as_ref(), &mut cache);
        let logits = model.network.logits(&hidden.select(1, t - 1));

        // Align the new rows with the running ones on the shared sequence axis.
        let current = self.cache.seq_len();
        let mut pads = pads;
        if !self.rows.is_empty() {
            if current < t {
                self.cache.pad_front(t - current);
                self.pads.iter_mut().for_each(|p| *p += t - current);
            } else {
                cache.pad_front(current - t);
                pads.iter_mut().for_each(|p| *p += current - t);
            }
        }
        self.cache.extend_rows(cache);
        self.pads.extend(pads);
        self.logits = Some(match self.logits.take() {
            Some(prev) => Tensor::cat(&[prev, logits], 0),
            None => logits,
        });
        self.rows.extend(ready);
        done
    }

    /// Picks one token for every row, retires finished rows (returned), and runs the forward
    /// pass that yields the next logits of the rows left.
    pub(crate) fn step(&mut self, model: &TextModel) -> Vec<(ActiveSequence<'a>, Result<()>)> {
        let _guard = tch::no_grad_guard();
        let Some(logits) = self.logits.take() else {
            return Vec::new();
        };
        let vocab = logits.size()[1] as usize;
        let host: Vec<f32> =
            match Vec::<f32>::try_from(logits.to_device(tch::Device::Cpu).reshape([-1])) {
                Ok(v) => v,
                Err(e) => {
                    let msg = e.to_string();
                    return self.drain_all(|| Err(TextError::InvalidRequest(msg.clone())));
                }
            };
        let mut outcomes: Vec<Option<Result<()>>> = Vec::with_capacity(self.rows.len());
        for (row, chunk) in self.rows.iter_mut().zip(host.chunks_exact(vocab)) {
            let mut row_logits = chunk.to_vec();
            match row.advance(model, &mut row_logits) {
                Ok(()) if row.finish.is_none() => outcomes.push(None),
                Ok(()) => outcomes.push(Some(Ok(()))),
                Err(e) => outcomes.push(Some(Err(e))),
            }
        }
        let mut finished = Vec::new();
        if outcomes.iter().any(Option::is_some) {
            let mut keep_rows = Vec::new();
            let mut kept = Vec::new();
            let mut kept_pads = Vec::new();
            let rows = std::mem::take(&mut self.rows);
            for (i, (row, outcome)) in rows.into_iter().zip(outcomes).enumerate() {
                match outcome {
                    None => {
                        keep_rows.push(i as i64);
                        kept_pads.push(self.pads[i]);
                        kept.push(row);
                    }
                    Some(r) => finished.push((row, r)),
                }
            }
            self.rows = kept;
            self.pads = kept_pads;
            if self.rows.is_empty() {
                self.cache = KvCache::new(model.network.num_layers());
                return finished;
            }
            let index = Tensor::from_slice(&keep_rows).to_device(model.device());
            self.cache.select_rows(&index);
            let common = self.pads.iter().copied().min().unwrap_or(0);
            self.cache.drop_front(common);
            self.pads.iter_mut().for_each(|p| *p -= common);
        }
        self.decode(model);
        finished
    }

    fn drain_all(&mut self, err: impl Fn() -> Result<()>) -> Vec<(ActiveSequence<'a>, Result<()>)> {
        self.pads.clear();
        self.logits = None;
        std::mem::take(&mut self.rows)
            .into_iter()
            .map(|r| (r, err()))
            .collect()
    }

    /// One decoding forward pass over the last token of every row.
    fn decode(&mut self, model: &TextModel) {
        let device = model.device();
        let n = self.rows.len() as i64;
        let last: Vec<i64> = self
            .rows
            .iter()
            .map(|r| *r.tokens.last().unwrap_or(&0) as i64)
            .collect();
        let positions: Vec<i64> = self
            .rows
            .iter()
            .map(|r| r.tokens.len() as i64 - 1)
            .collect();
        let ids = Tensor::from_slice(&last).reshape([n, 1]).to_device(device);
        let positions = Tensor::from_slice(&positions)
            .reshape([n, 1])
            .to_device(device);
        let total = self.cache.seq_len() + 1;
        let mask = self.pads.iter().any(|&p| p > 0).then(|| {
            let pads = Tensor::from_slice(&self.pads)
                .to_device(device)
                .reshape([n, 1, 1, 1]);
            Tensor::arange(total, (Kind::Int64, device))
                .reshape([1, 1, 1, total])
                .ge_tensor(&pads)
        });
        let hidden = model
            .network
            .forward(&ids, &positions, mask.as_ref(), &mut self.cache);
        self.logits = Some(model.network.logits(&hidden.select(1, 0)));
    }
}

/// Causal mask for a left-padded prefill: row b attends to real keys up to the query, and
/// padding queries attend to themselves only (keeping their values finite).
fn prefill_mask(pads: &[i64], t: i64, device: tch::Device) -> Tensor {
    let n = pads.len() as i64;
    let q = Tensor::arange(t, (Kind::Int64, device)).reshape([1, 1, t, 1]);
    let k = Tensor::arange(t, (Kind::Int64, device)).reshape([1, 1, 1, t]);
    let pads = Tensor::from_slice(pads)
        .to_device(device)
        .reshape([n, 1, 1, 1]);
    let causal = k.le_tensor(&q);
    let real_key = k.ge_tensor(&pads);
    let diagonal = k.eq_tensor(&q);
    causal.logical_and(&real_key).logical_or(&diagonal)
}

/// Runs requests to completion in one batch (all admitted together).
pub(crate) fn run_batch<'a>(
    model: &TextModel,
    seqs: Vec<ActiveSequence<'a>>,
) -> Vec<(u64, Result<Generation>)> {
    let mut batch = Batch::new(model);
    let mut results: Vec<(u64, Result<Generation>)> = batch
        .admit(model, seqs)
        .into_iter()
        .map(|s| (s.id, Ok(s.into_generation())))
        .collect();
    while !batch.is_empty() {
        for (seq, outcome) in batch.step(model) {
            let id = seq.id;
            results.push((id, outcome.map(|()| seq.into_generation())));
        }
    }
    results.sort_by_key(|(id, _)| *id);
    results
}

impl TextModel {
    /// Generates a completion for one request.
    pub fn generate(&self, request: &GenerationRequest) -> Result<Generation> {
        self.generate_streaming(request, |_| {})
    }

    /// Generates a completion, calling `on_text` with each newly settled piece of text.
    pub fn generate_streaming(
        &self,
        request: &GenerationRequest,
        on_text: impl FnMut(&str) + Send,
    ) -> Result<Generation> {
        let seq = ActiveSequence::new(self, 0, request, None, Some(Box::new(on_text)))?;
        run_batch(self, vec![seq])
            .pop()
            .map(|(_, r)| r)
            .unwrap_or_else(|| Err(TextError::InvalidRequest("nothing was generated".into())))
    }

    /// Generates completions for many requests in shared forward passes; results are in
    /// request order, each the same as it would be alone (up to floating-point rounding).
    pub fn generate_batch(&self, requests: &[GenerationRequest]) -> Result<Vec<Generation>> {
        let seqs = requests
            .iter()
            .enumerate()
            .map(|(i, r)| ActiveSequence::new(self, i as u64, r, None, None))
            .collect::<Result<Vec<_>>>()?;
        run_batch(self, seqs).into_iter().map(|(_, r)| r).collect()
    }
}
