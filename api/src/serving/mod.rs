//! Ad serving: `POST /v1/serve` picks a creative for an ad request (segment match, frequency
//! cap, Thompson sampling) and answers JSON or OpenRTB Native 1.2 markup with signed event URLs;
//! `GET /e/{token}` records impressions and clicks; `GET /v1/campaigns/{id}/stats` reports them.
//!
//! Each replica compiles a placement's servable creatives and segment index from the database
//! and keeps it while the cache's serving version is unchanged (every successful change through
//! the API bumps it) and for at most [`SNAPSHOT_TTL`]. Events are written to the database first,
//! then to the cache's bandit counts, so flushing Redis loses no acknowledged event.

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
    campaigns as campaigns_table, creatives, event_counters, event_nonces, placements, segments,
};
use crate::store::{now_millis, Conn, Store};
use cache::Cache;
use signing::{EventClaim, Signer};

/// Longest a replica serves from a compiled placement without looking at the database.
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(5);
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

/// A placement's servable state, compiled for fast requests.
struct Compiled {
    version: i64,
    built: Instant,
    campaign_id: String,
    index: SegmentIndex<String>,
    /// Segments without rules: they match every request.
    everyone: Vec<String>,
    creatives: Vec<ServedCreative>,
}

#[derive(Clone, Debug)]
struct ServedCreative {
    id: String,
    segment_key: String,
    headline: String,
    body: String,
    cta: String,
    image: Option<ImageAsset>,
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

    /// Marks every compiled placement stale, on every replica.
    pub async fn invalidate(&self) {
        if let Err(error) = self.cache.incr(VERSION_KEY, 1, None).await {
            tracing::warn!(%error, "could not bump the serving version");
        }
        if let Ok(mut compiled) = self.compiled.write() {
            compiled.clear();
        }
    }

    async fn version(&self) -> i64 {
        match self.cache.get_many(&[VERSION_KEY.to_string()]).await {
            Ok(values) => values.first().copied().flatten().unwrap_or(0),
            // Without the cache, rebuild on the TTL alone.
            Err(_) => -1,
        }
    }

    async fn compiled(
        &self,
        store: &Store,
        serve_key: &str,
    ) -> Result<Option<Arc<Compiled>>, ApiError> {
        let version = self.version().await;
        if let Some(entry) = self
            .compiled
            .read()
            .ok()
            .and_then(|c| c.get(serve_key).cloned())
        {
            if entry.version == version && entry.built.elapsed() < SNAPSHOT_TTL {
                return Ok(Some(entry));
            }
        }
        let key = serve_key.to_string();
        let built = store.run(move |conn| compile(conn, &key, version)).await?;
        if let (Some(entry), Ok(mut compiled)) = (&built, self.compiled.write()) {
            compiled.insert(serve_key.to_string(), entry.clone());
        }
        Ok(built)
    }

    /// Impression and click counts per (creative, segment); missing cache entries are seeded
    /// from the database.
    async fn arm_stats(
        &self,
        store: &Store,
        arms: &[(String, String)],
    ) -> Result<Vec<ArmStats>, ApiError> {
        let keys: Vec<String> = arms
            .iter()
            .flat_map(|(c, s)| [arm_key('i', c, s), arm_key('c', c, s)])
            .collect();
        let cached = self
            .cache
            .get_many(&keys)
            .await
            .unwrap_or_else(|_| vec![None; keys.len()]);
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

/// Builds a placement's servable state; `None` when no placement has this key.
fn compile(
    conn: &mut Conn,
    serve_key: &str,
    version: i64,
) -> Result<Option<Arc<Compiled>>, ApiError> {
    let Some((placement_id, campaign_id)) = placements::table
        .filter(placements::serve_key.eq(serve_key))
        .select((placements::id, placements::campaign_id))
        .first::<(String, String)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let status: String = campaigns_table::table
        .filter(campaigns_table::id.eq(&campaign_id))
        .select(campaigns_table::status)
        .first(conn)?;
    let mut compiled = Compiled {
        version,
        built: Instant::now(),
        campaign_id: campaign_id.clone(),
        index: SegmentIndex::build(Vec::new()),
        everyone: Vec::new(),
        creatives: Vec::new(),
    };
    if status != "live" {
        return Ok(Some(Arc::new(compiled)));
    }
    let rules: Vec<(String, String)> = segments::table
        .filter(segments::campaign_id.eq(&campaign_id))
        .select((segments::id, segments::rules))
        .load(conn)?;
    let mut with_rules = Vec::new();
    for (id, text) in rules {
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Null) => compiled.everyone.push(id),
            Ok(value) => match Rule::from_json(&value) {
                Ok(rule) => with_rules.push((id, rule)),
                Err(error) => {
                    tracing::warn!(segment = %id, %error, "stored rule no longer parses; segment not served")
                }
            },
            Err(error) => {
                tracing::warn!(segment = %id, %error, "stored rule is not JSON; segment not served")
            }
        }
    }
    compiled.index = SegmentIndex::build(with_rules);
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
    compiled.creatives = rows
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
    Ok(Some(Arc::new(compiled)))
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
    let compiled = serving
        .compiled(&store, &body.placement_key)
        .await?
        .ok_or(ApiError::NotFound("placement key"))?;
    let mut matched = compiled.index.matching(&request);
    matched.extend(compiled.everyone.iter().cloned());
    let mut candidates: Vec<&ServedCreative> = compiled
        .creatives
        .iter()
        .filter(|c| matched.contains(&c.segment_key))
        .collect();
    if candidates.is_empty() {
        candidates = compiled
            .creatives
            .iter()
            .filter(|c| c.segment_key == "-")
            .collect();
    }
    let user = body
        .user_key
        .as_deref()
        .map(|key| UserKeyHash::new(&serving.salt, key).to_hex());
    if let Some(user) = &user {
        let campaign_key = format!("adforge:fc:campaign:{user}:{}", compiled.campaign_id);
        let mut keys = vec![campaign_key];
        keys.extend(
            candidates
                .iter()
                .map(|c| format!("adforge:fc:creative:{user}:{}", c.id)),
        );
        let counts = serving
            .cache
            .get_many(&keys)
            .await
            .unwrap_or_else(|_| vec![None; keys.len()]);
        if counts[0].unwrap_or(0) >= i64::from(serving.caps.1) {
            candidates.clear();
        } else {
            let allowed: Vec<bool> = counts[1..]
                .iter()
                .map(|n| n.unwrap_or(0) < i64::from(serving.caps.0))
                .collect();
            let mut allowed = allowed.into_iter();
            candidates.retain(|_| allowed.next().unwrap_or(false));
        }
    }
    if candidates.is_empty() {
        return Ok(HttpResponse::NoContent().finish());
    }
    let arms: Vec<(String, String)> = candidates
        .iter()
        .map(|c| (c.id.clone(), c.segment_key.clone()))
        .collect();
    let stats = serving.arm_stats(&store, &arms).await?;
    let chosen = ThompsonSampler::from_entropy(ThompsonConfig::default())
        .ok()
        .and_then(|mut sampler| sampler.choose(&stats))
        .unwrap_or(0);
    let creative = candidates[chosen];
    if let Some(user) = &user {
        let _ = serving
            .cache
            .incr(
                &format!("adforge:fc:creative:{user}:{}", creative.id),
                1,
                Some(DAY),
            )
            .await;
        let _ = serving
            .cache
            .incr(
                &format!("adforge:fc:campaign:{user}:{}", compiled.campaign_id),
                1,
                Some(DAY),
            )
            .await;
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
        image,
        impression_url: format!("{}/e/{}", serving.public_url, token('i')),
        click_url: format!("{}/e/{}", serving.public_url, token('c')),
        adm: None,
    };
    if body.format.as_deref() == Some("openrtb") {
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
    serving: &Serving,
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
    serving.invalidate().await;
    Ok(())
}

#[utoipa::path(post, path = "/v1/placements/{id}/serve-key", tag = "serving",
    responses((status = 200, body = ServeKey), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn rotate_serve_key(
    store: web::Data<Store>,
    serving: web::Data<Serving>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = format!("pk_{}", uuid::Uuid::new_v4().simple());
    set_serve_key(&store, &serving, tenant, id.into_inner(), Some(key.clone())).await?;
    Ok(HttpResponse::Ok().json(ServeKey { serve_key: key }))
}

#[utoipa::path(delete, path = "/v1/placements/{id}/serve-key", tag = "serving",
    responses((status = 204), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn revoke_serve_key(
    store: web::Data<Store>,
    serving: web::Data<Serving>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_serve_key(&store, &serving, tenant, id.into_inner(), None).await?;
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
