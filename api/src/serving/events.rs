//! Impressions and clicks: an event URL's token is verified, the event is recorded once per
//! nonce in the database, then the bandit's cached count follows.

use diesel::prelude::*;

use super::choice::{arm_key, counts_from_db};
use super::{ServeError, Serving};
use crate::infra::signing::EventClaim;
use crate::store::schema::{campaigns, creatives, event_counters, event_nonces};
use crate::store::{now_millis, Conn};

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

/// Records one event durably; returns false for a replay (nothing recorded).
fn record_event(conn: &mut Conn, claim: &EventClaim) -> Result<bool, diesel::result::Error> {
    conn.transaction(|conn| {
        let kind = claim.kind.to_string();
        let seen: i64 = event_nonces::table
            .filter(event_nonces::nonce.eq(&claim.nonce))
            .filter(event_nonces::kind.eq(&kind))
            .count()
            .get_result(conn)?;
        if seen > 0 {
            return Ok(false);
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
        Ok(true)
    })
}

impl Serving {
    /// Records the event of an event URL's `token` (once per nonce and kind) and says where
    /// it leads.
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
                    )) => false,
                    Err(error) => return Err(ServeError::from(error)),
                };
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
        if recorded {
            // The database has the event; bring the bandit's cached count along. A missing key
            // (cache flushed) is re-seeded from the database on the next request that needs it.
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
        match (claim.kind, landing) {
            ('c', Some(landing_url)) => Ok(EventOutcome::Click { landing_url }),
            ('c', None) => Err(ServeError::NotFound("creative")),
            _ => Ok(EventOutcome::Impression),
        }
    }
}
