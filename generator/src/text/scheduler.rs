//! Continuous batching: one worker thread owns the model and decodes every running request in
//! a shared batch; new requests join at the next step (after their own prefill) and finished
//! ones leave, so short requests are not held up by long ones.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::error::{Result, TextError};
use super::generate::{ActiveSequence, Batch, Generation, GenerationRequest};
use super::model::TextModel;

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
    sink: EventSink,
}

/// A cloneable, thread-safe handle to the batching worker. The worker stops when every handle
/// is dropped and the running requests are done.
#[derive(Clone)]
pub struct TextScheduler {
    tx: Sender<Job>,
    worker: Arc<Mutex<Option<JoinHandle<()>>>>,
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
        let worker = std::thread::Builder::new()
            .name("adforge-text".into())
            .spawn(move || worker_loop(model, rx, max_batch))
            .ok();
        Self {
            tx,
            worker: Arc::new(Mutex::new(worker)),
        }
    }

    /// Queues a request; `on_event` is called from the worker thread with its events.
    pub fn submit_with(
        &self,
        request: GenerationRequest,
        on_event: impl FnMut(SchedulerEvent) + Send + 'static,
    ) -> Result<()> {
        let sink: EventSink = Arc::new(Mutex::new(Box::new(on_event)));
        self.tx
            .send(Job { request, sink })
            .map_err(|_| TextError::SchedulerClosed)
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
        let rx = self.submit(request)?;
        loop {
            match rx.recv() {
                Ok(SchedulerEvent::Text(_)) => continue,
                Ok(SchedulerEvent::Done(result)) => return result,
                Err(_) => return Err(TextError::SchedulerClosed),
            }
        }
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

fn worker_loop(model: TextModel, rx: Receiver<Job>, max_batch: usize) {
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
            let text_sink = job.sink.clone();
            let on_text =
                Box::new(move |t: &str| send(&text_sink, SchedulerEvent::Text(t.to_string())));
            match ActiveSequence::new(&model, id, &job.request, None, Some(on_text)) {
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
            for seq in batch.admit(&model, seqs) {
                if let Some(sink) = sinks.remove(&seq.id) {
                    send(&sink, SchedulerEvent::Done(Ok(seq.into_generation())));
                }
            }
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
