//! A small persistent thread pool for the decode step's data-parallel loops (matrix rows,
//! attention heads).
//!
//! Thread policy, chosen for small shared machines:
//! - One process-wide pool ([`ComputePool::global`]) with as many threads as the process may
//!   run on (`available_parallelism`, which follows CPU affinity and cgroup quotas), or
//!   `ADFORGE_DECODE_THREADS`. The calling thread is one of them, so a pool of `n` starts
//!   `n - 1` workers.
//! - Jobs are serialized, first come first served: threads that decode at the same time (two
//!   text schedulers in one process, such as `serve`'s generation workers and a batch-file
//!   runner) take turns per job instead of each fanning out over every core, so the pool's
//!   jobs never run more busy threads than cores. A ticket, not a plain mutex, decides the
//!   order: a mutex lets the thread that just released it take it again before a parked
//!   waiter wakes, so one decoder could hold the pool for a whole step while the other
//!   starves; with tickets two decoders alternate job by job and progress at the same rate.
//!   The only extra runnable thread is a caller doing its own small per-token work between
//!   two of its jobs while the other caller's job runs.
//! - A caller waiting for its turn polls briefly, then yields its core (to the job that is
//!   running, whose threads need both cores), then sleeps; the job before it wakes it.
//! - A job that calls `run` again (from a chunk, on any thread of the pool) runs the inner job
//!   on that thread alone instead of waiting for a turn that cannot come.
//! - Work is handed out in chunks from a shared counter, not in fixed per-thread shares: when
//!   another process holds a core and a worker is not running, the caller takes the chunks
//!   that worker would have had instead of waiting for its next time slice.
//! - Idle workers do not spin the way OpenMP's `OMP_WAIT_POLICY=active` barriers do: they
//!   poll briefly (the next job of a decode step usually follows within microseconds), then
//!   yield their core to other processes for up to `ADFORGE_DECODE_SPIN_US` (default 100 µs),
//!   then sleep on a condition variable.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A job: called as `job(chunk)` once for every chunk in `0..chunks`.
type Job<'a> = &'a (dyn Fn(usize) + Sync);

#[derive(Clone, Copy)]
struct JobPtr(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the pointee is `Sync`, and `run` keeps it alive while any worker may call it.
unsafe impl Send for JobPtr {}

struct Shared {
    /// Bumped when a job is published.
    generation: AtomicU64,
    /// Whether the current job still accepts workers.
    open: AtomicBool,
    job: Mutex<Option<JobPtr>>,
    chunks: AtomicUsize,
    next: AtomicUsize,
    done: AtomicUsize,
    /// Workers between entering the current job and leaving it.
    inside: AtomicUsize,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    sleepers: AtomicUsize,
    caller_waiting: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
    finished: Condvar,
    spin: Duration,
    /// The next ticket handed to a caller of `run`.
    tickets: AtomicU64,
    /// The ticket whose job may run now.
    serving: AtomicU64,
    /// Callers sleeping until their ticket is served.
    turn_sleepers: AtomicUsize,
    turn: Condvar,
}

thread_local! {
    /// Whether this thread is running chunks of a pool's job (nested `run` calls run inline).
    static IN_JOB: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as running chunks until dropped.
struct InJob(bool);

impl InJob {
    fn enter() -> Self {
        InJob(IN_JOB.with(|f| f.replace(true)))
    }
}

impl Drop for InJob {
    fn drop(&mut self) {
        let previous = self.0;
        IN_JOB.with(|f| f.set(previous));
    }
}

/// A caller's turn: held while its job runs; passes the turn on when dropped (also when the
/// job panics).
struct Turn<'a>(&'a Shared);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let s = self.0;
        s.serving.fetch_add(1, SeqCst);
        if s.turn_sleepers.load(SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.turn.notify_all();
        }
    }
}

/// A persistent pool of compute threads; see the module docs for its thread policy.
pub struct ComputePool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl ComputePool {
    /// A pool of `threads` threads in all (the caller of [`Self::run`] is one of them).
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let spin_us = std::env::var("ADFORGE_DECODE_SPIN_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100u64);
        let shared = Arc::new(Shared {
            generation: AtomicU64::new(0),
            open: AtomicBool::new(false),
            job: Mutex::new(None),
            chunks: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            inside: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            caller_waiting: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            finished: Condvar::new(),
            spin: Duration::from_micros(spin_us),
            tickets: AtomicU64::new(0),
            serving: AtomicU64::new(0),
            turn_sleepers: AtomicUsize::new(0),
            turn: Condvar::new(),
        });
        let mut workers = Vec::with_capacity(threads - 1);
        for index in 1..threads {
            let shared = shared.clone();
            match std::thread::Builder::new()
                .name(format!("adforge-decode-{index}"))
                .spawn(move || worker(&shared))
            {
                Ok(handle) => workers.push(handle),
                Err(error) => {
                    tracing::warn!(%error, "could not start a decode thread");
                    break;
                }
            }
        }
        Self { shared, workers }
    }

    /// The process-wide pool: `ADFORGE_DECODE_THREADS` threads, else one per available core.
    pub fn global() -> &'static ComputePool {
        static POOL: OnceLock<ComputePool> = OnceLock::new();
        POOL.get_or_init(|| {
            let threads = std::env::var("ADFORGE_DECODE_THREADS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            ComputePool::new(threads)
        })
    }

    /// Number of threads, the caller included.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Calls `job(chunk)` once for every chunk in `0..chunks`, on the calling thread and the
    /// workers, and returns when all are done. A panic in any chunk is re-raised here.
    /// Threads that call it at the same time take turns, one job each in arrival order.
    pub fn run(&self, chunks: usize, job: Job<'_>) {
        if self.workers.is_empty() || chunks <= 1 || IN_JOB.with(Cell::get) {
            let _in_job = InJob::enter();
            (0..chunks).for_each(job);
            return;
        }
        let s = &*self.shared;
        let _turn = wait_for_turn(s);
        // SAFETY: the lifetime is erased only while this call is running: it returns (or
        // unwinds) only after closing the job and seeing no worker inside it, so no worker
        // calls the pointer after `job` is gone.
        let erased: JobPtr = unsafe { std::mem::transmute::<Job<'_>, JobPtr>(job) };
        *s.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(erased);
        s.chunks.store(chunks, SeqCst);
        s.next.store(0, SeqCst);
        s.done.store(0, SeqCst);
        s.open.store(true, SeqCst);
        s.generation.fetch_add(1, SeqCst);
        if s.sleepers.load(SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| take_chunks(s, job)));
        wait_until(s, || s.done.load(SeqCst) >= chunks);
        s.open.store(false, SeqCst);
        wait_until(s, || s.inside.load(SeqCst) == 0);
        *s.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Err(payload) = mine {
            std::panic::resume_unwind(payload);
        }
        if s.panicked.swap(false, SeqCst) {
            panic!("a decode thread panicked");
        }
    }
}

impl Drop for ComputePool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, SeqCst);
        {
            let _g = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Takes a ticket and waits until it is served: polls, then yields, then sleeps until the
/// job before it passes the turn on.
fn wait_for_turn(s: &Shared) -> Turn<'_> {
    let ticket = s.tickets.fetch_add(1, SeqCst);
    let ready = || s.serving.load(SeqCst) == ticket;
    if !ready() {
        let mut waited = false;
        for _ in 0..256 {
            if ready() {
                waited = true;
                break;
            }
            std::hint::spin_loop();
        }
        let start = Instant::now();
        while !waited && start.elapsed() < s.spin {
            if ready() {
                waited = true;
                break;
            }
            std::thread::yield_now();
        }
        if !waited {
            let mut guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.turn_sleepers.fetch_add(1, SeqCst);
            while !ready() {
                guard = s
                    .turn
                    .wait_timeout(guard, Duration::from_millis(1))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            s.turn_sleepers.fetch_sub(1, SeqCst);
        }
    }
    Turn(s)
}

/// Runs chunks until none are left; a panicking chunk still counts as done.
fn take_chunks(s: &Shared, job: Job<'_>) {
    let _in_job = InJob::enter();
    let chunks = s.chunks.load(SeqCst);
    let mut panic = None;
    loop {
        let c = s.next.fetch_add(1, SeqCst);
        if c >= chunks {
            break;
        }
        if panic.is_none() {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| job(c))) {
                panic = Some(p);
            }
        }
        if s.done.fetch_add(1, SeqCst) + 1 == chunks && s.caller_waiting.load(SeqCst) {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.finished.notify_all();
        }
    }
    if let Some(p) = panic {
        std::panic::resume_unwind(p);
    }
}

/// The caller's wait: polls `ready`, then yields, then sleeps until a worker that finishes
/// the last chunk (or leaves the job) wakes it.
fn wait_until(s: &Shared, ready: impl Fn() -> bool) {
    for _ in 0..256 {
        if ready() {
            return;
        }
        std::hint::spin_loop();
    }
    let start = Instant::now();
    while start.elapsed() < s.spin {
        if ready() {
            return;
        }
        std::thread::yield_now();
    }
    let mut guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
    s.caller_waiting.store(true, SeqCst);
    while !ready() {
        guard = s
            .finished
            .wait_timeout(guard, Duration::from_millis(1))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    s.caller_waiting.store(false, SeqCst);
}

fn worker(s: &Shared) {
    let mut seen = 0u64;
    loop {
        let fresh = || s.generation.load(SeqCst) != seen || s.shutdown.load(SeqCst);
        let mut ready = false;
        for _ in 0..256 {
            if fresh() {
                ready = true;
                break;
            }
            std::hint::spin_loop();
        }
        if !ready {
            let start = Instant::now();
            while start.elapsed() < s.spin {
                if fresh() {
                    ready = true;
                    break;
                }
                std::thread::yield_now();
            }
        }
        if !ready {
            let mut guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.sleepers.fetch_add(1, SeqCst);
            while !fresh() {
                guard = s.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
            s.sleepers.fetch_sub(1, SeqCst);
        }
        if s.shutdown.load(SeqCst) {
            return;
        }
        seen = s.generation.load(SeqCst);
        s.inside.fetch_add(1, SeqCst);
        if s.open.load(SeqCst) {
            let job = *s.job.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(JobPtr(ptr)) = job {
                // SAFETY: the job is open and this worker is counted inside it, so `run` has
                // not returned and the closure is alive.
                let f = unsafe { &*ptr };
                if catch_unwind(AssertUnwindSafe(|| take_chunks(s, f))).is_err() {
                    s.panicked.store(true, SeqCst);
                }
            }
        }
        if s.inside.fetch_sub(1, SeqCst) == 1 && s.caller_waiting.load(SeqCst) {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.finished.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_runs_once_per_job() {
        let pool = ComputePool::new(3);
        assert_eq!(pool.threads(), 3);
        for round in 0..300 {
            let chunks = 1 + round % 17;
            let hits: Vec<AtomicUsize> = (0..chunks).map(|_| AtomicUsize::new(0)).collect();
            pool.run(chunks, &|c| {
                hits[c].fetch_add(1, SeqCst);
            });
            assert!(hits.iter().all(|h| h.load(SeqCst) == 1), "round {round}");
            if round % 60 == 0 {
                // Let the workers fall asleep so the wake-up path runs too.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    #[test]
    fn concurrent_callers_take_turns_and_every_chunk_runs_once() {
        let pool = ComputePool::new(2);
        std::thread::scope(|scope| {
            for caller in 0..3 {
                let pool = &pool;
                scope.spawn(move || {
                    for round in 0..400 {
                        let chunks = 2 + (round + caller) % 13;
                        let hits: Vec<AtomicUsize> =
                            (0..chunks).map(|_| AtomicUsize::new(0)).collect();
                        pool.run(chunks, &|c| {
                            hits[c].fetch_add(1, SeqCst);
                        });
                        assert!(
                            hits.iter().all(|h| h.load(SeqCst) == 1),
                            "caller {caller} round {round}"
                        );
                        if round % 100 == 0 {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                    }
                });
            }
        });
    }

    #[test]
    fn a_job_that_runs_a_job_does_not_deadlock() {
        let pool = ComputePool::new(3);
        let n = AtomicUsize::new(0);
        pool.run(6, &|_| {
            pool.run(4, &|_| {
                n.fetch_add(1, SeqCst);
            });
        });
        assert_eq!(n.load(SeqCst), 24);
    }

    #[test]
    fn a_panicking_chunk_is_reported_to_the_caller() {
        let pool = ComputePool::new(2);
        for bad in 0..4 {
            let result = catch_unwind(AssertUnwindSafe(|| {
                pool.run(4, &|c| {
                    if c == bad {
                        panic!("boom");
                    }
                })
            }));
            assert!(result.is_err());
        }
        // The pool still works afterwards.
        let n = AtomicUsize::new(0);
        pool.run(5, &|_| {
            n.fetch_add(1, SeqCst);
        });
        assert_eq!(n.load(SeqCst), 5);
    }
}
