//! Impressions and clicks. Both event URLs of one served answer carry the same serve id (the
//! token's nonce): an impression is recorded once per serve, and a click only when the
//! impression of that same serve was recorded, once per serve. A refused click still leads to
//! the landing page but counts nothing, and is counted by reason in
//! `adforge_clicks_rejected_total`. Each event is written to the database first, then the
//! bandit's cached count follows. Recording an event also deletes up to [`PRUNE_BATCH`] serve
//! ids whose tokens have expired, so `event_nonces` holds about one day of serves.

use diesel::prelude::*;

use super::choice::{arm_key, counts_from_db};
use super::metrics::ClickRejection;
use super::{ServeError, Serving};
use crate::infra::signing::EventClaim;
use crate::store::schema::{campaigns, creatives, event_counters, event_nonces};
use crate::store::{now_millis, Conn};

/// Most expired serve ids one recorded event deletes.
pub const PRUNE_BATCH: i64 = 64;

/// What an event URL leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// An impression (recorded, or a replay that recorded nothing): nothing to show.
    Impression,
    /// A click: send the viewer to the campaign's landing page.
    Click {
        /// The landing page.
        landing_url: String,
    },
}

/// What recording one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    /// Written and counted.
    Counted,
    /// Not counted, for this reason.
    Refused(Refusal),
}

/// Why an event was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// This serve's event of this kind was recorded already (a replayed URL).
    Replay,
    /// A click whose serve's impression was never recorded.
    NoImpression,
}

/// Records one event durably, once per serve id and kind; a click only after its serve's
/// impression.
fn record_event(conn: &mut Conn, claim: &EventClaim) -> Result<Recorded, diesel::result::Error> {
    conn.transaction(|conn| {
        let recorded = |conn: &mut Conn, kind: &str| {
            event_nonces::table
                .filter(event_nonces::nonce.eq(&claim.nonce))
                .filter(event_nonces::kind.eq(kind))
                .count()
                .get_result::<i64>(conn)
                .map(|n| n > 0)
        };
        let kind = claim.kind.to_string();
        if recorded(conn, &kind)? {
            return Ok(Recorded::Refused(Refusal::Replay));
        }
        if claim.kind == 'c' && !recorded(conn, "i")? {
            return Ok(Recorded::Refused(Refusal::NoImpression));
        }
        diesel::insert_into(event_nonces::table)
            .values((
                event_nonces::nonce.eq(&claim.nonce),
                event_nonces::kind.eq(&kind),
                event_nonces::expires_at.eq(claim.expires * 1000),
            ))
            .execute(conn)?;
        let (di, dc) = if claim.kind == 'i' {
            (1i64, 0i64)
        } else {
            (0, 1)
        };
        let target = event_counters::table
            .filter(event_counters::creative_id.eq(&claim.creative))
            .filter(event_counters::segment_key.eq(&claim.segment));
        let updated = diesel::update(target)
            .set((
                event_counters::impressions.eq(event_counters::impressions + di),
                event_counters::clicks.eq(event_counters::clicks + dc),
                event_counters::updated_at.eq(now_millis()),
            ))
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(event_counters::table)
                .values((
                    event_counters::creative_id.eq(&claim.creative),
                    event_counters::segment_key.eq(&claim.segment),
                    event_counters::impressions.eq(di),
                    event_counters::clicks.eq(dc),
                    event_counters::updated_at.eq(now_millis()),
                ))
                .execute(conn)?;
        }
        Ok(Recorded::Counted)
    })
}

/// Deletes up to [`PRUNE_BATCH`] serve ids whose tokens expired before `now` (Unix
/// milliseconds); returns how many rows went.
pub fn prune_expired(conn: &mut Conn, now: i64) -> Result<usize, diesel::result::Error> {
    let expired: Vec<String> = event_nonces::table
        .filter(event_nonces::expires_at.lt(now))
        .select(event_nonces::nonce)
        .limit(PRUNE_BATCH)
        .load(conn)?;
    if expired.is_empty() {
        return Ok(0);
    }
    diesel::delete(
        event_nonces::table
            .filter(event_nonces::nonce.eq_any(&expired))
            .filter(event_nonces::expires_at.lt(now)),
    )
    .execute(conn)
}

impl Serving {
    /// Records the event of an event URL's `token` (see the module docs for what counts) and
    /// says where it leads.
    pub async fn record_event(&self, token: &str) -> Result<EventOutcome, ServeError> {
        let claim = self
            .signer
            .verify(token, chrono::Utc::now().timestamp())
            .ok_or(ServeError::InvalidEventToken)?;
        let recorded_claim = claim.clone();
        let (recorded, landing) = self
            .store
            .run(move |conn| {
                let recorded = match record_event(conn, &recorded_claim) {
                    Ok(recorded) => recorded,
                    // A concurrent replay of the same token lost the race on the nonce's key.
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    )) => Recorded::Refused(Refusal::Replay),
                    Err(error) => return Err(ServeError::from(error)),
                };
                if recorded == Recorded::Counted {
                    if let Err(error) = prune_expired(conn, now_millis()) {
                        tracing::warn!(%error, "could not prune expired event nonces");
                    }
                }
                let landing: Option<String> = if recorded_claim.kind == 'c' {
                    creatives::table
                        .inner_join(campaigns::table.on(campaigns::id.eq(creatives::campaign_id)))
                        .filter(creatives::id.eq(&recorded_claim.creative))
                        .select(campaigns::landing_url)
                        .first(conn)
                        .optional()?
                } else {
                    None
                };
                Ok::<_, ServeError>((recorded, landing))
            })
            .await?;
        match (claim.kind, recorded) {
            (_, Recorded::Counted) => self.follow_in_cache(&claim).await,
            ('c', Recorded::Refused(Refusal::Replay)) => {
                self.metrics.click_rejected(ClickRejection::Duplicate)
            }
            ('c', Recorded::Refused(Refusal::NoImpression)) => {
                self.metrics.click_rejected(ClickRejection::NoImpression)
            }
            _ => {}
        }
        match (claim.kind, landing) {
            ('c', Some(landing_url)) => Ok(EventOutcome::Click { landing_url }),
            ('c', None) => Err(ServeError::NotFound("creative")),
            _ => Ok(EventOutcome::Impression),
        }
    }

    /// The database has the event; brings the bandit's cached count along. A missing key
    /// (cache flushed) is re-seeded from the database.
    async fn follow_in_cache(&self, claim: &EventClaim) {
        let key = arm_key(claim.kind, &claim.creative, &claim.segment);
        if let Ok(1) = self.cache.incr(&key, 1, None).await {
            let arm = vec![(claim.creative.clone(), claim.segment.clone())];
            if let Ok(counts) = self.store.run(move |conn| counts_from_db(conn, &arm)).await {
                let value = if claim.kind == 'i' {
                    counts[0].0
                } else {
                    counts[0].1
                };
                let _ = self.cache.set(&key, value).await;
            }
        }
    }
}
