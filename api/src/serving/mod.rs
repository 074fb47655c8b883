//! The serving engine, with no HTTP in it: choosing a creative for an ad request (segment
//! match, frequency cap, Thompson sampling), answering JSON or OpenRTB Native 1.2 markup with
//! signed event URLs, recording impressions and clicks, and reporting them. `routes::serving`
//! translates these calls to and from HTTP.
//!
//! What a placement may serve (its live campaign's segment rules and approved creatives) is
//! precomputed into a payload stored in the cache under the placement's serving key, tagged
//! with the cache's serving version and its advertiser's version ([`payload`]). Every change
//! committed through the API reaches [`Serving`] as a [`ChangeListener`]: when it can change
//! what is served, it bumps that advertiser's version and recomputes that advertiser's
//! payloads, and no one else's. Generation workers bump the global version when they
//! auto-approve creatives ([`crate::infra::changes::ChangeSignal`]); a server rebuilds every
//! payload at start. A request compares both versions (one cache read) with the payload this
//! replica compiled last and, when it is out of date, reads the payload from the cache, or
//! rebuilds it from the database when the cache lost it (Redis flushed or restarted).
//!
//! Events are written to the database first, then to the cache's bandit counts, so flushing
//! Redis loses no acknowledged event ([`events`]).
//!
//! - [`payload`]: payloads, versions and this replica's compiled copies.
//! - [`request`]: the serve request, its parsing and the served answer.
//! - [`choice`]: candidates, frequency caps, the bandit's choice and the signed answer.
//! - [`openrtb`]: OpenRTB Native 1.2 markup.
//! - [`events`]: verifying and recording impression and click tokens.
//! - [`metrics`]: refused clicks, compiled placements and payload builds, for `/metrics`.
//! - [`stats`]: a campaign's impressions and clicks.
//! - [`serve_keys`]: rotating and revoking placements' serving keys.

pub mod choice;
pub mod events;
pub mod metrics;
pub mod openrtb;
pub mod payload;
pub mod request;
pub mod serve_keys;
pub mod stats;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::infra::cache::Cache;
use crate::infra::changes::{Change, ChangeListener, ListenerFuture};
use crate::infra::signing::Signer;
use crate::store::{Store, StoreError};

pub use events::EventOutcome;
pub use metrics::ServingMetrics;
pub use request::{ServeRequest, ServeResponse, ServedImage};
pub use stats::{CampaignStats, StatsLine};

/// Longest a replica serves from a compiled placement without reading the cache's version
/// successfully (the cache is down): after this it rebuilds from the database.
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(5);
/// Oldest a payload may be, even with an unchanged version: a safety net for changes nobody
/// signalled (workers without a shared cache).
pub const PAYLOAD_MAX_AGE: Duration = Duration::from_secs(60);
/// How long event tokens last.
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Frequency caps: the most impressions one viewer (by hashed user key) gets of one creative
/// and of one campaign within a window. A viewer's counts expire with the window, in Redis and
/// in the in-process cache alike, so they take memory only while they matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrequencyCaps {
    /// Impressions per viewer and creative.
    pub per_creative: u32,
    /// Impressions per viewer and campaign.
    pub per_campaign: u32,
    /// How long a viewer's counts last.
    pub window: Duration,
}

/// Why a serving call failed. `routes::serving` answers each as a problem+json response.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A field of the request parsed but holds an unacceptable value.
    #[error("{detail}")]
    InvalidField {
        /// JSON path of the field.
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A field of the request could not be read at all.
    #[error("{detail}")]
    Malformed {
        /// JSON path of the field.
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// An event token that is forged, damaged or expired.
    #[error("invalid or expired event token")]
    InvalidEventToken,
    /// The named thing does not exist (or belongs to another advertiser).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A query failed.
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    /// The database could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored JSON no longer reads as its type.
    #[error("stored data is not readable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// The serving engine's state, shared by every request of a replica.
pub struct Serving {
    store: Store,
    cache: Cache,
    signer: Signer,
    /// Salt of viewers' hashed keys (the signing secret).
    salt: Vec<u8>,
    /// The server's public URL, the base of event and image URLs.
    public_url: String,
    /// Frequency caps.
    caps: FrequencyCaps,
    /// This replica's compiled placements, by serving key.
    compiled: RwLock<HashMap<String, Arc<payload::Compiled>>>,
    /// Serving's counters.
    metrics: ServingMetrics,
}

impl Serving {
    /// Serving from `store` over `cache`, signing event URLs with `secret`, with these
    /// frequency caps.
    pub fn new(
        store: Store,
        cache: Cache,
        secret: &[u8],
        public_url: String,
        caps: FrequencyCaps,
    ) -> Self {
        Serving {
            store,
            cache,
            signer: Signer::new(secret),
            salt: secret.to_vec(),
            public_url,
            caps,
            compiled: RwLock::default(),
            metrics: ServingMetrics::new(),
        }
    }

    /// The cache in use.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Serving's counters (the app registers them for `/metrics`).
    pub fn metrics(&self) -> &ServingMetrics {
        &self.metrics
    }
}

/// A committed change may change what is served: bump the version on every replica and
/// recompute the advertiser's payloads before the writer answers.
impl ChangeListener for Serving {
    fn changed<'a>(&'a self, change: &'a Change) -> ListenerFuture<'a> {
        Box::pin(self.invalidate(&change.advertiser_id, change.kind))
    }
}
