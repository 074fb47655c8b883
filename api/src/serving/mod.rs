//! The serving engine, with no HTTP in it: choosing a creative for an ad request (segment
//! match, frequency cap, Thompson sampling), answering JSON or OpenRTB Native 1.2 markup with
//! signed event URLs, recording impressions and clicks, and reporting them. `routes::serving`
//! translates these calls to and from HTTP.
//!
//! What a placement may serve (its live campaign's segment rules and approved creatives) is
//! precomputed into a payload stored in the cache under the placement's serving key, tagged
//! with the cache's serving version ([`payload`]). Every change committed through the API
//! reaches [`Serving`] as a [`ChangeListener`]: it bumps the version and recomputes the
//! changing advertiser's payloads. Generation workers bump the version when they auto-approve
//! creatives ([`crate::infra::changes::ChangeSignal`]); a server rebuilds every payload at
//! start. A request compares the version (one cache read) with the payload this replica
//! compiled last and, when it is out of date, reads the payload from the cache, or rebuilds it
//! from the database when the cache lost it (Redis flushed or restarted).
//!
//! Events are written to the database first, then to the cache's bandit counts, so flushing
//! Redis loses no acknowledged event ([`events`]).
//!
//! - [`payload`]: payloads, versions and this replica's compiled copies.
//! - [`request`]: the serve request, its parsing and the served answer.
//! - [`choice`]: candidates, frequency caps, the bandit's choice and the signed answer.
//! - [`openrtb`]: OpenRTB Native 1.2 markup.
//! - [`events`]: verifying and recording impression and click tokens.
//! - [`stats`]: a campaign's impressions and clicks.
//! - [`serve_keys`]: rotating and revoking placements' serving keys.

pub mod choice;
pub mod events;
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
pub use request::{ServeRequest, ServeResponse, ServedImage};
pub use stats::{CampaignStats, StatsLine};

/// Longest a replica serves from a compiled placement without reading the cache's version
/// successfully (the cache is down): after this it rebuilds from the database.
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(5);
/// Oldest a payload may be, even with an unchanged version: a safety net for changes nobody
/// signalled (workers without a shared cache).
pub const PAYLOAD_MAX_AGE: Duration = Duration::from_secs(60);
/// How long event tokens and frequency-cap counts last.
const DAY: Duration = Duration::from_secs(24 * 3600);

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
    /// Frequency caps: impressions per viewer and creative, then per viewer and campaign.
    caps: (u32, u32),
    /// This replica's compiled placements, by serving key.
    compiled: RwLock<HashMap<String, Arc<payload::Compiled>>>,
}

impl Serving {
    /// Serving from `store` over `cache`, signing event URLs with `secret`; `caps` are the
    /// frequency caps per creative and per campaign.
    pub fn new(
        store: Store,
        cache: Cache,
        secret: &[u8],
        public_url: String,
        caps: (u32, u32),
    ) -> Self {
        Serving {
            store,
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
}

/// A committed change may change what is served: bump the version on every replica and
/// recompute the advertiser's payloads before the writer answers.
impl ChangeListener for Serving {
    fn changed<'a>(&'a self, change: &'a Change) -> ListenerFuture<'a> {
        Box::pin(self.invalidate(&change.advertiser_id))
    }
}
