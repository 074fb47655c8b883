//! A campaign's performance: impressions, clicks and click rate, in total, per creative and
//! per segment, from the database's event counters.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ServeError, Serving};
use crate::store::schema::{campaigns, creatives, event_counters, segments};

/// Events of one creative or segment.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsLine {
    /// Creative id (per-creative lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creative_id: Option<String>,
    /// Headline (per-creative lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    /// Segment id, `null` for creatives without a segment (per-segment lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_id: Option<Option<String>>,
    /// Segment name (per-segment lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Impressions.
    pub impressions: i64,
    /// Clicks.
    pub clicks: i64,
    /// Clicks per impression (0 without impressions).
    pub ctr: f64,
}

/// A campaign's performance.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignStats {
    /// Whole campaign.
    pub totals: StatsLine,
    /// Per creative.
    pub creatives: Vec<StatsLine>,
    /// Per segment.
    pub segments: Vec<StatsLine>,
}

fn line(impressions: i64, clicks: i64) -> StatsLine {
    let ctr = if impressions > 0 {
        clicks as f64 / impressions as f64
    } else {
        0.0
    };
    StatsLine {
        creative_id: None,
        headline: None,
        segment_id: None,
        name: None,
        impressions,
        clicks,
        ctr,
    }
}

impl Serving {
    /// The performance of the advertiser's campaign `campaign_id`.
    pub async fn campaign_stats(
        &self,
        advertiser_id: &str,
        campaign_id: &str,
    ) -> Result<CampaignStats, ServeError> {
        let (advertiser_id, campaign_id) = (advertiser_id.to_string(), campaign_id.to_string());
        self.store
            .run(move |conn| {
                let owned: i64 = campaigns::table
                    .filter(campaigns::advertiser_id.eq(&advertiser_id))
                    .filter(campaigns::id.eq(&campaign_id))
                    .count()
                    .get_result(conn)?;
                if owned == 0 {
                    return Err(ServeError::NotFound("campaign"));
                }
                let rows: Vec<(String, String, String, i64, i64)> = event_counters::table
                    .inner_join(creatives::table.on(creatives::id.eq(event_counters::creative_id)))
                    .filter(creatives::campaign_id.eq(&campaign_id))
                    .filter(creatives::advertiser_id.eq(&advertiser_id))
                    .select((
                        creatives::id,
                        creatives::headline,
                        event_counters::segment_key,
                        event_counters::impressions,
                        event_counters::clicks,
                    ))
                    .load(conn)?;
                let names: HashMap<String, String> = segments::table
                    .filter(segments::campaign_id.eq(&campaign_id))
                    .select((segments::id, segments::name))
                    .load::<(String, String)>(conn)?
                    .into_iter()
                    .collect();
                Ok(summarise(rows, &names))
            })
            .await
    }
}

/// Sums `(creative, headline, segment, impressions, clicks)` rows into totals, per-creative
/// and per-segment lines (in order of first appearance).
fn summarise(
    rows: Vec<(String, String, String, i64, i64)>,
    names: &HashMap<String, String>,
) -> CampaignStats {
    let mut by_creative: Vec<(String, String, i64, i64)> = Vec::new();
    let mut by_segment: Vec<(String, i64, i64)> = Vec::new();
    let (mut total_i, mut total_c) = (0, 0);
    for (creative, headline, segment, impressions, clicks) in rows {
        total_i += impressions;
        total_c += clicks;
        match by_creative.iter_mut().find(|(c, ..)| *c == creative) {
            Some(entry) => (entry.2, entry.3) = (entry.2 + impressions, entry.3 + clicks),
            None => by_creative.push((creative, headline, impressions, clicks)),
        }
        match by_segment.iter_mut().find(|(s, ..)| *s == segment) {
            Some(entry) => (entry.1, entry.2) = (entry.1 + impressions, entry.2 + clicks),
            None => by_segment.push((segment, impressions, clicks)),
        }
    }
    CampaignStats {
        totals: line(total_i, total_c),
        creatives: by_creative
            .into_iter()
            .map(|(creative, headline, i, c)| StatsLine {
                creative_id: Some(creative),
                headline: Some(headline),
                ..line(i, c)
            })
            .collect(),
        segments: by_segment
            .into_iter()
            .map(|(segment, i, c)| {
                let id = (segment != "-").then_some(segment);
                let name = id.as_ref().and_then(|s| names.get(s).cloned());
                StatsLine {
                    segment_id: Some(id),
                    name,
                    ..line(i, c)
                }
            })
            .collect(),
    }
}
