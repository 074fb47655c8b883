//! Payloads and versions: what a placement may serve, precomputed from the database into the
//! cache under its serving key and tagged with two versions, and this replica's compiled
//! copies of them.
//!
//! The global serving version is bumped by generation workers ([`ChangeSignal`]); each
//! advertiser has its own version, bumped by a change committed through the API to that
//! advertiser's data. A payload or a compiled copy is current while both versions it was built
//! at hold, so one tenant's writes rebuild that tenant's placements only, and a write that
//! changed nothing serving reads (a job, a batch, an empty PATCH) rebuilds nothing.
//!
//! [`ChangeSignal`]: crate::infra::changes::ChangeSignal

use std::sync::Arc;
use std::time::Instant;

use adforge_targeting::{Rule, SegmentIndex};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::choice::RequestPlan;
use super::{ServeError, Serving, PAYLOAD_MAX_AGE, SNAPSHOT_TTL};
use crate::domain::ImageAsset;
use crate::infra::changes::{ChangeKind, SERVING_VERSION_KEY};
use crate::store::schema::{brand_kits, campaigns, creatives, placements, segments};
use crate::store::{now_millis, Conn};

/// What a placement serves, as precomputed and stored in the cache.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Payload {
    /// The serving version it was built at.
    version: i64,
    /// The placement's advertiser.
    #[serde(default)]
    advertiser_id: String,
    /// The advertiser's version it was built at.
    #[serde(default = "unknown_version")]
    advertiser_version: i64,
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
    advertiser_id: String,
    advertiser_version: i64,
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
    /// Whether it still reflects what may be served at these versions.
    fn current(&self, version: i64, advertiser_version: i64) -> bool {
        self.advertiser_version == advertiser_version
            && current_at(self.version, self.built_at, version)
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

/// The cache key of an advertiser's serving version.
fn advertiser_version_key(advertiser: &str) -> String {
    format!("{SERVING_VERSION_KEY}:advertiser:{advertiser}")
}

/// The advertiser version of payloads stored before advertisers had one: never current.
fn unknown_version() -> i64 {
    -2
}

/// Whether a change of this kind can change what is served. Jobs and batches change nothing
/// served when they are created or cancelled; the creatives they make reach serving through
/// [`crate::infra::changes::ChangeSignal`].
fn affects_serving(kind: ChangeKind) -> bool {
    !matches!(kind, ChangeKind::GenerationJob | ChangeKind::Batch)
}

impl Payload {
    fn fresh(&self, version: i64, advertiser_version: i64) -> bool {
        self.advertiser_version == advertiser_version
            && current_at(self.version, self.built_at, version)
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
            advertiser_id: self.advertiser_id,
            advertiser_version: self.advertiser_version,
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
    /// A change of `kind` was committed to `advertiser`'s data: when it can change what is
    /// served, bumps that advertiser's version (every replica's copies of its placements go out
    /// of date, nobody else's) and recomputes its payloads.
    pub async fn invalidate(&self, advertiser: &str, kind: ChangeKind) {
        if !affects_serving(kind) {
            return;
        }
        let key = advertiser_version_key(advertiser);
        let advertiser_version = match self.cache.incr(&key, 1, None).await {
            // The key was gone (cache flushed): restart from the clock, not from 1, so no
            // replica's older copy can carry the same version.
            Ok(1) => {
                let version = now_millis();
                let _ = self.cache.set(&key, version).await;
                version
            }
            Ok(version) => version,
            Err(error) => {
                tracing::warn!(%error, "could not bump the advertiser's serving version");
                -1
            }
        };
        if let Ok(mut compiled) = self.compiled.write() {
            compiled.retain(|_, c| c.advertiser_id != advertiser);
        }
        let version = self.version().await;
        if version >= 0 && advertiser_version >= 0 {
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

    /// Builds and stores the payloads of every served placement (of one advertiser, or all)
    /// at the global `version` and each advertiser's current version.
    async fn precompute(&self, advertiser: Option<String>, version: i64) {
        let keys = self
            .store
            .run(move |conn| {
                let mut query = placements::table
                    .filter(placements::serve_key.is_not_null())
                    .select((placements::serve_key, placements::advertiser_id))
                    .into_boxed();
                if let Some(advertiser) = &advertiser {
                    query = query.filter(placements::advertiser_id.eq(advertiser));
                }
                Ok::<_, ServeError>(query.load::<(Option<String>, String)>(conn)?)
            })
            .await;
        let keys = match keys {
            Ok(keys) => keys,
            Err(error) => {
                tracing::warn!(%error, "could not list placements to precompute");
                return;
            }
        };
        let mut versions = std::collections::HashMap::new();
        let mut wanted = Vec::new();
        for (key, owner) in keys {
            let Some(key) = key else { continue };
            if !versions.contains_key(&owner) {
                let owner_version = self.advertiser_version(&owner).await;
                versions.insert(owner.clone(), owner_version);
            }
            match versions.get(&owner) {
                Some(&owner_version) if owner_version >= 0 => wanted.push((key, owner_version)),
                _ => {}
            }
        }
        let built = self
            .store
            .run(move |conn| {
                let mut built = Vec::new();
                for (key, owner_version) in wanted {
                    if let Some(payload) = build_payload(conn, &key, version, owner_version)? {
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
            self.metrics.payload_built();
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
        self.read_version(SERVING_VERSION_KEY).await
    }

    /// An advertiser's serving version, like [`Serving::version`].
    async fn advertiser_version(&self, advertiser: &str) -> i64 {
        self.read_version(&advertiser_version_key(advertiser)).await
    }

    async fn read_version(&self, key: &str) -> i64 {
        let key = [key.to_string()];
        match self.cache.get_many(&key).await {
            Ok(values) => match values.first().copied().flatten() {
                Some(version) => version,
                None => {
                    let _ = self.cache.set_if_absent(&key[0], now_millis()).await;
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
        if let (Some(entry), Some(p)) = (&local, &local_plan) {
            keys.push(advertiser_version_key(&entry.advertiser_id));
            keys.extend(p.keys.iter().cloned());
        }
        let version = match self.cache.get_many(&keys).await {
            Ok(mut values) => match values.first().copied().flatten() {
                Some(version) => {
                    if let (Some(entry), Some(p)) = (&local, local_plan) {
                        let advertiser_version = values.get(1).copied().flatten();
                        if advertiser_version.is_some_and(|v| entry.current(version, v)) {
                            values.drain(..2);
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
        let mut stored = None;
        if version >= 0 {
            if let Ok(Some(text)) = self.cache.get_text(&payload_key(serve_key)).await {
                stored = serde_json::from_str::<Payload>(&text).ok();
            }
        }
        // The advertiser's version, read before the database so a change committed meanwhile
        // leaves the payload out of date rather than looking current.
        let owner = match &stored {
            Some(payload) if !payload.advertiser_id.is_empty() => {
                Some(payload.advertiser_id.clone())
            }
            _ => {
                let key = serve_key.to_string();
                self.store
                    .run(move |conn| {
                        Ok::<_, ServeError>(
                            placements::table
                                .filter(placements::serve_key.eq(&key))
                                .select(placements::advertiser_id)
                                .first::<String>(conn)
                                .optional()?,
                        )
                    })
                    .await?
            }
        };
        let Some(owner) = owner else {
            return Ok(None);
        };
        let advertiser_version = match version {
            -1 => -1,
            _ => self.advertiser_version(&owner).await,
        };
        let payload = match stored.filter(|p| p.fresh(version, advertiser_version)) {
            Some(payload) => payload,
            None => {
                let key = serve_key.to_string();
                let Some(built) = self
                    .store
                    .run(move |conn| build_payload(conn, &key, version, advertiser_version))
                    .await?
                else {
                    return Ok(None);
                };
                self.metrics.payload_built();
                if version >= 0 && advertiser_version >= 0 {
                    self.store_payload(serve_key, &built).await;
                }
                built
            }
        };
        self.metrics.compiled();
        let entry = Arc::new(payload.compile());
        if let Ok(mut compiled) = self.compiled.write() {
            compiled.insert(serve_key.to_string(), entry.clone());
        }
        Ok(Some(entry))
    }
}

/// Reads a placement's payload from the database, tagged with the versions it is built at;
/// `None` when no placement has this key.
fn build_payload(
    conn: &mut Conn,
    serve_key: &str,
    version: i64,
    advertiser_version: i64,
) -> Result<Option<Payload>, ServeError> {
    let Some((placement_id, campaign_id, advertiser_id)) = placements::table
        .filter(placements::serve_key.eq(serve_key))
        .select((
            placements::id,
            placements::campaign_id,
            placements::advertiser_id,
        ))
        .first::<(String, String, String)>(conn)
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
        advertiser_id,
        advertiser_version,
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
