//! Ad serving: `POST /v1/serve` picks a creative for an ad request (segment match, frequency
//! cap, Thompson sampling) and answers JSON or OpenRTB Native 1.2 markup with signed event URLs;
//! `GET /e/{token}` records impressions and clicks; `GET /v1/campaigns/{id}/stats` reports them.
//!
//! What a placement may serve (its live campaign's segment rules and approved creatives) is
//! precomputed into a payload stored in the cache under the placement's serving key, tagged
//! with the cache's serving version. Every change through the API bumps the version and
//! recomputes the changing advertiser's payloads; generation workers bump it when they
//! auto-approve creatives ([`ChangeSignal`]); a server rebuilds every payload at start. A
//! request compares the version (one cache read) with the payload this replica compiled last
//! and, when it is out of date, reads the payload from the cache, or rebuilds it from the
//! database when the cache lost it (Redis flushed or restarted).
//!
//! Events are written to the database first, then to the cache's bandit counts, so flushing
//! Redis loses no acknowledged event.

pub mod cache;
pub mod signing;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use adforge_targeting::{
    AdRequest, ArmStats, Rule, SegmentIndex, ThompsonConfig, ThompsonSampler, UserKeyHash,
};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Tenant;
use crate::http::json::{ValidJson, Validate};
use crate::http::problem::ApiError;
use crate::resources::creatives::ImageAsset;
use crate::resources::{campaigns, json_from_text};
use crate::store::schema::{
    brand_kits, campaigns as campaigns_table, creatives, event_counters, event_nonces, placements,
    segments,
};
use crate::store::{now_millis, Conn, Store};
use cache::{Cache, CacheError};
use signing::{EventClaim, Signer};

/// Longest a replica serves from a compiled placement without reading the cache's version
/// successfully (the cache is down): after this it rebuilds from the database.
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(5);
/// Oldest a payload may be, even with an unchanged version: a safety net for changes nobody
/// signalled (workers without a shared cache).
pub const PAYLOAD_MAX_AGE: Duration = Duration::from_secs(60);
const VERSION_KEY: &str = "adforge:serving:version";
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Serving state shared by handlers.
pub struct Serving {
    cache: Cache,
    signer: Signer,
    salt: Vec<u8>,
    public_url: String,
    caps: (u32, u32),
    compiled: RwLock<HashMap<String, Arc<Compiled>>>,
}

/// What a placement serves, as precomputed and stored in the cache.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
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
struct Compiled {
    version: i64,
    built_at: i64,
    /// When this replica compiled it.
    compiled: Instant,
    campaign_id: String,
    disclaimer: Option<String>,
    index: SegmentIndex<String>,
    /// Segments without rules: they match every request.
    everyone: Vec<String>,
    creatives: Vec<ServedCreative>,
}

impl Compiled {
    /// Whether it still reflects what may be served at `version`.
    fn current(&self, version: i64) -> bool {
        current_at(self.version, self.built_at, version)
    }
}

/// What one ad request needs from the cache: its candidate creatives (indexes into
/// [`Compiled::creatives`]) and the keys of their frequency-cap and bandit counts.
struct RequestPlan {
    candidates: Vec<usize>,
    /// With a viewer: the campaign cap key, then one cap key per candidate. Then an impression
    /// and a click key per candidate.
    keys: Vec<String>,
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

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ServedCreative {
    id: String,
    segment_key: String,
    headline: String,
    body: String,
    cta: String,
    image: Option<ImageAsset>,
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

/// Tells the serving replicas, from synchronous code, that what may be served has changed.
#[derive(Clone)]
pub enum ChangeSignal {
    /// Through this process's serving cache (in-process workers).
    Cache(Cache),
    /// Through the Redis the replicas share (`adforge worker` processes).
    Redis(redis::Client),
    /// Nobody to tell: replicas notice within [`PAYLOAD_MAX_AGE`].
    Off,
}

impl ChangeSignal {
    /// The signal for a separate worker process: Redis when a URL is configured.
    pub fn for_worker_process(redis_url: Option<&str>) -> Result<Self, CacheError> {
        Ok(match redis_url {
            Some(url) => ChangeSignal::Redis(redis::Client::open(url)?),
            None => ChangeSignal::Off,
        })
    }

    /// Bumps the serving version; failures are logged (replicas still notice in time).
    pub fn send(&self) {
        let outcome = match self {
            ChangeSignal::Cache(cache) => cache.incr_blocking(VERSION_KEY).map(drop),
            ChangeSignal::Redis(client) => {
                cache::redis_incr_blocking(client, VERSION_KEY).map(drop)
            }
            ChangeSignal::Off => Ok(()),
        };
        if let Err(error) = outcome {
            tracing::warn!(%error, "could not bump the serving version");
        }
    }
}

impl Serving {
    /// Serving over `cache`, signing event URLs with `secret`.
    pub fn new(cache: Cache, secret: &[u8], public_url: String, caps: (u32, u32)) -> Self {
        Serving {
            cache,
            signer: Signer::new(secret),
            salt: secret.to_vec(),
            public_url,
            caps,
            compiled: RwLock::default(),
        }
    }

    /// The cache in use.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Something that may change what is served happened (for `advertiser`, when known):
    /// bumps the version on every replica and recomputes that advertiser's payloads.
    pub async fn changed(&self, store: &Store, advertiser: Option<String>) {
        let version = match self.cache.incr(VERSION_KEY, 1, None).await {
            // The key was gone (cache flushed): restart from the clock, not from 1, so no
            // replica's older copy can carry the same version.
            Ok(1) => {
                let version = now_millis();
                let _ = self.cache.set(VERSION_KEY, version).await;
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
        if let (Some(advertiser), true) = (advertiser, version >= 0) {
            self.precompute(store, Some(advertiser), version).await;
        }
    }

    /// Rebuilds every placement's payload from the database (at start).
    pub async fn rebuild_all(&self, store: &Store) {
        let version = self.version().await;
        if version >= 0 {
            self.precompute(store, None, version).await;
        }
    }

    /// Builds and stores the payloads of every served placement (of one advertiser, or all).
    async fn precompute(&self, store: &Store, advertiser: Option<String>, version: i64) {
        let built = store
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
                Ok::<_, ApiError>(built)
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
        let key = [VERSION_KEY.to_string()];
        match self.cache.get_many(&key).await {
            Ok(values) => match values.first().copied().flatten() {
                Some(version) => version,
                None => {
                    let _ = self.cache.set_if_absent(VERSION_KEY, now_millis()).await;
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
    async fn lookup(
        &self,
        store: &Store,
        serve_key: &str,
        plan: impl Fn(&Compiled) -> RequestPlan,
    ) -> Result<Option<(Arc<Compiled>, RequestPlan, Vec<Option<i64>>)>, ApiError> {
        let local = self.local(serve_key);
        let local_plan = local.as_deref().map(&plan);
        let mut keys = vec![VERSION_KEY.to_string()];
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
            _ => match self.refresh(store, serve_key, version).await? {
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
        store: &Store,
        serve_key: &str,
        version: i64,
    ) -> Result<Option<Arc<Compiled>>, ApiError> {
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
                let Some(built) = store
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

    /// Impression and click counts per (creative, segment); missing cache entries are seeded
    /// from the database.
    /// `cached` holds the cache's impression and click values of each arm, in order.
    async fn arm_stats(
        &self,
        store: &Store,
        arms: &[(String, String)],
        cached: &[Option<i64>],
    ) -> Result<Vec<ArmStats>, ApiError> {
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
            let counts = store.run(move |conn| counts_from_db(conn, &wanted)).await?;
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

fn arm_key(kind: char, creative: &str, segment: &str) -> String {
    format!("adforge:arm:{kind}:{creative}:{segment}")
}

fn counts_from_db(conn: &mut Conn, arms: &[(String, String)]) -> Result<Vec<(i64, i64)>, ApiError> {
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

/// Reads a placement's payload from the database; `None` when no placement has this key.
fn build_payload(
    conn: &mut Conn,
    serve_key: &str,
    version: i64,
) -> Result<Option<Payload>, ApiError> {
    let Some((placement_id, campaign_id)) = placements::table
        .filter(placements::serve_key.eq(serve_key))
        .select((placements::id, placements::campaign_id))
        .first::<(String, String)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let (status, brand_kit): (String, Option<String>) = campaigns_table::table
        .filter(campaigns_table::id.eq(&campaign_id))
        .select((campaigns_table::status, campaigns_table::brand_kit_id))
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
            let assets: Vec<ImageAsset> = json_from_text(&assets)?;
            Ok(ServedCreative {
                id,
                segment_key: segment.unwrap_or_else(|| "-".into()),
                headline,
                body,
                cta,
                image: assets.into_iter().next(),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Some(payload))
}

/// An ad server's request for a creative.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServeRequest {
    /// The placement's public serving key.
    pub placement_key: String,
    /// Attributes of the ad request (age, gender, country, region, city, language, device, os,
    /// interests, keywords, timestamp, time_zone, attributes); `timestamp` defaults to now and
    /// `time_zone` to UTC.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub request: serde_json::Value,
    /// A stable identifier of the viewer for frequency capping (hashed before use).
    #[serde(default)]
    pub user_key: Option<String>,
    /// `json` (default) or `openrtb` for an OpenRTB Native 1.2 `adm`.
    #[serde(default)]
    pub format: Option<String>,
}

impl Validate for ServeRequest {
    fn validate(&self) -> Result<(), ApiError> {
        if !matches!(
            self.format.as_deref(),
            None | Some("json") | Some("openrtb")
        ) {
            return Err(ApiError::field("format", "must be json or openrtb"));
        }
        if !self.request.is_object() && !self.request.is_null() {
            return Err(ApiError::field("request", "must be an object"));
        }
        Ok(())
    }
}

/// The chosen creative.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServeResponse {
    /// Creative id.
    pub creative_id: String,
    /// The segment it was chosen for, if any.
    pub segment_id: Option<String>,
    /// Headline.
    pub headline: String,
    /// Body.
    pub body: String,
    /// Call to action.
    pub cta: String,
    /// The brand's legal text, to show with the ad (it is also drawn on the image).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disclaimer: Option<String>,
    /// Image URL with its size, if the creative has one.
    pub image: Option<ServedImage>,
    /// Fire when the ad is shown.
    pub impression_url: String,
    /// Send the viewer here on a click; it records the click and redirects to the landing page.
    pub click_url: String,
    /// OpenRTB Native 1.2 markup (a JSON string), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adm: Option<String>,
}

/// An image of a served creative.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServedImage {
    /// Absolute URL.
    pub url: String,
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
}

fn ad_request(value: serde_json::Value) -> Result<AdRequest, ApiError> {
    let mut object = match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    object
        .entry("timestamp")
        .or_insert_with(|| serde_json::Value::String(chrono::Utc::now().to_rfc3339()));
    object
        .entry("time_zone")
        .or_insert_with(|| serde_json::Value::String("UTC".into()));
    crate::http::json::from_value::<AdRequest>(serde_json::Value::Object(object)).map_err(|error| {
        match error {
            ApiError::Invalid {
                status,
                field,
                detail,
            } => ApiError::Invalid {
                status,
                field: Some(format!("request.{}", field.unwrap_or_default())),
                detail,
            },
            other => other,
        }
    })
}

#[utoipa::path(post, path = "/v1/serve", tag = "serving", request_body = ServeRequest,
    responses((status = 200, body = ServeResponse), (status = 204, description = "no creative to show"),
        (status = 404, body = crate::http::problem::Problem)))]
async fn serve(
    store: web::Data<Store>,
    serving: web::Data<Serving>,
    body: ValidJson<ServeRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let request = ad_request(body.request)?;
    let user = body
        .user_key
        .as_deref()
        .map(|key| UserKeyHash::new(&serving.salt, key).to_hex());
    let (compiled, plan, values) = serving
        .lookup(&store, &body.placement_key, |compiled| {
            RequestPlan::new(compiled, &request, user.as_deref())
        })
        .await?
        .ok_or(ApiError::NotFound("placement key"))?;
    // Drop the candidates the viewer has seen enough (per creative, and the whole campaign).
    let (caps, arm_values) = if plan.capped {
        values.split_at(1 + plan.candidates.len())
    } else {
        values.split_at(0)
    };
    let campaign_capped = caps
        .first()
        .is_some_and(|n| n.unwrap_or(0) >= i64::from(serving.caps.1));
    let (mut candidates, mut cached) = (Vec::new(), Vec::new());
    for (i, &candidate) in plan.candidates.iter().enumerate() {
        let seen = caps.get(1 + i).copied().flatten().unwrap_or(0);
        if !campaign_capped && seen < i64::from(serving.caps.0) {
            candidates.push(candidate);
            cached.extend_from_slice(&arm_values[2 * i..2 * i + 2]);
        }
    }
    choose_and_answer(
        &store,
        &serving,
        &compiled,
        &candidates,
        &cached,
        user,
        body.format.as_deref(),
    )
    .await
}

/// Picks one of `candidates` with Thompson sampling, counts it against the viewer's caps and
/// answers with signed event URLs.
async fn choose_and_answer(
    store: &Store,
    serving: &Serving,
    compiled: &Compiled,
    candidates: &[usize],
    cached: &[Option<i64>],
    user: Option<String>,
    format: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    if candidates.is_empty() {
        return Ok(HttpResponse::NoContent().finish());
    }
    let arms: Vec<(String, String)> = candidates
        .iter()
        .map(|&i| {
            let c = &compiled.creatives[i];
            (c.id.clone(), c.segment_key.clone())
        })
        .collect();
    let stats = serving.arm_stats(store, &arms, cached).await?;
    let chosen = ThompsonSampler::from_entropy(ThompsonConfig::default())
        .ok()
        .and_then(|mut sampler| sampler.choose(&stats))
        .unwrap_or(0);
    let creative = &compiled.creatives[candidates[chosen]];
    if let Some(user) = &user {
        let counted = serving
            .cache
            .incr_many(
                &[
                    creative_cap_key(user, &creative.id),
                    campaign_cap_key(user, &compiled.campaign_id),
                ],
                DAY,
            )
            .await;
        if let Err(error) = counted {
            tracing::warn!(%error, "frequency caps not counted");
        }
    }
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let expires = chrono::Utc::now().timestamp() + DAY.as_secs() as i64;
    let token = |kind: char| {
        serving.signer.sign(&EventClaim {
            kind,
            creative: creative.id.clone(),
            segment: creative.segment_key.clone(),
            nonce: nonce.clone(),
            expires,
        })
    };
    let image = creative.image.as_ref().map(|asset| {
        let (w, h) = crate::resources::placements::parse_size(&asset.size).unwrap_or((0, 0));
        ServedImage {
            url: format!("{}/assets/{}", serving.public_url, asset.asset),
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
        impression_url: format!("{}/e/{}", serving.public_url, token('i')),
        click_url: format!("{}/e/{}", serving.public_url, token('c')),
        adm: None,
    };
    if format == Some("openrtb") {
        response.adm = Some(openrtb_native(&response));
    }
    Ok(HttpResponse::Ok().json(response))
}

/// OpenRTB Native 1.2 response markup for a served creative.
fn openrtb_native(served: &ServeResponse) -> String {
    let mut assets = vec![
        serde_json::json!({"id": 1, "required": 1, "title": {"text": served.headline, "len": served.headline.chars().count()}}),
        serde_json::json!({"id": 3, "required": 0, "data": {"type": 2, "value": served.body, "len": served.body.chars().count()}}),
        serde_json::json!({"id": 4, "required": 0, "data": {"type": 12, "value": served.cta, "len": served.cta.chars().count()}}),
    ];
    if let Some(disclaimer) = &served.disclaimer {
        // Data type 10 (`desc2`): additional descriptive text.
        assets.push(serde_json::json!({"id": 5, "required": 0, "data": {"type": 10, "value": disclaimer, "len": disclaimer.chars().count()}}));
    }
    if let Some(image) = &served.image {
        assets.push(serde_json::json!({"id": 2, "required": 0, "img": {"type": 3, "url": image.url, "w": image.w, "h": image.h}}));
    }
    serde_json::json!({
        "native": {
            "ver": "1.2",
            "assets": assets,
            "link": {"url": served.click_url},
            "eventtrackers": [{"event": 1, "method": 1, "url": served.impression_url}],
        }
    })
    .to_string()
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

async fn event(
    store: web::Data<Store>,
    serving: web::Data<Serving>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let claim = serving
        .signer
        .verify(&token, chrono::Utc::now().timestamp())
        .ok_or_else(|| {
            ApiError::bad_request(Some("token".into()), "invalid or expired event token")
        })?;
    let recorded_claim = claim.clone();
    let (recorded, landing) = store
        .run(move |conn| {
            let recorded = match record_event(conn, &recorded_claim) {
                Ok(recorded) => recorded,
                // A concurrent replay of the same token lost the race on the nonce's key.
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => false,
                Err(error) => return Err(ApiError::from(error)),
            };
            let landing: Option<String> = if recorded_claim.kind == 'c' {
                creatives::table
                    .inner_join(
                        campaigns_table::table.on(campaigns_table::id.eq(creatives::campaign_id)),
                    )
                    .filter(creatives::id.eq(&recorded_claim.creative))
                    .select(campaigns_table::landing_url)
                    .first(conn)
                    .optional()?
            } else {
                None
            };
            Ok::<_, ApiError>((recorded, landing))
        })
        .await?;
    if recorded {
        // The database has the event; bring the bandit's cached count along. A missing key
        // (cache flushed) is re-seeded from the database on the next request that needs it.
        let key = arm_key(claim.kind, &claim.creative, &claim.segment);
        if let Ok(1) = serving.cache.incr(&key, 1, None).await {
            let arm = vec![(claim.creative.clone(), claim.segment.clone())];
            if let Ok(counts) = store.run(move |conn| counts_from_db(conn, &arm)).await {
                let value = if claim.kind == 'i' {
                    counts[0].0
                } else {
                    counts[0].1
                };
                let _ = serving.cache.set(&key, value).await;
            }
        }
    }
    match (claim.kind, landing) {
        ('c', Some(url)) => Ok(HttpResponse::Found()
            .insert_header(("Location", url))
            .finish()),
        ('c', None) => Err(ApiError::NotFound("creative")),
        _ => Ok(HttpResponse::NoContent().finish()),
    }
}

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

#[utoipa::path(get, path = "/v1/campaigns/{id}/stats", tag = "serving",
    responses((status = 200, body = CampaignStats), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn stats(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let stats = store
        .run(move |conn| {
            let campaign = campaigns::find(conn, &tenant.advertiser_id, &id)?;
            let rows: Vec<(String, String, String, i64, i64)> = event_counters::table
                .inner_join(creatives::table.on(creatives::id.eq(event_counters::creative_id)))
                .filter(creatives::campaign_id.eq(&campaign.id))
                .filter(creatives::advertiser_id.eq(&tenant.advertiser_id))
                .select((
                    creatives::id,
                    creatives::headline,
                    event_counters::segment_key,
                    event_counters::impressions,
                    event_counters::clicks,
                ))
                .load(conn)?;
            let names: HashMap<String, String> = segments::table
                .filter(segments::campaign_id.eq(&campaign.id))
                .select((segments::id, segments::name))
                .load::<(String, String)>(conn)?
                .into_iter()
                .collect();
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
            Ok::<_, ApiError>(CampaignStats {
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
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(stats))
}

/// A placement's public serving key.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServeKey {
    /// Give this to the ad server; `POST` again to rotate, `DELETE` to revoke.
    pub serve_key: String,
}

async fn set_serve_key(
    store: &Store,
    tenant: Tenant,
    id: String,
    key: Option<String>,
) -> Result<(), ApiError> {
    store
        .run(move |conn| {
            let updated = diesel::update(
                placements::table
                    .filter(placements::advertiser_id.eq(&tenant.advertiser_id))
                    .filter(placements::id.eq(&id)),
            )
            .set(placements::serve_key.eq(key))
            .execute(conn)?;
            (updated == 1)
                .then_some(())
                .ok_or(ApiError::NotFound("placement"))
        })
        .await?;
    // The change middleware recomputes the advertiser's serving payloads.
    Ok(())
}

#[utoipa::path(post, path = "/v1/placements/{id}/serve-key", tag = "serving",
    responses((status = 200, body = ServeKey), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn rotate_serve_key(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = format!("pk_{}", uuid::Uuid::new_v4().simple());
    set_serve_key(&store, tenant, id.into_inner(), Some(key.clone())).await?;
    Ok(HttpResponse::Ok().json(ServeKey { serve_key: key }))
}

#[utoipa::path(delete, path = "/v1/placements/{id}/serve-key", tag = "serving",
    responses((status = 204), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn revoke_serve_key(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_serve_key(&store, tenant, id.into_inner(), None).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers `/v1` serving routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/serve", web::post().to(serve))
        .route("/campaigns/{id}/stats", web::get().to(stats))
        .route(
            "/placements/{id}/serve-key",
            web::post().to(rotate_serve_key),
        )
        .route(
            "/placements/{id}/serve-key",
            web::delete().to(revoke_serve_key),
        );
}

/// Registers the event route (outside `/v1`: its URLs are handed to browsers).
pub fn event_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/e/{token}", web::get().to(event));
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(serve, stats, rotate_serve_key, revoke_serve_key))]
pub struct Api;
