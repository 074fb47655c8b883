//! The one lease-based work queue, shared by generation jobs (`generation_jobs`) and batches
//! (`batches`).
//!
//! An item is `queued` until a runner claims it: a conditional `UPDATE` sets it `running` and
//! records the runner as `lease_owner` until `lease_expires_at`. The condition is checked again
//! inside the `UPDATE`, so two runners on one database never both win an item. While it works,
//! the runner's [`Heartbeat`] extends the lease every third of its length; a runner that stops
//! heartbeating (it died, or its machine did) loses the item once the lease runs out, and the
//! next [`claim_next`] takes it over. Every write a runner makes goes through [`hold`] or
//! [`finish`], which only succeed while the runner still holds the item, so a runner that lost
//! it writes nothing more.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::prelude::*;
use diesel::result::QueryResult;

use super::{now_millis, Conn, Store};

/// The tables that hold leased work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    /// `generation_jobs`: one row per generation job.
    GenerationJobs,
    /// `batches`: one row per uploaded batch file.
    Batches,
}

/// Where a leased item stands, as its `status` column spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseStatus {
    /// Waiting for a runner.
    Queued,
    /// A runner holds it.
    Running,
    /// Finished.
    Succeeded,
    /// Could not be finished.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl LeaseStatus {
    /// The text stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseStatus::Queued => "queued",
            LeaseStatus::Running => "running",
            LeaseStatus::Succeeded => "succeeded",
            LeaseStatus::Failed => "failed",
            LeaseStatus::Cancelled => "cancelled",
        }
    }

    /// Reads a `status` column back.
    pub fn parse(text: &str) -> Result<Self, UnknownStatus> {
        Ok(match text {
            "queued" => LeaseStatus::Queued,
            "running" => LeaseStatus::Running,
            "succeeded" => LeaseStatus::Succeeded,
            "failed" => LeaseStatus::Failed,
            "cancelled" => LeaseStatus::Cancelled,
            other => return Err(UnknownStatus(other.to_string())),
        })
    }

    /// Whether the item will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            LeaseStatus::Succeeded | LeaseStatus::Failed | LeaseStatus::Cancelled
        )
    }
}

/// A `status` column holds a value no version of adforge writes.
#[derive(Debug, thiserror::Error)]
#[error("unknown status {0:?} in the database")]
pub struct UnknownStatus(pub String);

/// Claimable items read at a time while looking for one the caller can run.
const CANDIDATES_PAGE: i64 = 64;

/// Evaluates `$body` with `$t` naming the schema module of `$queue`'s table: the queries below
/// are written once for both tables.
macro_rules! with_table {
    ($queue:expr, $t:ident => $body:expr) => {
        match $queue {
            Queue::GenerationJobs => {
                use super::schema::generation_jobs as $t;
                $body
            }
            Queue::Batches => {
                use super::schema::batches as $t;
                $body
            }
        }
    };
}

/// An item is claimable when it is queued, or running under a lease that ran out (or under no
/// lease: batches started before leases were recorded).
macro_rules! claimable {
    ($t:ident, $now:expr) => {
        $t::status.eq(LeaseStatus::Queued.as_str()).or($t::status
            .eq(LeaseStatus::Running.as_str())
            .and(
                $t::lease_expires_at
                    .is_null()
                    .or($t::lease_expires_at.lt($now)),
            ))
    };
}

/// Item `$id` while `$owner` holds it and it is running.
macro_rules! held_by {
    ($t:ident, $id:expr, $owner:expr) => {
        $t::table
            .filter($t::id.eq($id))
            .filter($t::lease_owner.eq($owner))
            .filter($t::status.eq(LeaseStatus::Running.as_str()))
    };
}

/// Takes the next claimable item of `queue` for which `runnable(id)` holds, recording `owner`
/// as its runner for `lease`. Returns its id, or `None` when there is none.
///
/// Claims are shared fairly between advertisers (round-robin): the item comes from the
/// advertiser with the fewest items running now and, among those, from the one whose last
/// claim is the oldest (one never served comes first); within an advertiser, the oldest item
/// goes first. So a tenant that floods the queue gets every other free runner at most, and
/// another tenant's item starts as soon as a runner is free.
pub fn claim_next(
    conn: &mut Conn,
    queue: Queue,
    owner: &str,
    lease: Duration,
    runnable: impl Fn(&str) -> bool,
) -> QueryResult<Option<String>> {
    let now = now_millis();
    // Each advertiser with claimable work, and when its oldest claimable item was queued.
    let waiting: Vec<(String, Option<i64>)> = with_table!(queue, t => t::table
        .filter(claimable!(t, now))
        .group_by(t::advertiser_id)
        .select((t::advertiser_id, diesel::dsl::min(t::created_at)))
        .load(conn))?;
    if waiting.is_empty() {
        return Ok(None);
    }
    let running: Vec<(String, i64)> = with_table!(queue, t => t::table
        .filter(t::status.eq(LeaseStatus::Running.as_str()))
        .filter(t::lease_expires_at.ge(now))
        .filter(t::advertiser_id.eq_any(waiting.iter().map(|(a, _)| a)))
        .group_by(t::advertiser_id)
        .select((t::advertiser_id, diesel::dsl::count_star()))
        .load(conn))?;
    let last_claims: Vec<(String, Option<i64>)> = with_table!(queue, t => t::table
        .filter(t::advertiser_id.eq_any(waiting.iter().map(|(a, _)| a)))
        .group_by(t::advertiser_id)
        .select((t::advertiser_id, diesel::dsl::max(t::claimed_at)))
        .load(conn))?;
    let mut order: Vec<(i64, i64, Option<i64>, String)> = waiting
        .into_iter()
        .map(|(advertiser, oldest)| {
            let busy = running
                .iter()
                .find(|(a, _)| *a == advertiser)
                .map_or(0, |(_, n)| *n);
            let last = last_claims
                .iter()
                .find(|(a, _)| *a == advertiser)
                .and_then(|(_, at)| *at)
                .unwrap_or(i64::MIN);
            (busy, last, oldest, advertiser)
        })
        .collect();
    order.sort();
    for (_, _, _, advertiser) in order {
        if let Some(id) = claim_oldest(conn, queue, owner, lease, now, &advertiser, &runnable)? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Takes `advertiser`'s oldest claimable item for which `runnable(id)` holds.
fn claim_oldest(
    conn: &mut Conn,
    queue: Queue,
    owner: &str,
    lease: Duration,
    now: i64,
    advertiser: &str,
    runnable: &impl Fn(&str) -> bool,
) -> QueryResult<Option<String>> {
    let mut seen = 0;
    loop {
        let candidates: Vec<String> = with_table!(queue, t => t::table
            .filter(claimable!(t, now))
            .filter(t::advertiser_id.eq(advertiser))
            .order((t::created_at.asc(), t::id.asc()))
            .offset(seen)
            .limit(CANDIDATES_PAGE)
            .select(t::id)
            .load(conn))?;
        if candidates.is_empty() {
            return Ok(None);
        }
        seen += candidates.len() as i64;
        for id in candidates.into_iter().filter(|id| runnable(id)) {
            let expires = now + lease.as_millis() as i64;
            let taken = with_table!(queue, t => diesel::update(
                t::table.filter(t::id.eq(&id)).filter(claimable!(t, now)),
            )
            .set((
                t::status.eq(LeaseStatus::Running.as_str()),
                t::lease_owner.eq(owner),
                t::lease_expires_at.eq(expires),
                t::claimed_at.eq(now),
                t::updated_at.eq(now),
            ))
            .execute(conn))?;
            if taken == 1 {
                return Ok(Some(id));
            }
        }
    }
}

/// Extends `owner`'s lease on item `id` by `lease` from now; false when `owner` no longer
/// holds it.
pub fn renew(
    conn: &mut Conn,
    queue: Queue,
    id: &str,
    owner: &str,
    lease: Duration,
) -> QueryResult<bool> {
    let expires = now_millis() + lease.as_millis() as i64;
    let renewed = with_table!(queue, t => diesel::update(held_by!(t, id, owner))
        .set(t::lease_expires_at.eq(expires))
        .execute(conn))?;
    Ok(renewed == 1)
}

/// Whether `owner` still holds item `id` (a read: nothing changes).
pub fn holds(conn: &mut Conn, queue: Queue, id: &str, owner: &str) -> QueryResult<bool> {
    let held: i64 = with_table!(queue, t => held_by!(t, id, owner).count().get_result(conn))?;
    Ok(held == 1)
}

/// Confirms that `owner` still holds item `id`, touching its `updated_at`; false when it does
/// not. Inside a transaction, the row stays locked until the end of it, so the writes that
/// follow cannot race a runner taking the item over.
pub fn hold(conn: &mut Conn, queue: Queue, id: &str, owner: &str) -> QueryResult<bool> {
    let now = now_millis();
    let held = with_table!(queue, t => diesel::update(held_by!(t, id, owner))
        .set(t::updated_at.eq(now))
        .execute(conn))?;
    Ok(held == 1)
}

/// Ends `owner`'s run of item `id` with `status` and drops the lease; [`LeaseStatus::Queued`]
/// hands the item back for any runner to take at once. Does nothing (and answers false) when
/// `owner` no longer holds it.
pub fn finish(
    conn: &mut Conn,
    queue: Queue,
    id: &str,
    owner: &str,
    status: LeaseStatus,
) -> QueryResult<bool> {
    let now = now_millis();
    let ended = with_table!(queue, t => diesel::update(held_by!(t, id, owner))
        .set((
            t::status.eq(status.as_str()),
            t::lease_owner.eq(None::<String>),
            t::lease_expires_at.eq(None::<i64>),
            t::updated_at.eq(now),
        ))
        .execute(conn))?;
    Ok(ended == 1)
}

/// Cancels item `id` if it is queued or running; its runner finds out at its next heartbeat.
/// Answers whether it was cancelled.
pub fn cancel(conn: &mut Conn, queue: Queue, id: &str) -> QueryResult<bool> {
    let now = now_millis();
    let open = [LeaseStatus::Queued.as_str(), LeaseStatus::Running.as_str()];
    let cancelled = with_table!(queue, t => diesel::update(
        t::table.filter(t::id.eq(id)).filter(t::status.eq_any(open)),
    )
    .set((
        t::status.eq(LeaseStatus::Cancelled.as_str()),
        t::updated_at.eq(now),
    ))
    .execute(conn))?;
    Ok(cancelled == 1)
}

/// How often a [`Heartbeat`] reads whether its item was cancelled or taken over.
pub const HOLD_CHECK: Duration = Duration::from_secs(1);

/// A thread that keeps a runner's lease alive while it works.
///
/// Every third of the lease it renews it, and every [`HOLD_CHECK`] in between it reads whether
/// the item is still held; when it is not (it was cancelled, or another runner took it over)
/// it sets the `lost` flag the runner watches, so a cancel reaches the runner within about a
/// second.
/// It also sets `lost` as soon as `give_up()` answers true (e.g. the server is stopping).
pub struct Heartbeat {
    finished: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What a [`Heartbeat`] renews, and for whom.
#[derive(Clone, Debug)]
pub struct Leased {
    /// The queue.
    pub queue: Queue,
    /// The item's id.
    pub id: String,
    /// The runner holding it.
    pub owner: String,
    /// How long the lease lasts without a renewal.
    pub lease: Duration,
}

impl Heartbeat {
    /// Starts heartbeating on `leased`. Should the thread fail to start, the runner goes on
    /// without it (its writes are still fenced by [`hold`] and [`finish`]).
    pub fn start(
        store: Store,
        leased: Leased,
        lost: Arc<AtomicBool>,
        give_up: impl Fn() -> bool + Send + 'static,
    ) -> Heartbeat {
        let finished = Arc::new(AtomicBool::new(false));
        let done = finished.clone();
        let spawned = std::thread::Builder::new()
            .name("lease-heartbeat".into())
            .spawn(move || {
                let beat = leased.lease / 3;
                let tick = Duration::from_millis(100);
                let (mut since_renewal, mut since_check) = (Duration::ZERO, Duration::ZERO);
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    if give_up() {
                        lost.store(true, Ordering::Relaxed);
                    }
                    since_renewal += tick;
                    since_check += tick;
                    let Leased {
                        queue,
                        id,
                        owner,
                        lease,
                    } = &leased;
                    let still_held = if since_renewal >= beat {
                        since_renewal = Duration::ZERO;
                        since_check = Duration::ZERO;
                        store
                            .conn()
                            .ok()
                            .and_then(|mut conn| renew(&mut conn, *queue, id, owner, *lease).ok())
                    } else if since_check >= HOLD_CHECK {
                        since_check = Duration::ZERO;
                        store
                            .conn()
                            .ok()
                            .and_then(|mut conn| holds(&mut conn, *queue, id, owner).ok())
                    } else {
                        None
                    };
                    if still_held == Some(false) && !lost.swap(true, Ordering::Relaxed) {
                        tracing::warn!(item = %id, ?queue, "lease lost or cancelled; stopping");
                    }
                }
            });
        let thread = match spawned {
            Ok(thread) => Some(thread),
            Err(error) => {
                tracing::warn!(%error, "could not start the heartbeat thread");
                None
            }
        };
        Heartbeat { finished, thread }
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.finished.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.finished.store(true, Ordering::Relaxed);
    }
}
