//! The serving cache: Redis when `REDIS_URL` is set, an in-process map otherwise, behind one
//! type. It holds what serving reads on every request and can rebuild: the serving version
//! (bumped on every change to what may be served), per-(creative, segment) impression and
//! click counts for the bandit, and frequency-cap counters. Durable facts (events) live in the
//! database, so losing the cache loses nothing acknowledged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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

/// The in-process store: value and optional expiry per key.
type MemoryMap = Arc<Mutex<HashMap<String, (i64, Option<Instant>)>>>;

/// A key-value cache of integers with optional expiry.
#[derive(Clone)]
pub enum Cache {
    /// In this process only (single-node default).
    Memory(MemoryMap),
    /// Shared through Redis.
    Redis(redis::aio::ConnectionManager),
}

impl Cache {
    /// Connects to Redis when a URL is given, else an in-process cache.
    pub async fn connect(redis_url: Option<&str>) -> Result<Cache, CacheError> {
        match redis_url {
            Some(url) => {
                let client = redis::Client::open(url)?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Duration::from_secs(2))
                    .set_response_timeout(Duration::from_secs(2));
                Ok(Cache::Redis(
                    client.get_connection_manager_with_config(config).await?,
                ))
            }
            None => Ok(Cache::Memory(Arc::default())),
        }
    }

    /// Reads several integers at once; absent keys are `None`.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<i64>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Cache::Memory(map) => {
                let map = map.lock().map_err(|_| CacheError("poisoned".into()))?;
                let now = Instant::now();
                Ok(keys
                    .iter()
                    .map(|k| {
                        map.get(k)
                            .filter(|(_, exp)| exp.is_none_or(|e| e > now))
                            .map(|(v, _)| *v)
                    })
                    .collect())
            }
            Cache::Redis(conn) => {
                let mut conn = conn.clone();
                let values: Vec<Option<i64>> =
                    redis::cmd("MGET").arg(keys).query_async(&mut conn).await?;
                Ok(values)
            }
        }
    }

    /// Sets a key unless it exists (used to seed counts from the database).
    pub async fn set_if_absent(&self, key: &str, value: i64) -> Result<(), CacheError> {
        match self {
            Cache::Memory(map) => {
                let mut map = map.lock().map_err(|_| CacheError("poisoned".into()))?;
                map.entry(key.to_string()).or_insert((value, None));
                Ok(())
            }
            Cache::Redis(conn) => {
                let mut conn = conn.clone();
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
            Cache::Memory(map) => {
                map.lock()
                    .map_err(|_| CacheError("poisoned".into()))?
                    .insert(key.to_string(), (value, None));
                Ok(())
            }
            Cache::Redis(conn) => {
                let mut conn = conn.clone();
                let _: () = redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .query_async(&mut conn)
                    .await?;
                Ok(())
            }
        }
    }

    /// Adds `by` to a key (absent counts as 0) and returns the new value; `ttl` sets the expiry
    /// when the key is created.
    pub async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64, CacheError> {
        match self {
            Cache::Memory(map) => {
                let mut map = map.lock().map_err(|_| CacheError("poisoned".into()))?;
                let now = Instant::now();
                let entry = map
                    .entry(key.to_string())
                    .or_insert((0, ttl.map(|t| now + t)));
                if entry.1.is_some_and(|e| e <= now) {
                    *entry = (0, ttl.map(|t| now + t));
                }
                entry.0 += by;
                Ok(entry.0)
            }
            Cache::Redis(conn) => {
                let mut conn = conn.clone();
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
