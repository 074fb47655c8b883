//! Running API batches inside the server, surviving restarts and shared databases.
//!
//! `POST /v1/batches` stores the upload under `<data_dir>/batches/<id>/` and records the batch
//! as `queued`. Each server runs one [`BatchService`]: a thread that claims batches one at a
//! time and runs them with [`runner::run`], the same code as `adforge batch`, so a batch that
//! was interrupted resumes from its `results.csv` and redoes only the rows not in it.
//!
//! Claiming works like the generation workers' job leases (`crate::generation::worker`): a
//! conditional `UPDATE` takes a batch that is `queued`, or `running` with a lease that ran out
//! (its server stopped or died), and records this runner as `lease_owner` with
//! `lease_expires_at`. Two servers on one database cannot both win it. While it runs, a
//! heartbeat extends the lease every third of its length (`job_lease_seconds`), and every row
//! renews it again just before its records are appended, so a runner that lost the batch to
//! another one stops without writing anything more: each row is in the results once (as long
//! as appending one row's records takes less than a lease).
//!
//! When a server starts, its runner takes the `queued` batches at once, and a batch left
//! `running` by a stopped server once that server's lease has run out (at most
//! `job_lease_seconds` after it stopped). An HTTP server that stops while its process lives on
//! hands its batch back as `queued` between rows, to be taken at once. A server only claims
//! batches whose input file it can read, so replicas must share `data_dir` for one to take
//! over another's batches.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use diesel::prelude::*;

use super::routes::{errors_from_text, errors_text, TenantResources};
use super::runner::{self, BatchOptions, PipelineGenerator, Progress, RowOutcome, Summary};
use super::{BatchError, RowError};
use crate::assets::AssetStore;
use crate::config::Settings;
use crate::store::schema::batches;
use crate::store::{new_id, now_millis, Conn, Store};

/// Name of the uploaded file in a batch's folder.
pub const INPUT_FILE: &str = "input.csv";

/// How often an idle runner looks for batches left by other servers.
const POLL: Duration = Duration::from_secs(1);

/// Claimable batches read at a time while looking for one this server can run.
const CANDIDATES_PAGE: i64 = 64;

/// The folder of batch `id` under `data_dir`.
pub fn batch_dir(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join("batches").join(id)
}

/// A batch this runner holds the lease on.
#[derive(Clone, Debug)]
pub struct ClaimedBatch {
    /// The batch's id.
    pub id: String,
    /// Its tenant.
    pub advertiser_id: String,
    /// The row errors recorded so far (those found at upload, then those of earlier runs).
    pub errors: Vec<RowError>,
}

/// A batch is claimable when it is queued, or running under a lease that ran out (or under no
/// lease: batches started before leases were recorded).
macro_rules! claimable {
    ($now:expr) => {
        batches::status
            .eq("queued")
            .or(batches::status.eq("running").and(
                batches::lease_expires_at
                    .is_null()
                    .or(batches::lease_expires_at.lt($now)),
            ))
    };
}

/// Takes the oldest claimable batch for which `runnable(id)` holds (this server can read its
/// files), recording `owner` as its runner for `lease`. Returns `None` when there is none.
pub fn claim_next(
    conn: &mut Conn,
    owner: &str,
    lease: Duration,
    runnable: impl Fn(&str) -> bool,
) -> Result<Option<ClaimedBatch>, diesel::result::Error> {
    let now = now_millis();
    let mut seen = 0;
    loop {
        let candidates: Vec<String> = batches::table
            .filter(claimable!(now))
            .order((batches::created_at.asc(), batches::id.asc()))
            .offset(seen)
            .limit(CANDIDATES_PAGE)
            .select(batches::id)
            .load(conn)?;
        if candidates.is_empty() {
            return Ok(None);
        }
        seen += candidates.len() as i64;
        if let Some(claimed) = claim_first(conn, owner, lease, now, candidates, &runnable)? {
            return Ok(Some(claimed));
        }
    }
}

/// Claims the first of `candidates` that this server can run and no other runner took first.
fn claim_first(
    conn: &mut Conn,
    owner: &str,
    lease: Duration,
    now: i64,
    candidates: Vec<String>,
    runnable: &impl Fn(&str) -> bool,
) -> Result<Option<ClaimedBatch>, diesel::result::Error> {
    for id in candidates.into_iter().filter(|id| runnable(id)) {
        // The condition is checked again inside the UPDATE, so two servers cannot both win.
        let taken = diesel::update(
            batches::table
                .filter(batches::id.eq(&id))
                .filter(claimable!(now)),
        )
        .set((
            batches::status.eq("running"),
            batches::lease_owner.eq(owner),
            batches::lease_expires_at.eq(now + lease.as_millis() as i64),
            batches::updated_at.eq(now),
        ))
        .execute(conn)?;
        if taken != 1 {
            continue;
        }
        let (advertiser_id, errors): (String, String) = batches::table
            .filter(batches::id.eq(&id))
            .select((batches::advertiser_id, batches::errors))
            .first(conn)?;
        let errors = match errors_from_text(&errors) {
            Ok(errors) => errors,
            Err(error) => {
                tracing::warn!(batch = %id, %error, "unreadable row errors; starting a new list");
                Vec::new()
            }
        };
        return Ok(Some(ClaimedBatch {
            id,
            advertiser_id,
            errors,
        }));
    }
    Ok(None)
}

/// The batch `id` while `owner` still holds it and it is running: the target of every write
/// a runner makes, so that one that lost its lease writes nothing.
macro_rules! held_by {
    ($id:expr, $owner:expr) => {
        batches::table
            .filter(batches::id.eq($id))
            .filter(batches::lease_owner.eq($owner))
            .filter(batches::status.eq("running"))
    };
}

/// Extends `owner`'s lease on batch `id` by `lease` from now; false when `owner` no longer
/// holds it.
pub fn renew(
    conn: &mut Conn,
    id: &str,
    owner: &str,
    lease: Duration,
) -> Result<bool, diesel::result::Error> {
    let renewed = diesel::update(held_by!(id, owner))
        .set(batches::lease_expires_at.eq(now_millis() + lease.as_millis() as i64))
        .execute(conn)?;
    Ok(renewed == 1)
}

/// Records progress on batch `id` if `owner` still holds it; false when it does not.
pub fn record_progress(
    conn: &mut Conn,
    id: &str,
    owner: &str,
    rows_done: i32,
    rows_failed: i32,
    errors: &[RowError],
) -> Result<bool, diesel::result::Error> {
    let updated = diesel::update(held_by!(id, owner))
        .set((
            batches::rows_done.eq(rows_done),
            batches::rows_failed.eq(rows_failed),
            batches::errors.eq(errors_text(errors)),
            batches::updated_at.eq(now_millis()),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// How a run of a batch ended.
#[derive(Debug)]
pub enum BatchEnd<'a> {
    /// Every row is in the results.
    Succeeded {
        /// Rows generated.
        rows_done: i32,
        /// Rows that failed.
        rows_failed: i32,
        /// The row errors.
        errors: &'a [RowError],
    },
    /// The batch cannot go on.
    Failed {
        /// Why.
        error: String,
    },
    /// Stopped between rows: the batch goes back to `queued` for any server to resume.
    Released,
}

/// Ends `owner`'s run of batch `id` and drops the lease; does nothing (and answers false)
/// when `owner` no longer holds it.
pub fn end(
    conn: &mut Conn,
    id: &str,
    owner: &str,
    how: BatchEnd<'_>,
) -> Result<bool, diesel::result::Error> {
    let now = now_millis();
    let no_lease = (
        batches::lease_owner.eq(None::<String>),
        batches::lease_expires_at.eq(None::<i64>),
        batches::updated_at.eq(now),
    );
    let updated = match how {
        BatchEnd::Succeeded {
            rows_done,
            rows_failed,
            errors,
        } => diesel::update(held_by!(id, owner))
            .set((
                batches::status.eq("succeeded"),
                batches::rows_done.eq(rows_done),
                batches::rows_failed.eq(rows_failed),
                batches::errors.eq(errors_text(errors)),
                no_lease,
            ))
            .execute(conn)?,
        BatchEnd::Failed { error } => diesel::update(held_by!(id, owner))
            .set((
                batches::status.eq("failed"),
                batches::error.eq(Some(error)),
                no_lease,
            ))
            .execute(conn)?,
        BatchEnd::Released => diesel::update(held_by!(id, owner))
            .set((batches::status.eq("queued"), no_lease))
            .execute(conn)?,
    };
    Ok(updated == 1)
}

/// Stop and wake-up signals between a [`BatchService`] and its thread.
#[derive(Default)]
struct Signals {
    stop: AtomicBool,
    pending: Mutex<bool>,
    bell: Condvar,
}

impl Signals {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Wakes the runner now.
    fn ring(&self) {
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.bell.notify_all();
    }

    /// Waits up to `timeout` for a ring; true when the service is stopping.
    fn wait(&self, timeout: Duration) -> bool {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let (mut pending, _) = self
            .bell
            .wait_timeout_while(pending, timeout, |rung| !*rung && !self.stopping())
            .unwrap_or_else(|p| p.into_inner());
        *pending = false;
        self.stopping()
    }
}

/// A server's batch runner: one thread that claims batches and runs them one after another,
/// so the server holds one copy of the models for them. Dropping the last handle (the server
/// stopped) stops the thread between rows and hands its batch back.
pub struct BatchService {
    signals: Arc<Signals>,
}

impl BatchService {
    /// Starts the server's runner thread on its `store`; it looks for claimable batches at
    /// once.
    pub fn start(store: Store, settings: Settings) -> Arc<BatchService> {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        let owner = format!("{host}-{}-batches-{}", std::process::id(), &new_id()[24..]);
        let signals = Arc::new(Signals::default());
        let runner = Runner {
            owner,
            lease: Duration::from_secs(settings.job_lease_seconds.max(3)),
            signals: signals.clone(),
            store,
            settings,
        };
        let spawned = std::thread::Builder::new()
            .name("batches".into())
            .spawn(move || runner.run());
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start the batch runner thread");
        }
        Arc::new(BatchService { signals })
    }

    /// Tells the runner a batch was queued, so it need not wait for its next look.
    pub fn wake(&self) {
        self.signals.ring();
    }
}

impl Drop for BatchService {
    fn drop(&mut self) {
        self.signals.stop.store(true, Ordering::Relaxed);
        self.signals.ring();
    }
}

/// The thread behind a [`BatchService`].
struct Runner {
    owner: String,
    lease: Duration,
    signals: Arc<Signals>,
    store: Store,
    settings: Settings,
}

impl Runner {
    fn run(self) {
        let store = &self.store;
        tracing::info!(runner = %self.owner, "batch runner started");
        while !self.signals.stopping() {
            let data_dir = self.settings.data_dir.clone();
            let claimed = store
                .conn()
                .map_err(|e| e.to_string())
                .and_then(|mut conn| {
                    claim_next(&mut conn, &self.owner, self.lease, |id| {
                        batch_dir(&data_dir, id).join(INPUT_FILE).is_file()
                    })
                    .map_err(|e| e.to_string())
                });
            match claimed {
                Ok(Some(batch)) => self.run_batch(store, batch),
                Ok(None) => {
                    self.signals.wait(POLL);
                }
                Err(error) => {
                    tracing::warn!(%error, "batch runner: could not look for batches");
                    self.signals.wait(POLL * 4);
                }
            }
        }
        tracing::info!(runner = %self.owner, "batch runner stopped");
    }

    /// Runs a claimed batch to its end, or until the lease is lost or the server stops. The
    /// models load on the first row that needs them and are let go with the batch.
    fn run_batch(&self, store: &Store, batch: ClaimedBatch) {
        tracing::info!(batch = %batch.id, runner = %self.owner, "batch claimed");
        let dir = batch_dir(&self.settings.data_dir, &batch.id);
        let halt = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let heartbeat = self.spawn_heartbeat(store.clone(), &batch.id, &halt, &finished);
        let mut progress = LeasedProgress {
            store: store.clone(),
            id: batch.id.clone(),
            owner: self.owner.clone(),
            lease: self.lease,
            halt: halt.clone(),
            done: 0,
            failed: 0,
            errors: batch.errors,
        };
        progress.errors.sort_by_key(|e| e.row);
        let assets = AssetStore::new(self.settings.data_dir.join("assets"));
        let mut generator = PipelineGenerator::new(&self.settings, assets);
        let outcome = store
            .conn()
            .map_err(|e| BatchError::Store(e.to_string()))
            .and_then(|conn| {
                let mut stored = TenantResources {
                    conn,
                    advertiser_id: batch.advertiser_id.clone(),
                };
                runner::run(
                    &dir.join(INPUT_FILE),
                    &dir,
                    &BatchOptions::default(),
                    Some(&mut stored),
                    &mut generator,
                    &mut progress,
                    &halt,
                )
            });
        finished.store(true, Ordering::Relaxed);
        if heartbeat.and_then(|h| h.join().ok()).is_none() {
            tracing::debug!(batch = %batch.id, "no heartbeat thread to join");
        }
        let how = match &outcome {
            Ok(Summary {
                rows_done,
                rows_failed,
                ..
            }) => BatchEnd::Succeeded {
                rows_done: *rows_done as i32,
                rows_failed: *rows_failed as i32,
                errors: &progress.errors,
            },
            Err(BatchError::Stopped) => BatchEnd::Released,
            // The database may be back soon: another look will take the batch again.
            Err(BatchError::Store(error)) => {
                tracing::warn!(batch = %batch.id, %error, "batch handed back: database error");
                BatchEnd::Released
            }
            Err(error) => {
                tracing::error!(batch = %batch.id, %error, "batch failed");
                BatchEnd::Failed {
                    error: error.to_string(),
                }
            }
        };
        let label = match how {
            BatchEnd::Succeeded { .. } => "succeeded",
            BatchEnd::Failed { .. } => "failed",
            BatchEnd::Released => "handed back",
        };
        let ended = store
            .conn()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                end(&mut conn, &batch.id, &self.owner, how).map_err(|e| e.to_string())
            });
        match ended {
            Ok(true) => tracing::info!(batch = %batch.id, outcome = label, "batch ended"),
            Ok(false) => {
                tracing::info!(batch = %batch.id, "batch lost to another runner; left to it")
            }
            Err(error) => {
                tracing::error!(batch = %batch.id, %error, "could not record the end of a batch")
            }
        }
    }

    /// Extends the lease every third of its length until `finished` is set. Sets `halt` when
    /// the lease was taken away or the server is stopping, which stops the run between rows.
    fn spawn_heartbeat(
        &self,
        store: Store,
        id: &str,
        halt: &Arc<AtomicBool>,
        finished: &Arc<AtomicBool>,
    ) -> Option<std::thread::JoinHandle<()>> {
        let (id, owner, lease) = (id.to_string(), self.owner.clone(), self.lease);
        let (halt, finished, signals) = (halt.clone(), finished.clone(), self.signals.clone());
        let spawned = std::thread::Builder::new()
            .name("batch-heartbeat".into())
            .spawn(move || {
                let beat = lease / 3;
                let tick = Duration::from_millis(100);
                let mut waited = Duration::ZERO;
                while !finished.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    if signals.stopping() {
                        halt.store(true, Ordering::Relaxed);
                    }
                    waited += tick;
                    if waited < beat {
                        continue;
                    }
                    waited = Duration::ZERO;
                    let renewed = store
                        .conn()
                        .ok()
                        .and_then(|mut conn| renew(&mut conn, &id, &owner, lease).ok());
                    if renewed == Some(false) {
                        tracing::warn!(batch = %id, "batch lease lost; stopping");
                        halt.store(true, Ordering::Relaxed);
                    }
                }
            });
        match spawned {
            Ok(handle) => Some(handle),
            Err(error) => {
                // Without a heartbeat the lease is still renewed before every row is written.
                tracing::warn!(%error, "could not start the batch heartbeat thread");
                None
            }
        }
    }
}

/// Records progress on the batch's row after every input row while this runner holds its
/// lease, and renews the lease before every row is written. `errors` starts with those already
/// recorded (found at upload, then by earlier runs), in row order.
struct LeasedProgress {
    store: Store,
    id: String,
    owner: String,
    lease: Duration,
    halt: Arc<AtomicBool>,
    done: i32,
    failed: i32,
    errors: Vec<RowError>,
}

impl LeasedProgress {
    /// Adds `error` unless its row has one already (errors found at upload are listed first).
    fn note_error(&mut self, error: &RowError) {
        if let Err(at) = self.errors.binary_search_by_key(&error.row, |e| e.row) {
            self.errors.insert(at, error.clone());
        }
    }

    fn record(&self) {
        let recorded = self
            .store
            .conn()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                record_progress(
                    &mut conn,
                    &self.id,
                    &self.owner,
                    self.done,
                    self.failed,
                    &self.errors,
                )
                .map_err(|e| e.to_string())
            });
        match recorded {
            Ok(true) => {}
            Ok(false) => self.halt.store(true, Ordering::Relaxed),
            Err(error) => {
                tracing::warn!(batch = %self.id, %error, "could not record batch progress")
            }
        }
    }
}

impl Progress for LeasedProgress {
    fn resumed(&mut self, rows_done: u64, failed: &[RowError]) {
        tracing::info!(
            batch = %self.id,
            rows = rows_done + failed.len() as u64,
            "resuming after the rows an earlier run finished"
        );
        self.done = rows_done as i32;
        self.failed = failed.len() as i32;
        for error in failed {
            self.note_error(error);
        }
    }

    fn started(&mut self, _rows_total: u64, _rows_finished: u64) {
        self.record();
    }

    fn may_append(&mut self, _row: u64) -> bool {
        let renewed = self
            .store
            .conn()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                renew(&mut conn, &self.id, &self.owner, self.lease).map_err(|e| e.to_string())
            });
        match renewed {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(batch = %self.id, "batch lease lost; the row is left to its holder");
                self.halt.store(true, Ordering::Relaxed);
                false
            }
            Err(error) => {
                // Unconfirmed: writing could duplicate the row if another runner took over.
                tracing::warn!(batch = %self.id, %error, "could not renew the batch lease");
                self.halt.store(true, Ordering::Relaxed);
                false
            }
        }
    }

    fn row_finished(&mut self, _row: u64, outcome: &RowOutcome) {
        match outcome {
            RowOutcome::Generated { .. } => self.done += 1,
            RowOutcome::Failed(error) => {
                self.failed += 1;
                self.note_error(error);
            }
        }
        self.record();
    }
}
