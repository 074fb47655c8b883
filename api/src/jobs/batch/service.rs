//! Running API batches inside the server, surviving restarts and shared databases.
//!
//! `POST /v1/batches` stores the upload under `<data_dir>/batches/<id>/` and records the batch
//! as `queued`. Each server runs one [`BatchService`]: a thread that claims batches one at a
//! time and runs them with [`runner::run`], the same code as `adforge batch`, so a batch that
//! was interrupted resumes from its `results.csv` and redoes only the rows not in it.
//!
//! Claiming is the lease queue of [`crate::store::leases`], the same as the generation
//! workers': a conditional `UPDATE` takes a batch that is `queued`, or `running` with a lease
//! that ran out (its server stopped or died), and records this runner as `lease_owner` with
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

use super::records::{errors_from_text, errors_text};
use super::runner::{self, BatchOptions, PipelineGenerator, Progress, RowOutcome, Summary};
use super::tenant::TenantResources;
use super::{BatchError, RowError};
use crate::config::Settings;
use crate::infra::assets::AssetStore;
use crate::store::leases::{self, Heartbeat, LeaseStatus, Leased, Queue};
use crate::store::schema::batches;
use crate::store::{new_id, Conn, Store};

/// Name of the uploaded file in a batch's folder.
pub const INPUT_FILE: &str = "input.csv";

/// How often an idle runner looks for batches left by other servers.
const POLL: Duration = Duration::from_secs(1);

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

/// Takes the oldest claimable batch for which `runnable(id)` holds (this server can read its
/// files), recording `owner` as its runner for `lease`. Returns `None` when there is none.
pub fn claim_next(
    conn: &mut Conn,
    owner: &str,
    lease: Duration,
    runnable: impl Fn(&str) -> bool,
) -> Result<Option<ClaimedBatch>, diesel::result::Error> {
    let Some(id) = leases::claim_next(conn, Queue::Batches, owner, lease, runnable)? else {
        return Ok(None);
    };
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
    Ok(Some(ClaimedBatch {
        id,
        advertiser_id,
        errors,
    }))
}

/// Extends `owner`'s lease on batch `id` by `lease` from now; false when `owner` no longer
/// holds it.
pub fn renew(
    conn: &mut Conn,
    id: &str,
    owner: &str,
    lease: Duration,
) -> Result<bool, diesel::result::Error> {
    leases::renew(conn, Queue::Batches, id, owner, lease)
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
    conn.transaction(|conn| {
        if !leases::hold(conn, Queue::Batches, id, owner)? {
            return Ok(false);
        }
        diesel::update(batches::table.filter(batches::id.eq(id)))
            .set((
                batches::rows_done.eq(rows_done),
                batches::rows_failed.eq(rows_failed),
                batches::errors.eq(errors_text(errors)),
            ))
            .execute(conn)?;
        Ok(true)
    })
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
    let status = match how {
        BatchEnd::Succeeded { .. } => LeaseStatus::Succeeded,
        BatchEnd::Failed { .. } => LeaseStatus::Failed,
        BatchEnd::Released => LeaseStatus::Queued,
    };
    conn.transaction(|conn| {
        if !leases::finish(conn, Queue::Batches, id, owner, status)? {
            return Ok(false);
        }
        let this = batches::table.filter(batches::id.eq(id));
        match how {
            BatchEnd::Succeeded {
                rows_done,
                rows_failed,
                errors,
            } => diesel::update(this)
                .set((
                    batches::rows_done.eq(rows_done),
                    batches::rows_failed.eq(rows_failed),
                    batches::errors.eq(errors_text(errors)),
                ))
                .execute(conn)?,
            BatchEnd::Failed { error } => diesel::update(this)
                .set(batches::error.eq(Some(error)))
                .execute(conn)?,
            BatchEnd::Released => 0,
        };
        Ok(true)
    })
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
        let leased = Leased {
            queue: Queue::Batches,
            id: batch.id.clone(),
            owner: self.owner.clone(),
            lease: self.lease,
        };
        // Sets `halt` when the lease is taken away or the server is stopping, which stops the
        // run between rows.
        let signals = self.signals.clone();
        let heartbeat = Heartbeat::start(store.clone(), leased, halt.clone(), move || {
            signals.stopping()
        });
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
            .and_then(|mut conn| {
                let mut stored = TenantResources {
                    conn: &mut conn,
                    advertiser_id: &batch.advertiser_id,
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
        heartbeat.stop();
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
