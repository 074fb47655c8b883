//! The serving cache: Redis when `REDIS_URL` is set, an in-process map otherwise, behind one
//! type. It holds what serving reads on every request and can rebuild: the serving version
//! (bumped on every change to what may be served), each placement's precomputed serving
//! payload, per-(creative, segment) impression and click counts for the bandit, and
//! frequency-cap counters. Durable facts (events) live in the database, so losing the cache
//! loses nothing acknowledged.
//!
//! Keys written with an expiry (frequency caps: one per viewer) are dropped once expired: in
//! Redis by Redis, in the in-process cache by a sweep that every such write runs over at most
//! [`SWEEP_BATCH`] of the earliest expiries, so memory follows the viewers of the last window
//! instead of every viewer ever seen.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Cache failures (Redis unreachable); serving falls back to the database.
#[derive(Debug, thiserror::Error)]
#[error("cache: {0}")]
pub struct CacheError(String);

impl From<redis::RedisError> for CacheError {
    fn from(error: redis::RedisError) -> Self {
        CacheError(error.to_string())
    }
}

/// Most expired keys one write to the in-process cache removes.
pub const SWEEP_BATCH: usize = 32;

/// Integers with their optional expiry, by key, and the expiries in time order.
#[derive(Default)]
struct Integers {
    values: HashMap<String, (i64, Option<Instant>)>,
    /// Every expiry set, earliest first; an entry whose key was since reset or removed is
    /// skipped when it comes up.
    expiries: BinaryHeap<Reverse<(Instant, String)>>,
}

impl Integers {
    /// Adds `by` to `key` (absent or expired counts as 0, created with `ttl`), then sweeps.
    fn incr(&mut self, key: &str, by: i64, ttl: Option<Duration>) -> i64 {
        let now = Instant::now();
        let fresh = (0, ttl.map(|t| now + t));
        let value = match self.values.get_mut(key) {
            Some(entry) if entry.1.is_none_or(|e| e > now) => {
                entry.0 += by;
                entry.0
            }
            Some(entry) => {
                *entry = (by, fresh.1);
                if let Some(expiry) = fresh.1 {
                    self.expiries.push(Reverse((expiry, key.to_string())));
                }
                by
            }
            None => {
                self.values.insert(key.to_string(), (by, fresh.1));
                if let Some(expiry) = fresh.1 {
                    self.expiries.push(Reverse((expiry, key.to_string())));
                }
                by
            }
        };
        if ttl.is_some() {
            self.sweep(now, SWEEP_BATCH);
        }
        value
    }

    /// Removes up to `batch` keys whose expiry has passed, earliest first.
    fn sweep(&mut self, now: Instant, batch: usize) {
        for _ in 0..batch {
            match self.expiries.peek() {
                Some(Reverse((expiry, _))) if *expiry <= now => {}
                _ => return,
            }
            let Some(Reverse((expiry, key))) = self.expiries.pop() else {
                return;
            };
            // Only when the key still carries this expiry: it may have been reset since.
            if self
                .values
                .get(&key)
                .is_some_and(|(_, current)| *current == Some(expiry))
            {
                self.values.remove(&key);
            }
        }
    }
}

/// The in-process store: integers with optional expiry, and texts.
#[derive(Default)]
pub struct MemoryCache {
    integers: Mutex<Integers>,
    texts: Mutex<HashMap<String, Arc<str>>>,
}

impl MemoryCache {
    fn integers(&self) -> Result<MutexGuard<'_, Integers>, CacheError> {
        self.integers
            .lock()
            .map_err(|_| CacheError("poisoned".into()))
    }

    fn texts(&self) -> Result<MutexGuard<'_, HashMap<String, Arc<str>>>, CacheError> {
        self.texts.lock().map_err(|_| CacheError("poisoned".into()))
    }

    /// How many integer keys it holds, expired ones not yet swept included.
    pub fn integer_keys(&self) -> usize {
        self.integers().map(|map| map.values.len()).unwrap_or(0)
    }
}

/// A connection to Redis: a multiplexed async connection for request handlers, and the client
/// for synchronous callers (generation worker threads).
#[derive(Clone)]
pub struct RedisCache {
    client: redis::Client,
    connection: redis::aio::ConnectionManager,
}

/// Adds one to a Redis key over a short-lived synchronous connection.
pub fn redis_incr_blocking(client: &redis::Client, key: &str) -> Result<i64, CacheError> {
    let mut conn = client.get_connection_with_timeout(REDIS_TIMEOUT)?;
    conn.set_read_timeout(Some(REDIS_TIMEOUT))?;
    conn.set_write_timeout(Some(REDIS_TIMEOUT))?;
    Ok(redis::cmd("INCR").arg(key).query(&mut conn)?)
}

/// A key-value cache of integers (with optional expiry) and texts.
#[derive(Clone)]
pub enum Cache {
    /// In this process only (single-node default).
    Memory(Arc<MemoryCache>),
    /// Shared through Redis.
    Redis(RedisCache),
}

/// How long a synchronous caller waits on Redis.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

impl Cache {
    /// Connects to Redis when a URL is given, else an in-process cache.
    pub async fn connect(redis_url: Option<&str>) -> Result<Cache, CacheError> {
        match redis_url {
            Some(url) => {
                let client = redis::Client::open(url)?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(REDIS_TIMEOUT)
                    .set_response_timeout(REDIS_TIMEOUT);
                let connection = client.get_connection_manager_with_config(config).await?;
                Ok(Cache::Redis(RedisCache { client, connection }))
            }
            None => Ok(Cache::Memory(Arc::default())),
        }
    }

    /// Reads a text; absent is `None`.
    pub async fn get_text(&self, key: &str) -> Result<Option<Arc<str>>, CacheError> {
        match self {
            Cache::Memory(memory) => Ok(memory.texts()?.get(key).cloned()),
            Cache::Redis(redis) => {
                let mut conn = redis.connection.clone();
                let value: Option<String> =
                    redis::cmd("GET").arg(key).query_async(&mut conn).await?;
                Ok(value.map(Arc::from))
            }
        }
    }

    /// Stores a text.
    pub async fn set_text(&self, key: &str, value: &str) -> Result<(), CacheError> {
        match self {
            Cache::Memory(memory) => {
                memory.texts()?.insert(key.to_string(), Arc::from(value));
                Ok(())
            }
            Cache::Redis(redis) => {
                let mut conn = redis.connection.clone();
                let _: () = redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .query_async(&mut conn)
                    .await?;
                Ok(())
            }
        }
    }

    /// Adds one to a key from synchronous code (no async runtime needed) and returns the new
    /// value.
    pub fn incr_blocking(&self, key: &str) -> Result<i64, CacheError> {
        match self {
            Cache::Memory(memory) => Ok(memory.integers()?.incr(key, 1, None)),
            Cache::Redis(redis) => redis_incr_blocking(&redis.client, key),
        }
    }

    /// Reads several integers at once; absent keys are `None`.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<i64>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Cache::Memory(memory) => {
                let map = memory.integers()?;
                let now = Instant::now();
                Ok(keys
                    .iter()
                    .map(|k| {
                        map.values
                            .get(k)
                            .filter(|(_, exp)| exp.is_none_or(|e| e > now))
                            .map(|(v, _)| *v)
                    })
                    .collect())
            }
            Cache::Redis(redis) => {
                let mut conn = redis.connection.clone();
                let values: Vec<Option<i64>> =
                    redis::cmd("MGET").arg(keys).query_async(&mut conn).await?;
                Ok(values)
            }
        }
    }

    /// Sets a key unless it exists (used to seed counts from the database).
    pub async fn set_if_absent(&self, key: &str, value: i64) -> Result<(), CacheError> {
        match self {
            Cache::Memory(memory) => {
                let mut map = memory.integers()?;
                let now = Instant::now();
                let live = map
                    .values
                    .get(key)
                    .is_some_and(|(_, expiry)| expiry.is_none_or(|e| e > now));
                if !live {
                    map.values.insert(key.to_string(), (value, None));
                }
                Ok(())
            }
            Cache::Redis(redis) => {
                let mut conn = redis.connection.clone();
                let _: () = redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("NX")
                    .query_async(&mut conn)
                    .await?;
                Ok(())
            }
        }
    }

    /// Overwrites a key.
    pub async fn set(&self, key: &str, value: i64) -> Result<(), CacheError> {
        match self {
            Cache::Memory(memory) => {
                memory
                    .integers()?
                    .values
                    .insert(key.to_string(), (value, None));
                Ok(())
            }
            Cache::Redis(redis) => {
                let mut conn = redis.connection.clone();
                let _: () = redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .query_async(&mut conn)
                    .await?;
                Ok(())
            }
        }
    }

    /// Adds one to each key (absent counts as 0, created to expire after `ttl`) in one round
    /// trip, and returns the new values.
    pub async fn incr_many(&self, keys: &[String], ttl: Duration) -> Result<Vec<i64>, CacheError> {
        match self {
            Cache::Memory(memory) => {
                let mut map = memory.integers()?;
                Ok(keys.iter().map(|key| map.incr(key, 1, Some(ttl))).collect())
            }
            Cache::Redis(redis) => {
                let mut conn = redis.connection.clone();
                let mut pipe = redis::pipe();
                for key in keys {
                    // Creating the key with its expiry first keeps the expiry on later INCRs.
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(0)
                        .arg("EX")
                        .arg(ttl.as_secs().max(1))
                        .arg("NX")
                        .ignore()
                        .cmd("INCR")
                        .arg(key);
                }
                Ok(pipe.query_async(&mut conn).await?)
            }
        }
    }

    /// Adds `by` to a key (absent counts as 0) and returns the new value; `ttl` sets the expiry
    /// when the key is created.
    pub async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64, CacheError> {
        match self {
            Cache::Memory(memory) => Ok(memory.integers()?.incr(key, by, ttl)),
            Cache::Redis(redis) => {
                let mut conn = redis.connection.clone();
                let value: i64 = redis::cmd("INCRBY")
                    .arg(key)
                    .arg(by)
                    .query_async(&mut conn)
                    .await?;
                if let (Some(ttl), true) = (ttl, value == by) {
                    let _: () = redis::cmd("EXPIRE")
                        .arg(key)
                        .arg(ttl.as_secs().max(1))
                        .query_async(&mut conn)
                        .await?;
                }
                Ok(value)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exercise(cache: Cache, prefix: &str) {
        let key = |k: &str| format!("{prefix}:{k}");
        assert_eq!(cache.get_many(&[key("a")]).await.unwrap(), vec![None]);
        cache.set_if_absent(&key("a"), 5).await.unwrap();
        cache.set_if_absent(&key("a"), 9).await.unwrap();
        assert_eq!(cache.incr(&key("a"), 2, None).await.unwrap(), 7);
        assert_eq!(
            cache
                .incr(&key("b"), 1, Some(Duration::from_secs(60)))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            cache
                .get_many(&[key("a"), key("b"), key("c")])
                .await
                .unwrap(),
            vec![Some(7), Some(1), None]
        );
        assert_eq!(cache.incr_blocking(&key("a")).unwrap(), 8);
        assert_eq!(
            cache
                .incr_many(&[key("a"), key("d")], Duration::from_secs(60))
                .await
                .unwrap(),
            vec![9, 1]
        );
        assert_eq!(cache.get_text(&key("t")).await.unwrap(), None);
        cache.set_text(&key("t"), "payload é").await.unwrap();
        assert_eq!(
            cache.get_text(&key("t")).await.unwrap().as_deref(),
            Some("payload é")
        );
    }

    #[actix_web::test]
    async fn expired_keys_are_swept_by_later_writes() {
        let memory = Arc::new(MemoryCache::default());
        let cache = Cache::Memory(memory.clone());
        let short = Duration::from_millis(20);
        let viewers: Vec<String> = (0..1000).map(|i| format!("fc:viewer{i}")).collect();
        cache.incr_many(&viewers, short).await.unwrap();
        cache.set("arm:kept", 5).await.unwrap();
        assert_eq!(memory.integer_keys(), 1001);
        std::thread::sleep(Duration::from_millis(40));
        // Each new viewer's write removes up to SWEEP_BATCH expired ones.
        let calls = 1000 / SWEEP_BATCH + 1;
        for i in 0..calls {
            cache
                .incr(&format!("fc:new{i}"), 1, Some(Duration::from_secs(60)))
                .await
                .unwrap();
        }
        assert_eq!(memory.integer_keys(), calls + 1, "only live keys remain");
        assert_eq!(
            cache.get_many(&["arm:kept".into()]).await.unwrap(),
            vec![Some(5)]
        );
        // A key reset after expiring keeps its new expiry: the old heap entry skips it.
        cache.incr("fc:again", 1, Some(short)).await.unwrap();
        std::thread::sleep(Duration::from_millis(40));
        cache
            .incr("fc:again", 1, Some(Duration::from_secs(60)))
            .await
            .unwrap();
        cache
            .incr("fc:other", 1, Some(Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(
            cache.get_many(&["fc:again".into()]).await.unwrap(),
            vec![Some(1)]
        );
    }

    #[actix_web::test]
    async fn memory_cache_counts() {
        exercise(Cache::connect(None).await.unwrap(), "t").await;
    }

    #[actix_web::test]
    async fn redis_cache_counts() {
        let Ok(url) = std::env::var("ADFORGE_TEST_REDIS_URL") else {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "CI=true needs ADFORGE_TEST_REDIS_URL"
            );
            eprintln!("ADFORGE_TEST_REDIS_URL unset: Redis variant skipped");
            return;
        };
        let prefix = format!("adforge-test:{}", uuid::Uuid::new_v4());
        exercise(Cache::connect(Some(&url)).await.unwrap(), &prefix).await;
    }
}
