//! Choosing a creative: the candidates whose segments match the request, minus those the viewer
//! has seen enough (frequency caps), one of them picked by Thompson sampling over the cached
//! impression and click counts, answered with signed event URLs.

use adforge_targeting::{AdRequest, ArmStats, ThompsonConfig, ThompsonSampler, UserKeyHash};
use diesel::prelude::*;

use super::payload::Compiled;
use super::request::{ad_request, ServeRequest, ServeResponse, ServedImage};
use super::{openrtb, ServeError, Serving, DAY};
use crate::infra::signing::EventClaim;
use crate::store::schema::event_counters;
use crate::store::Conn;

/// What one ad request needs from the cache: its candidate creatives (indexes into
/// [`Compiled::creatives`]) and the keys of their frequency-cap and bandit counts.
pub(super) struct RequestPlan {
    candidates: Vec<usize>,
    /// With a viewer: the campaign cap key, then one cap key per candidate. Then an impression
    /// and a click key per candidate.
    pub(super) keys: Vec<String>,
    capped: bool,
}

impl RequestPlan {
    fn new(compiled: &Compiled, request: &AdRequest, user: Option<&str>) -> Self {
        let mut matched = compiled.index.matching(request);
        matched.extend(compiled.everyone.iter().cloned());
        let mut candidates: Vec<usize> = (0..compiled.creatives.len())
            .filter(|&i| matched.contains(&compiled.creatives[i].segment_key))
            .collect();
        if candidates.is_empty() {
            candidates = (0..compiled.creatives.len())
                .filter(|&i| compiled.creatives[i].segment_key == "-")
                .collect();
        }
        let mut keys = Vec::with_capacity(3 * candidates.len() + 1);
        if let Some(user) = user {
            keys.push(campaign_cap_key(user, &compiled.campaign_id));
            keys.extend(
                candidates
                    .iter()
                    .map(|&i| creative_cap_key(user, &compiled.creatives[i].id)),
            );
        }
        for &i in &candidates {
            let c = &compiled.creatives[i];
            keys.push(arm_key('i', &c.id, &c.segment_key));
            keys.push(arm_key('c', &c.id, &c.segment_key));
        }
        RequestPlan {
            candidates,
            keys,
            capped: user.is_some(),
        }
    }
}

fn campaign_cap_key(user: &str, campaign: &str) -> String {
    format!("adforge:fc:campaign:{user}:{campaign}")
}

fn creative_cap_key(user: &str, creative: &str) -> String {
    format!("adforge:fc:creative:{user}:{creative}")
}

/// The cache key of an arm's impression (`i`) or click (`c`) count.
pub(super) fn arm_key(kind: char, creative: &str, segment: &str) -> String {
    format!("adforge:arm:{kind}:{creative}:{segment}")
}

/// Impression and click counts of each (creative, segment) arm, from the database.
pub(super) fn counts_from_db(
    conn: &mut Conn,
    arms: &[(String, String)],
) -> Result<Vec<(i64, i64)>, ServeError> {
    arms.iter()
        .map(|(creative, segment)| {
            let row: Option<(i64, i64)> = event_counters::table
                .filter(event_counters::creative_id.eq(creative))
                .filter(event_counters::segment_key.eq(segment))
                .select((event_counters::impressions, event_counters::clicks))
                .first(conn)
                .optional()?;
            Ok(row.unwrap_or((0, 0)))
        })
        .collect()
}

impl Serving {
    /// Answers an ad server's request: the chosen creative with signed event URLs, or `None`
    /// when there is nothing to show.
    pub async fn serve(&self, body: ServeRequest) -> Result<Option<ServeResponse>, ServeError> {
        let request = ad_request(body.request)?;
        let user = body
            .user_key
            .as_deref()
            .map(|key| UserKeyHash::new(&self.salt, key).to_hex());
        let (compiled, plan, values) = self
            .lookup(&body.placement_key, |compiled| {
                RequestPlan::new(compiled, &request, user.as_deref())
            })
            .await?
            .ok_or(ServeError::NotFound("placement key"))?;
        // Drop the candidates the viewer has seen enough (per creative, and the whole campaign).
        let (caps, arm_values) = if plan.capped {
            values.split_at(1 + plan.candidates.len())
        } else {
            values.split_at(0)
        };
        let campaign_capped = caps
            .first()
            .is_some_and(|n| n.unwrap_or(0) >= i64::from(self.caps.per_campaign));
        let (mut candidates, mut cached) = (Vec::new(), Vec::new());
        for (i, &candidate) in plan.candidates.iter().enumerate() {
            let seen = caps.get(1 + i).copied().flatten().unwrap_or(0);
            if !campaign_capped && seen < i64::from(self.caps.per_creative) {
                candidates.push(candidate);
                cached.extend_from_slice(&arm_values[2 * i..2 * i + 2]);
            }
        }
        self.choose_and_answer(
            &compiled,
            &candidates,
            &cached,
            user,
            body.format.as_deref(),
        )
        .await
    }

    /// Picks one of `candidates` with Thompson sampling, counts it against the viewer's caps
    /// and answers with signed event URLs.
    async fn choose_and_answer(
        &self,
        compiled: &Compiled,
        candidates: &[usize],
        cached: &[Option<i64>],
        user: Option<String>,
        format: Option<&str>,
    ) -> Result<Option<ServeResponse>, ServeError> {
        if candidates.is_empty() {
            return Ok(None);
        }
        let arms: Vec<(String, String)> = candidates
            .iter()
            .map(|&i| {
                let c = &compiled.creatives[i];
                (c.id.clone(), c.segment_key.clone())
            })
            .collect();
        let stats = self.arm_stats(&arms, cached).await?;
        let chosen = ThompsonSampler::from_entropy(ThompsonConfig::default())
            .ok()
            .and_then(|mut sampler| sampler.choose(&stats))
            .unwrap_or(0);
        let creative = &compiled.creatives[candidates[chosen]];
        if let Some(user) = &user {
            let counted = self
                .cache
                .incr_many(
                    &[
                        creative_cap_key(user, &creative.id),
                        campaign_cap_key(user, &compiled.campaign_id),
                    ],
                    self.caps.window,
                )
                .await;
            if let Err(error) = counted {
                tracing::warn!(%error, "frequency caps not counted");
            }
        }
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let expires = chrono::Utc::now().timestamp() + DAY.as_secs() as i64;
        let token = |kind: char| {
            self.signer.sign(&EventClaim {
                kind,
                creative: creative.id.clone(),
                segment: creative.segment_key.clone(),
                nonce: nonce.clone(),
                expires,
            })
        };
        let image = creative.image.as_ref().map(|asset| {
            let (w, h) = crate::domain::placements::parse_size(&asset.size)
                .map(|size| (size.width, size.height))
                .unwrap_or((0, 0));
            ServedImage {
                url: format!("{}/assets/{}", self.public_url, asset.asset),
                w,
                h,
            }
        });
        let mut response = ServeResponse {
            creative_id: creative.id.clone(),
            segment_id: (creative.segment_key != "-").then(|| creative.segment_key.clone()),
            headline: creative.headline.clone(),
            body: creative.body.clone(),
            cta: creative.cta.clone(),
            disclaimer: compiled.disclaimer.clone(),
            image,
            impression_url: format!("{}/e/{}", self.public_url, token('i')),
            click_url: format!("{}/e/{}", self.public_url, token('c')),
            adm: None,
        };
        if format == Some("openrtb") {
            response.adm = Some(openrtb::native_markup(&response));
        }
        Ok(Some(response))
    }

    /// Impression and click counts per (creative, segment); missing cache entries are seeded
    /// from the database.
    /// `cached` holds the cache's impression and click values of each arm, in order.
    async fn arm_stats(
        &self,
        arms: &[(String, String)],
        cached: &[Option<i64>],
    ) -> Result<Vec<ArmStats>, ServeError> {
        let mut stats = Vec::with_capacity(arms.len());
        let mut missing = Vec::new();
        for (i, arm) in arms.iter().enumerate() {
            match (cached[2 * i], cached[2 * i + 1]) {
                (Some(impressions), Some(clicks)) => stats.push(ArmStats {
                    impressions: impressions.max(0) as u64,
                    clicks: clicks.max(0) as u64,
                }),
                _ => {
                    missing.push((i, arm.clone()));
                    stats.push(ArmStats::default());
                }
            }
        }
        if !missing.is_empty() {
            let wanted: Vec<(String, String)> =
                missing.iter().map(|(_, arm)| arm.clone()).collect();
            let counts = self
                .store
                .run(move |conn| counts_from_db(conn, &wanted))
                .await?;
            for ((i, (creative, segment)), (impressions, clicks)) in missing.into_iter().zip(counts)
            {
                let _ = self
                    .cache
                    .set_if_absent(&arm_key('i', &creative, &segment), impressions)
                    .await;
                let _ = self
                    .cache
                    .set_if_absent(&arm_key('c', &creative, &segment), clicks)
                    .await;
                stats[i] = ArmStats {
                    impressions: impressions.max(0) as u64,
                    clicks: clicks.max(0) as u64,
                };
            }
        }
        Ok(stats)
    }
}
