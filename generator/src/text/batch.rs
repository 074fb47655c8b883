//! The batch engine: many sequences in one forward pass. Rows are left-padded to a shared
//! sequence axis; padding is masked out and position ids count only real tokens, so a row's
//! greedy output does not depend on what it is batched with. Sequences can join (after their
//! own prefill) and leave a running batch at every step, which is what the continuous-batching
//! scheduler builds on.
//!
//! While exactly one sequence runs and the model has the quantized CPU decode step on
//! ([`TextModel::enable_quantized_decode`]), its steps run there: its keys and values move out
//! of the libtorch cache into the step's own cache, and back when another sequence joins.

use tch::{Kind, Tensor};

use super::error::{Result, TextError};
use super::kv_cache::KvCache;
use super::model::TextModel;
use super::models::llama_cpu::CpuDecodeState;
use super::request::Generation;
use super::sequence::ActiveSequence;
use crate::nn::quant::ComputePool;

/// Sequences decoding together, sharing one left-padded KV cache.
pub(crate) struct Batch<'a> {
    rows: Vec<ActiveSequence<'a>>,
    /// Leading padding columns of each row in the cache.
    pads: Vec<i64>,
    cache: KvCache,
    /// Next-token logits of each row, `[rows, vocab]` f32, after the last forward pass.
    logits: Option<Tensor>,
    /// The single row's keys and values while the quantized step decodes it (`cache` is then
    /// empty).
    quantized: Option<CpuDecodeState>,
}

impl<'a> Batch<'a> {
    /// An empty batch for `model`.
    pub(crate) fn new(model: &TextModel) -> Self {
        Self {
            rows: Vec::new(),
            pads: Vec::new(),
            cache: KvCache::new(model.network.num_layers()),
            logits: None,
            quantized: None,
        }
    }

    /// Moves the quantized step's keys and values back into the libtorch cache.
    fn leave_quantized(&mut self, model: &TextModel) {
        if let (Some(state), Some(decoder)) = (self.quantized.take(), model.quantized_decoder()) {
            self.cache = decoder.state_to_cache(&state);
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
        let (ready, done): (Vec<_>, Vec<_>) = seqs.into_iter().partition(|s| !s.is_finished());
        if ready.is_empty() {
            return done;
        }
        self.leave_quantized(model);
        let _guard = tch::no_grad_guard();
        let device = model.device();
        // Rows with the same prompt (candidates of one request) share one prefill: only the
        // distinct prompts run, and their cache rows and logits are then repeated.
        let mut distinct: Vec<&[u32]> = Vec::new();
        let row_of: Vec<i64> = ready
            .iter()
            .map(|s| {
                let tokens = s.tokens();
                let at = distinct
                    .iter()
                    .position(|d| *d == tokens)
                    .unwrap_or_else(|| {
                        distinct.push(tokens);
                        distinct.len() - 1
                    });
                at as i64
            })
            .collect();
        let lens: Vec<i64> = distinct.iter().map(|s| s.len() as i64).collect();
        let t = *lens.iter().max().unwrap_or(&1);
        let n = distinct.len() as i64;
        let pads: Vec<i64> = lens.iter().map(|l| t - l).collect();
        let mut ids = Vec::with_capacity((n * t) as usize);
        let mut positions = Vec::with_capacity((n * t) as usize);
        for (s, &pad) in distinct.iter().zip(&pads) {
            ids.extend(std::iter::repeat_n(
                model.tokenizer.pad_id as i64,
                pad as usize,
            ));
            ids.extend(s.iter().map(|&x| x as i64));
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
        let mut logits = model.network.logits(&hidden.select(1, t - 1));
        let mut pads = pads;
        if distinct.len() < ready.len() {
            let index = Tensor::from_slice(&row_of).to_device(device);
            cache.select_rows(&index);
            logits = logits.index_select(0, &index);
            pads = row_of.iter().map(|&r| pads[r as usize]).collect();
        }

        // Align the new rows with the running ones on the shared sequence axis.
        let current = self.cache.seq_len();
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
            if row.check_cancelled() {
                outcomes.push(Some(Ok(())));
                continue;
            }
            let mut row_logits = chunk.to_vec();
            match row.advance(model, &mut row_logits) {
                Ok(()) if !row.is_finished() => outcomes.push(None),
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
                self.quantized = None;
                return finished;
            }
            self.leave_quantized(model);
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
        if self.rows.len() == 1 && self.pads.first() == Some(&0) {
            if let Some(logits) = self.decode_quantized(model) {
                self.logits = Some(logits);
                return;
            }
        }
        self.leave_quantized(model);
        let device = model.device();
        let n = self.rows.len() as i64;
        let last: Vec<i64> = self
            .rows
            .iter()
            .map(|r| *r.tokens().last().unwrap_or(&0) as i64)
            .collect();
        let positions: Vec<i64> = self
            .rows
            .iter()
            .map(|r| r.tokens().len() as i64 - 1)
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

impl Batch<'_> {
    /// The single row's step on the quantized CPU decoder, when the model has it; `None`
    /// leaves the step to libtorch.
    fn decode_quantized(&mut self, model: &TextModel) -> Option<Tensor> {
        let decoder = model.quantized_decoder()?;
        let row = self.rows.first()?;
        let token = *row.tokens().last()?;
        let position = row.tokens().len() - 1;
        if self.quantized.is_none() {
            let capacity = (row.tokens().len() + row.remaining_budget() + 1)
                .min(model.network.max_positions().max(1) as usize);
            match decoder.state_from_cache(&self.cache, capacity) {
                Ok(state) => {
                    self.quantized = Some(state);
                    self.cache = KvCache::new(model.network.num_layers());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "quantized decode step unavailable; using libtorch");
                    return None;
                }
            }
        }
        let state = self.quantized.as_mut()?;
        match decoder.step(ComputePool::global(), state, token, position) {
            Ok(logits) => Some(Tensor::from_slice(logits).unsqueeze(0)),
            Err(e) => {
                tracing::warn!(error = %e, "quantized decode step failed; using libtorch");
                self.leave_quantized(model);
                None
            }
        }
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
