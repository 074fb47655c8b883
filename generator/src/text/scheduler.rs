//! Continuous batching: one worker thread owns the model and decodes every running request in
//! a shared batch; new requests join at the next step (after their own prefill) and finished
//! ones leave, so short requests are not held up by long ones.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::batch::Batch;
use super::error::{Result, TextError};
use super::model::TextModel;
use super::request::{CancelToken, Generation, GenerationRequest, Prompt, StructuredOutput};
use super::sampling::SamplingParams;
use super::sequence::{ActiveSequence, JsonPlan};
use super::structured::JsonSchemaSpec;

/// What a submitted request reports, in order: zero or more `Text` pieces, then one `Done`.
#[derive(Debug)]
pub enum SchedulerEvent {
    /// Newly generated text.
    Text(String),
    /// The final result.
    Done(Result<Generation>),
}

type EventSink = Arc<Mutex<Box<dyn FnMut(SchedulerEvent) + Send>>>;

struct Job {
    request: GenerationRequest,
    /// Set for structured output: the object to decode (the request's `max_new_tokens` and
    /// `stop` are then derived from it).
    structured: Option<Arc<JsonSchemaSpec>>,
    sink: EventSink,
}

/// A cloneable, thread-safe handle to the batching worker. The worker stops when every handle
/// is dropped and the running requests are done.
#[derive(Clone)]
pub struct TextScheduler {
    tx: Sender<Job>,
    worker: Arc<Mutex<Option<JoinHandle<()>>>>,
    peak_batch: Arc<AtomicUsize>,
}

fn send(sink: &EventSink, event: SchedulerEvent) {
    if let Ok(mut f) = sink.lock() {
        f(event);
    }
}

impl TextScheduler {
    /// Starts the worker thread, which takes ownership of `model` and runs at most
    /// `max_batch` requests at once (others wait in the queue).
    pub fn start(model: TextModel, max_batch: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let max_batch = max_batch.max(1);
        let peak_batch = Arc::new(AtomicUsize::new(0));
        let peak = peak_batch.clone();
        let worker = std::thread::Builder::new()
            .name("adforge-text".into())
            .spawn(move || worker_loop(model, rx, max_batch, &peak))
            .ok();
        Self {
            tx,
            worker: Arc::new(Mutex::new(worker)),
            peak_batch,
        }
    }

    /// Queues a request; `on_event` is called from the worker thread with its events.
    pub fn submit_with(
        &self,
        request: GenerationRequest,
        on_event: impl FnMut(SchedulerEvent) + Send + 'static,
    ) -> Result<()> {
        self.enqueue(request, None, on_event)
    }

    fn enqueue(
        &self,
        request: GenerationRequest,
        structured: Option<Arc<JsonSchemaSpec>>,
        on_event: impl FnMut(SchedulerEvent) + Send + 'static,
    ) -> Result<()> {
        let sink: EventSink = Arc::new(Mutex::new(Box::new(on_event)));
        self.tx
            .send(Job {
                request,
                structured,
                sink,
            })
            .map_err(|_| TextError::SchedulerClosed)
    }

    /// Queues one structured request: a JSON object following `spec` (see
    /// [`TextModel::generate_json`]). Its final event carries the generation whose text is the
    /// object.
    pub fn submit_json(
        &self,
        prompt: Prompt,
        sampling: SamplingParams,
        spec: Arc<JsonSchemaSpec>,
    ) -> Result<Receiver<SchedulerEvent>> {
        self.submit_json_cancellable(prompt, sampling, spec, None)
    }

    /// [`Self::submit_json`] with a token that stops the request between decode steps (its
    /// generation then ends with [`FinishReason::Cancelled`](super::FinishReason::Cancelled)).
    pub fn submit_json_cancellable(
        &self,
        prompt: Prompt,
        sampling: SamplingParams,
        spec: Arc<JsonSchemaSpec>,
        cancel: Option<CancelToken>,
    ) -> Result<Receiver<SchedulerEvent>> {
        let (tx, rx) = mpsc::channel();
        let request = GenerationRequest {
            prompt,
            max_new_tokens: 0,
            sampling,
            stop: Vec::new(),
            cancel,
        };
        self.enqueue(request, Some(spec), move |e| {
            let _ = tx.send(e);
        })?;
        Ok(rx)
    }

    /// Generates one object per (prompt, sampling) pair and blocks until all are done. They
    /// decode in the shared batch, together with whatever other threads have submitted, so
    /// concurrent callers share model calls.
    pub fn generate_json_batch(
        &self,
        jobs: &[(Prompt, SamplingParams)],
        spec: &JsonSchemaSpec,
    ) -> Result<Vec<StructuredOutput>> {
        self.generate_json_batch_cancellable(jobs, spec, &CancelToken::new())
    }

    /// [`Self::generate_json_batch`] that `cancel` stops: every job carries the token, the
    /// worker checks it before each decode step, and the call then returns
    /// [`TextError::Cancelled`]. Jobs with the same prompt share one prefill when they are
    /// admitted together, so K candidates of one request cost one prompt pass.
    pub fn generate_json_batch_cancellable(
        &self,
        jobs: &[(Prompt, SamplingParams)],
        spec: &JsonSchemaSpec,
        cancel: &CancelToken,
    ) -> Result<Vec<StructuredOutput>> {
        spec.validate()?;
        let spec = Arc::new(spec.clone());
        let receivers = jobs
            .iter()
            .map(|(prompt, sampling)| {
                self.submit_json_cancellable(
                    prompt.clone(),
                    sampling.clone(),
                    spec.clone(),
                    Some(cancel.clone()),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let results: Vec<Result<Generation>> = receivers.iter().map(wait).collect();
        if cancel.is_cancelled() {
            return Err(TextError::Cancelled);
        }
        results
            .into_iter()
            .map(|g| StructuredOutput::from_generation(g?))
            .collect()
    }

    /// The most sequences decoded together in one step so far.
    pub fn peak_batch(&self) -> usize {
        self.peak_batch.load(Ordering::Relaxed)
    }

    /// Queues a request and returns a channel of its events.
    pub fn submit(&self, request: GenerationRequest) -> Result<Receiver<SchedulerEvent>> {
        let (tx, rx) = mpsc::channel();
        self.submit_with(request, move |e| {
            let _ = tx.send(e);
        })?;
        Ok(rx)
    }

    /// Queues a request and blocks until it is done.
    pub fn generate(&self, request: GenerationRequest) -> Result<Generation> {
        wait(&self.submit(request)?)
    }

    /// Whether the worker thread is still running.
    pub fn is_running(&self) -> bool {
        self.worker
            .lock()
            .ok()
            .and_then(|w| w.as_ref().map(|h| !h.is_finished()))
            .unwrap_or(false)
    }
}

/// Waits for a request's final event.
fn wait(rx: &Receiver<SchedulerEvent>) -> Result<Generation> {
    loop {
        match rx.recv() {
            Ok(SchedulerEvent::Text(_)) => continue,
            Ok(SchedulerEvent::Done(result)) => return result,
            Err(_) => return Err(TextError::SchedulerClosed),
        }
    }
}

/// Builds a job's sequence: plain, or constrained to its structured spec.
fn sequence(model: &TextModel, id: u64, job: &Job) -> Result<ActiveSequence<'static>> {
    let text_sink = job.sink.clone();
    let on_text = Box::new(move |t: &str| send(&text_sink, SchedulerEvent::Text(t.to_string())));
    match &job.structured {
        None => ActiveSequence::new(model, id, &job.request, None, Some(on_text)),
        Some(spec) => JsonPlan::new(model, spec)?.sequence(
            model,
            id,
            &job.request.prompt,
            &job.request.sampling,
            job.request.cancel.clone(),
            Some(on_text),
        ),
    }
}

fn worker_loop(model: TextModel, rx: Receiver<Job>, max_batch: usize, peak: &AtomicUsize) {
    let mut batch: Batch<'static> = Batch::new(&model);
    let mut sinks: HashMap<u64, EventSink> = HashMap::new();
    let mut next_id = 0u64;
    let mut open = true;
    while open || !batch.is_empty() {
        let mut jobs = Vec::new();
        if batch.is_empty() {
            match rx.recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        while open && batch.len() + jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => open = false,
            }
        }
        let mut seqs = Vec::with_capacity(jobs.len());
        for job in jobs {
            let id = next_id;
            next_id += 1;
            match sequence(&model, id, &job) {
                Ok(seq) => {
                    sinks.insert(id, job.sink);
                    seqs.push(seq);
                }
                Err(e) => send(&job.sink, SchedulerEvent::Done(Err(e))),
            }
        }
        if !seqs.is_empty() {
            tracing::debug!(
                joining = seqs.len(),
                running = batch.len(),
                "text batch admits requests"
            );
            for (seq, outcome) in batch.admit(&model, seqs) {
                if let Some(sink) = sinks.remove(&seq.id) {
                    send(
                        &sink,
                        SchedulerEvent::Done(outcome.map(|()| seq.into_generation())),
                    );
                }
            }
            peak.fetch_max(batch.len(), Ordering::Relaxed);
        }
        for (seq, outcome) in batch.step(&model) {
            if let Some(sink) = sinks.remove(&seq.id) {
                send(
                    &sink,
                    SchedulerEvent::Done(outcome.map(|()| seq.into_generation())),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn handle_is_shareable_across_threads() {
        assert_shareable::<TextScheduler>();
    }
}
