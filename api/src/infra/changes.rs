//! How writers tell the rest of the system that something which may change what is served was
//! committed.
//!
//! There are two ways in, one per kind of writer:
//! - [`ChangeNotifier`]: request handlers, inside the server. They call
//!   [`ChangeNotifier::notify`] after a successful commit and await it before answering, so a
//!   change is visible on every replica by the time the client sees the response. The server
//!   registers its listeners (serving) when it starts; this module knows nothing about them.
//! - [`ChangeSignal`]: synchronous code (generation worker threads, `adforge worker`
//!   processes). It bumps the serving version in the shared cache; replicas notice on their
//!   next request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::cache::{self, Cache, CacheError};

/// The cache key of the serving version: a counter every change bumps, and that serving
/// compares with the version its compiled data was built at.
pub const SERVING_VERSION_KEY: &str = "adforge:serving:version";

/// What kind of record a change was about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// A campaign (its status, brand kit, landing page...).
    Campaign,
    /// A brand kit (its disclaimer, logo...).
    BrandKit,
    /// A segment or its rules.
    Segment,
    /// A placement.
    Placement,
    /// A creative (edited, approved, rejected, deleted).
    Creative,
    /// A placement's serving key (rotated or revoked).
    ServeKey,
    /// A generation job (created or cancelled).
    GenerationJob,
    /// A CSV batch (uploaded or cancelled).
    Batch,
}

/// One committed change: whose data it was and what kind of record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The advertiser (tenant) whose data changed.
    pub advertiser_id: String,
    /// What kind of record changed.
    pub kind: ChangeKind,
}

impl Change {
    /// A change of `kind` to the data of `advertiser_id`.
    pub fn new(advertiser_id: impl Into<String>, kind: ChangeKind) -> Self {
        Change {
            advertiser_id: advertiser_id.into(),
            kind,
        }
    }
}

/// The future a [`ChangeListener`] returns.
pub type ListenerFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Something that reacts to committed changes (serving recomputes what it serves). Reacting
/// cannot fail: a listener logs its own failures.
pub trait ChangeListener: Send + Sync {
    /// Reacts to `change`; the writer awaits this before it answers.
    fn changed<'a>(&'a self, change: &'a Change) -> ListenerFuture<'a>;
}

/// Hands each committed change to every registered listener, in order.
#[derive(Clone, Default)]
pub struct ChangeNotifier {
    listeners: Arc<[Arc<dyn ChangeListener>]>,
}

impl ChangeNotifier {
    /// A notifier that tells `listeners`.
    pub fn new(listeners: Vec<Arc<dyn ChangeListener>>) -> Self {
        ChangeNotifier {
            listeners: listeners.into(),
        }
    }

    /// Tells every listener about `change` and waits until they have reacted.
    pub async fn notify(&self, change: Change) {
        for listener in self.listeners.iter() {
            listener.changed(&change).await;
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
    /// Nobody to tell: replicas notice when their payloads reach their maximum age.
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
            ChangeSignal::Cache(cache) => cache.incr_blocking(SERVING_VERSION_KEY).map(drop),
            ChangeSignal::Redis(client) => {
                cache::redis_incr_blocking(client, SERVING_VERSION_KEY).map(drop)
            }
            ChangeSignal::Off => Ok(()),
        };
        if let Err(error) = outcome {
            tracing::warn!(%error, "could not bump the serving version");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Change>>);

    impl ChangeListener for Recorder {
        fn changed<'a>(&'a self, change: &'a Change) -> ListenerFuture<'a> {
            Box::pin(async move {
                self.0.lock().unwrap().push(change.clone());
            })
        }
    }

    #[actix_web::test]
    async fn every_listener_hears_each_change() {
        let (a, b) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
        let listeners: Vec<Arc<dyn ChangeListener>> = vec![a.clone(), b.clone()];
        let notifier = ChangeNotifier::new(listeners);
        notifier
            .notify(Change::new("adv", ChangeKind::Creative))
            .await;
        for recorder in [a, b] {
            assert_eq!(
                *recorder.0.lock().unwrap(),
                [Change::new("adv", ChangeKind::Creative)]
            );
        }
    }
}
