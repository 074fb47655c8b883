//! Payloads and versions: what a placement may serve, precomputed from the database into the
//! cache under its serving key and tagged with the serving version, and this replica's compiled
//! copies of them.

use std::sync::Arc;
use std::time::Instant;

use adforge_targeting::{Rule, SegmentIndex};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::choice::RequestPlan;
use super::{ServeError, Serving, PAYLOAD_MAX_AGE, SNAPSHOT_TTL};
use crate::domain::ImageAsset;
use crate::infra::changes::SERVING_VERSION_KEY;
use crate::store::schema::{brand_kits, campaigns, creatives, placements, segments};
use crate::store::{now_millis, Conn};

/// What a placement serves, as precomputed and stored in the cache.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Payload {
    /// The serving version it was built at.
    version: i64,
    /// When it was read from the database (Unix milliseconds).
    built_at: i64,
    campaign_id: String,
    /// The brand kit's legal text, shown with every creative.
    #[serde(default)]
    disclaimer: Option<String>,
    /// Segments of the live campaign with their rules (`null`: every request).
    segments: Vec<(String, serde_json::Value)>,
    /// Approved creatives for this placement, oldest first.
    creatives: Vec<ServedCreative>,
}

/// A placement's payload, compiled for fast requests.
pub(super) struct Compiled {
    version: i64,
    built_at: i64,
    /// When this replica compiled it.
    compiled: Instant,
    pub(super) campaign_id: String,
    pub(super) disclaimer: Option<String>,
    pub(super) index: SegmentIndex<String>,
    /// Segments without rules: they match every request.
    pub(super) everyone: Vec<String>,
    pub(super) creatives: Vec<ServedCreative>,
}

impl Compiled {
    /// Whether it still reflects what may be served at `version`.
    fn current(&self, version: i64) -> bool {
        current_at(self.version, self.built_at, version)
    }
}

/// A creative as serving needs it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct ServedCreative {
    pub(super) id: String,
    /// The segment it was made for, `-` when none.
    pub(super) segment_key: String,
    pub(super) headline: String,
    pub(super) body: String,
    pub(super) cta: String,
    pub(super) image: Option<ImageAsset>,
}

/// Whether data built at `built_at` (Unix milliseconds) for serving version `built_for` still
/// holds at serving version `version`.
fn current_at(built_for: i64, built_at: i64, version: i64) -> bool {
    built_for == version && now_millis() - built_at < PAYLOAD_MAX_AGE.as_millis() as i64
}

fn payload_key(serve_key: &str) -> String {
    format!("adforge:serving:placement:{serve_key}")
}

impl Payload {
    fn fresh(&self, version: i64) -> bool {
        current_at(self.version, self.built_at, version)
    }

    fn compile(self) -> Compiled {
        let mut everyone = Vec::new();
        let mut with_rules = Vec::new();
        for (id, rules) in self.segments {
            if rules.is_null() {
                everyone.push(id);
                continue;
            }
            match Rule::from_json(&rules) {
                Ok(rule) => with_rules.push((id, rule)),
                Err(error) => {
                    tracing::warn!(segment = %id, %error, "stored rule no longer parses; segment not served")
                }
            }
        }
        Compiled {
            version: self.version,
            built_at: self.built_at,
            compiled: Instant::now(),
            campaign_id: self.campaign_id,
            disclaimer: self.disclaimer,
            index: SegmentIndex::build(with_rules),
            everyone,
            creatives: self.creatives,
        }
    }
}

impl Serving {
    /// Something that may change what is served happened to `advertiser`'s data: bumps the
    /// version on every replica and recomputes that advertiser's payloads.
    pub async fn invalidate(&self, advertiser: &str) {
        let version = match self.cache.incr(SERVING_VERSION_KEY, 1, None).await {
            // The key was gone (cache flushed): restart from the clock, not from 1, so no
            // replica's older copy can carry the same version.
            Ok(1) => {
                let version = now_millis();
                let _ = self.cache.set(SERVING_VERSION_KEY, version).await;
                version
            }
            Ok(version) => version,
            Err(error) => {
                tracing::warn!(%error, "could not bump the serving version");
                -1
            }
        };
        if let Ok(mut compiled) = self.compiled.write() {
            compiled.clear();
        }
        if version >= 0 {
            self.precompute(Some(advertiser.to_string()), version).await;
        }
    }

    /// Rebuilds every placement's payload from the database (at start).
    pub async fn rebuild_all(&self) {
        let version = self.version().await;
        if version >= 0 {
            self.precompute(None, version).await;
        }
    }

    /// Builds and stores the payloads of every served placement (of one advertiser, or all).
    async fn precompute(&self, advertiser: Option<String>, version: i64) {
        let built = self
            .store
            .run(move |conn| {
                let mut query = placements::table
                    .filter(placements::serve_key.is_not_null())
                    .select(placements::serve_key)
                    .into_boxed();
                if let Some(advertiser) = &advertiser {
                    query = query.filter(placements::advertiser_id.eq(advertiser));
                }
                let keys: Vec<Option<String>> = query.load(conn)?;
                let mut built = Vec::new();
                for key in keys.into_iter().flatten() {
                    if let Some(payload) = build_payload(conn, &key, version)? {
                        built.push((key, payload));
                    }
                }
                Ok::<_, ServeError>(built)
            })
            .await;
        let built = match built {
            Ok(built) => built,
            Err(error) => {
                tracing::warn!(%error, "could not precompute serving payloads");
                return;
            }
        };
        for (key, payload) in built {
            self.store_payload(&key, &payload).await;
        }
    }

    async fn store_payload(&self, serve_key: &str, payload: &Payload) {
        let stored = match serde_json::to_string(payload) {
            Ok(text) => self.cache.set_text(&payload_key(serve_key), &text).await,
            Err(error) => {
                tracing::warn!(%error, "could not encode a serving payload");
                return;
            }
        };
        if let Err(error) = stored {
            tracing::warn!(%error, "could not store a serving payload");
        }
    }

    /// The serving version; -1 when the cache cannot be read. A lost version (cache flushed)
    /// restarts from the current time, so it never repeats one a replica still holds.
    async fn version(&self) -> i64 {
        let key = [SERVING_VERSION_KEY.to_string()];
        match self.cache.get_many(&key).await {
            Ok(values) => match values.first().copied().flatten() {
                Some(version) => version,
                None => {
                    let _ = self
                        .cache
                        .set_if_absent(SERVING_VERSION_KEY, now_millis())
                        .await;
                    match self.cache.get_many(&key).await {
                        Ok(values) => values.first().copied().flatten().unwrap_or(-1),
                        Err(_) => -1,
                    }
                }
            },
            Err(_) => -1,
        }
    }

    /// This replica's compiled copy of a placement, if it has one.
    fn local(&self, serve_key: &str) -> Option<Arc<Compiled>> {
        self.compiled
            .read()
            .ok()
            .and_then(|c| c.get(serve_key).cloned())
    }

    /// The placement's compiled state, the request plan `plan` makes from it, and the cache's
    /// values of the plan's keys. When this replica's copy is current (the common case) that is
    /// one cache read: the serving version and the plan's keys together. `None`: no placement
    /// has this key.
    pub(super) async fn lookup(
        &self,
        serve_key: &str,
        plan: impl Fn(&Compiled) -> RequestPlan,
    ) -> Result<Option<(Arc<Compiled>, RequestPlan, Vec<Option<i64>>)>, ServeError> {
        let local = self.local(serve_key);
        let local_plan = local.as_deref().map(&plan);
        let mut keys = vec![SERVING_VERSION_KEY.to_string()];
        if let Some(p) = &local_plan {
            keys.extend(p.keys.iter().cloned());
        }
        let version = match self.cache.get_many(&keys).await {
            Ok(mut values) => match values.first().copied().flatten() {
                Some(version) => {
                    if let (Some(entry), Some(p)) = (&local, local_plan) {
                        if entry.current(version) {
                            values.remove(0);
                            return Ok(Some((entry.clone(), p, values)));
                        }
                    }
                    version
                }
                None => self.version().await,
            },
            Err(_) => -1,
        };
        let entry = match (local, version) {
            // The cache is down: keep serving this replica's copy for a while.
            (Some(entry), -1) if entry.compiled.elapsed() < SNAPSHOT_TTL => entry,
            _ => match self.refresh(serve_key, version).await? {
                Some(entry) => entry,
                None => return Ok(None),
            },
        };
        let p = plan(&entry);
        let values = self
            .cache
            .get_many(&p.keys)
            .await
            .unwrap_or_else(|_| vec![None; p.keys.len()]);
        Ok(Some((entry, p, values)))
    }

    /// Compiles the placement from the cache's payload when it is fresh, else from the
    /// database (storing the payload it builds), and keeps it in this replica.
    async fn refresh(
        &self,
        serve_key: &str,
        version: i64,
    ) -> Result<Option<Arc<Compiled>>, ServeError> {
        let mut payload = None;
        if version >= 0 {
            if let Ok(Some(text)) = self.cache.get_text(&payload_key(serve_key)).await {
                payload = serde_json::from_str::<Payload>(&text)
                    .ok()
                    .filter(|p| p.fresh(version));
            }
        }
        let payload = match payload {
            Some(payload) => payload,
            None => {
                let key = serve_key.to_string();
                let Some(built) = self
                    .store
                    .run(move |conn| build_payload(conn, &key, version))
                    .await?
                else {
                    return Ok(None);
                };
                if version >= 0 {
                    self.store_payload(serve_key, &built).await;
                }
                built
            }
        };
        let entry = Arc::new(payload.compile());
        if let Ok(mut compiled) = self.compiled.write() {
            compiled.insert(serve_key.to_string(), entry.clone());
        }
        Ok(Some(entry))
    }
}

/// Reads a placement's payload from the database; `None` when no placement has this key.
fn build_payload(
    conn: &mut Conn,
    serve_key: &str,
    version: i64,
) -> Result<Option<Payload>, ServeError> {
    let Some((placement_id, campaign_id)) = placements::table
        .filter(placements::serve_key.eq(serve_key))
        .select((placements::id, placements::campaign_id))
        .first::<(String, String)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let (status, brand_kit): (String, Option<String>) = campaigns::table
        .filter(campaigns::id.eq(&campaign_id))
        .select((campaigns::status, campaigns::brand_kit_id))
        .first(conn)?;
    let disclaimer = match brand_kit {
        Some(kit) => brand_kits::table
            .filter(brand_kits::id.eq(kit))
            .select(brand_kits::disclaimer)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten()
            .filter(|d| !d.trim().is_empty()),
        None => None,
    };
    let mut payload = Payload {
        version,
        built_at: now_millis(),
        campaign_id: campaign_id.clone(),
        disclaimer,
        segments: Vec::new(),
        creatives: Vec::new(),
    };
    if status != "live" {
        return Ok(Some(payload));
    }
    let rules: Vec<(String, String)> = segments::table
        .filter(segments::campaign_id.eq(&campaign_id))
        .select((segments::id, segments::rules))
        .load(conn)?;
    for (id, text) in rules {
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(value) => payload.segments.push((id, value)),
            Err(error) => {
                tracing::warn!(segment = %id, %error, "stored rule is not JSON; segment not served")
            }
        }
    }
    let rows: Vec<(String, Option<String>, String, String, String, String)> = creatives::table
        .filter(creatives::campaign_id.eq(&campaign_id))
        .filter(creatives::status.eq("approved"))
        .filter(
            creatives::placement_id
                .eq(&placement_id)
                .or(creatives::placement_id.is_null()),
        )
        .order(creatives::created_at.asc())
        .select((
            creatives::id,
            creatives::segment_id,
            creatives::headline,
            creatives::body,
            creatives::cta,
            creatives::assets,
        ))
        .load(conn)?;
    payload.creatives = rows
        .into_iter()
        .map(|(id, segment, headline, body, cta, assets)| {
            let assets: Vec<ImageAsset> = serde_json::from_str(&assets)?;
            Ok(ServedCreative {
                id,
                segment_key: segment.unwrap_or_else(|| "-".into()),
                headline,
                body,
                cta,
                image: assets.into_iter().next(),
            })
        })
        .collect::<Result<_, ServeError>>()?;
    Ok(Some(payload))
}
