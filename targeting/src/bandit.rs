//! Serving choice: Thompson sampling over creatives per segment, and frequency capping.
//!
//! Each (segment, creative) pair has impression and click counts; its click-through rate has
//! the posterior `Beta(prior_alpha + clicks, prior_beta + impressions - clicks)`. To choose, the
//! sampler draws once from every candidate's posterior and serves the largest draw. A floor of
//! exploration guarantees new creatives traffic: with probability `exploration_floor`, when some
//! candidates have fewer than `new_creative_impressions` impressions, one of those is served
//! uniformly at random. The sampler owns a seeded RNG, so tests and simulations are repeatable.
//!
//! Frequency capping limits how often one user (identified only by a salted SHA-256 of their
//! key) sees a creative or a campaign within a time window. The counts live behind the
//! [`ImpressionLog`] trait: [`InMemoryImpressionLog`] for one process, or a shared store such as
//! Redis implemented by the caller.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Impression and click counts of one creative in one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ArmStats {
    /// Times the creative was served.
    pub impressions: u64,
    /// Times it was clicked (at most `impressions`; extra clicks are ignored).
    pub clicks: u64,
}

/// Settings of the Thompson sampler.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThompsonConfig {
    /// Prior pseudo-clicks.
    pub prior_alpha: f64,
    /// Prior pseudo-non-clicks.
    pub prior_beta: f64,
    /// Share of choices reserved for creatives that are still new (0..=1).
    pub exploration_floor: f64,
    /// A creative is new until it has this many impressions.
    pub new_creative_impressions: u64,
}

impl Default for ThompsonConfig {
    fn default() -> Self {
        ThompsonConfig {
            prior_alpha: 1.0,
            prior_beta: 1.0,
            exploration_floor: 0.05,
            new_creative_impressions: 200,
        }
    }
}

/// Why a sampler could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BanditError {
    /// A setting is out of range.
    #[error("invalid bandit setting: {0}")]
    InvalidConfig(&'static str),
}

/// Chooses a creative by Thompson sampling with an exploration floor.
#[derive(Debug, Clone)]
pub struct ThompsonSampler {
    config: ThompsonConfig,
    rng: StdRng,
}

impl ThompsonSampler {
    /// A sampler whose random draws are determined by `seed`.
    pub fn seeded(config: ThompsonConfig, seed: u64) -> Result<Self, BanditError> {
        Self::with_rng(config, StdRng::seed_from_u64(seed))
    }

    /// A sampler seeded from the operating system.
    pub fn from_entropy(config: ThompsonConfig) -> Result<Self, BanditError> {
        Self::with_rng(config, StdRng::from_entropy())
    }

    fn with_rng(config: ThompsonConfig, rng: StdRng) -> Result<Self, BanditError> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(config.prior_alpha) {
            return Err(BanditError::InvalidConfig("prior_alpha must be positive"));
        }
        if !positive(config.prior_beta) {
            return Err(BanditError::InvalidConfig("prior_beta must be positive"));
        }
        if !(0.0..=1.0).contains(&config.exploration_floor) {
            return Err(BanditError::InvalidConfig(
                "exploration_floor must be within 0 and 1",
            ));
        }
        Ok(ThompsonSampler { config, rng })
    }

    /// The settings.
    pub fn config(&self) -> &ThompsonConfig {
        &self.config
    }

    /// Picks one of `arms` (the candidates' counts) and returns its position, or `None` when
    /// there is no candidate.
    pub fn choose(&mut self, arms: &[ArmStats]) -> Option<usize> {
        if arms.is_empty() {
            return None;
        }
        let floor = self.config.exploration_floor;
        if floor > 0.0 && self.rng.gen_bool(floor) {
            let new: Vec<usize> = arms
                .iter()
                .enumerate()
                .filter(|(_, a)| a.impressions < self.config.new_creative_impressions)
                .map(|(i, _)| i)
                .collect();
            if !new.is_empty() {
                return Some(new[self.rng.gen_range(0..new.len())]);
            }
        }
        let mut best = (0, f64::NEG_INFINITY);
        for (i, arm) in arms.iter().enumerate() {
            let draw = self.sample_posterior(arm);
            if draw > best.1 {
                best = (i, draw);
            }
        }
        Some(best.0)
    }

    /// One draw from the arm's posterior click-through rate.
    pub fn sample_posterior(&mut self, arm: &ArmStats) -> f64 {
        let clicks = arm.clicks.min(arm.impressions);
        let alpha = self.config.prior_alpha + clicks as f64;
        let beta = self.config.prior_beta + (arm.impressions - clicks) as f64;
        // Both parameters are positive and finite (checked priors plus counts), which is all
        // Beta::new requires.
        match Beta::new(alpha, beta) {
            Ok(distribution) => distribution.sample(&mut self.rng),
            Err(_) => alpha / (alpha + beta),
        }
    }
}

/// In-memory counts per (segment, creative), for one process or for simulations. The api keeps
/// the durable counts and can pass them straight to [`ThompsonSampler::choose`].
#[derive(Debug, Clone, Default)]
pub struct BanditStats<S, C> {
    counts: HashMap<(S, C), ArmStats>,
}

impl<S: Eq + Hash + Clone, C: Eq + Hash + Clone> BanditStats<S, C> {
    /// Empty counts.
    pub fn new() -> Self {
        BanditStats {
            counts: HashMap::new(),
        }
    }

    /// Counts one impression of `creative` in `segment`.
    pub fn record_impression(&mut self, segment: &S, creative: &C) {
        self.entry(segment, creative).impressions += 1;
    }

    /// Counts one click on `creative` in `segment`.
    pub fn record_click(&mut self, segment: &S, creative: &C) {
        self.entry(segment, creative).clicks += 1;
    }

    fn entry(&mut self, segment: &S, creative: &C) -> &mut ArmStats {
        self.counts
            .entry((segment.clone(), creative.clone()))
            .or_default()
    }

    /// The counts of `creative` in `segment` (zero when never served).
    pub fn get(&self, segment: &S, creative: &C) -> ArmStats {
        self.counts
            .get(&(segment.clone(), creative.clone()))
            .copied()
            .unwrap_or_default()
    }

    /// Chooses among `creatives` for `segment` with `sampler`.
    pub fn choose<'c>(
        &self,
        sampler: &mut ThompsonSampler,
        segment: &S,
        creatives: &'c [C],
    ) -> Option<&'c C> {
        let arms: Vec<ArmStats> = creatives.iter().map(|c| self.get(segment, c)).collect();
        sampler.choose(&arms).map(|i| &creatives[i])
    }
}

/// A user key after salted SHA-256: the only form in which frequency capping stores users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserKeyHash([u8; 32]);

impl UserKeyHash {
    /// Hashes `user_key` with a deployment-wide secret `salt`.
    pub fn new(salt: &[u8], user_key: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update((salt.len() as u64).to_le_bytes());
        hasher.update(salt);
        hasher.update(user_key.as_bytes());
        UserKeyHash(hasher.finalize().into())
    }

    /// Lower-case hex, e.g. for a Redis key.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What a frequency cap counts impressions of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapLevel {
    /// One creative.
    Creative,
    /// Any creative of one campaign.
    Campaign,
}

/// The thing whose impressions are counted for one user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CapScope {
    /// A creative id.
    Creative(String),
    /// A campaign id.
    Campaign(String),
}

/// At most `max_impressions` per user within `window_seconds`, per creative or per campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequencyCap {
    /// Per creative or per campaign.
    pub level: CapLevel,
    /// Most impressions allowed in the window.
    pub max_impressions: u32,
    /// Length of the sliding window in seconds.
    pub window_seconds: i64,
}

/// Storage of per-user impression times. Implement it over a shared store (e.g. Redis sorted
/// sets keyed by [`UserKeyHash::to_hex`]) to cap across processes.
pub trait ImpressionLog {
    /// The store's error.
    type Error: std::error::Error;
    /// Impressions of `scope` by `user` at or after `since`.
    fn count_since(
        &self,
        user: &UserKeyHash,
        scope: &CapScope,
        since: DateTime<Utc>,
    ) -> Result<u32, Self::Error>;
    /// Records one impression of `scope` by `user` at `at`.
    fn record(
        &mut self,
        user: &UserKeyHash,
        scope: &CapScope,
        at: DateTime<Utc>,
    ) -> Result<(), Self::Error>;
}

/// An [`ImpressionLog`] in process memory that forgets impressions older than `retention`.
#[derive(Debug, Clone)]
pub struct InMemoryImpressionLog {
    retention: Duration,
    times: HashMap<(UserKeyHash, CapScope), VecDeque<DateTime<Utc>>>,
}

impl InMemoryImpressionLog {
    /// A log keeping impressions for `retention_seconds` (use the longest cap window).
    pub fn new(retention_seconds: i64) -> Self {
        InMemoryImpressionLog {
            retention: Duration::seconds(retention_seconds),
            times: HashMap::new(),
        }
    }

    /// Drops impressions older than the retention, and users with none left.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        let oldest = now - self.retention;
        self.times.retain(|_, times| {
            while times.front().is_some_and(|t| *t < oldest) {
                times.pop_front();
            }
            !times.is_empty()
        });
    }
}

impl ImpressionLog for InMemoryImpressionLog {
    type Error = std::convert::Infallible;

    fn count_since(
        &self,
        user: &UserKeyHash,
        scope: &CapScope,
        since: DateTime<Utc>,
    ) -> Result<u32, Self::Error> {
        Ok(self
            .times
            .get(&(*user, scope.clone()))
            .map(|times| times.iter().rev().take_while(|t| **t >= since).count() as u32)
            .unwrap_or(0))
    }

    fn record(
        &mut self,
        user: &UserKeyHash,
        scope: &CapScope,
        at: DateTime<Utc>,
    ) -> Result<(), Self::Error> {
        let times = self.times.entry((*user, scope.clone())).or_default();
        // Keep the queue sorted even if events arrive slightly out of order.
        let position = times.partition_point(|t| *t <= at);
        times.insert(position, at);
        let oldest = at - self.retention;
        while times.front().is_some_and(|t| *t < oldest) {
            times.pop_front();
        }
        Ok(())
    }
}

/// Applies a set of frequency caps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequencyCapper {
    /// The caps; every one must allow an impression.
    pub caps: Vec<FrequencyCap>,
}

impl FrequencyCapper {
    /// Caps applied together.
    pub fn new(caps: Vec<FrequencyCap>) -> Self {
        FrequencyCapper { caps }
    }

    fn scope(level: CapLevel, creative: &str, campaign: &str) -> CapScope {
        match level {
            CapLevel::Creative => CapScope::Creative(creative.to_string()),
            CapLevel::Campaign => CapScope::Campaign(campaign.to_string()),
        }
    }

    /// Whether `user` may see `creative` of `campaign` at `now` under every cap.
    pub fn allows<L: ImpressionLog>(
        &self,
        log: &L,
        user: &UserKeyHash,
        creative: &str,
        campaign: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, L::Error> {
        for cap in &self.caps {
            let since = now - Duration::seconds(cap.window_seconds);
            let seen = log.count_since(user, &Self::scope(cap.level, creative, campaign), since)?;
            if seen >= cap.max_impressions {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Records that `user` saw `creative` of `campaign` at `now`, once per capped level.
    pub fn record<L: ImpressionLog>(
        &self,
        log: &mut L,
        user: &UserKeyHash,
        creative: &str,
        campaign: &str,
        now: DateTime<Utc>,
    ) -> Result<(), L::Error> {
        for level in [CapLevel::Creative, CapLevel::Campaign] {
            if self.caps.iter().any(|cap| cap.level == level) {
                log.record(user, &Self::scope(level, creative, campaign), now)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn same_seed_same_choices() {
        let arms = [
            ArmStats {
                impressions: 500,
                clicks: 10,
            },
            ArmStats {
                impressions: 500,
                clicks: 12,
            },
            ArmStats {
                impressions: 5,
                clicks: 0,
            },
        ];
        let run = |seed| {
            let mut s = ThompsonSampler::seeded(ThompsonConfig::default(), seed).unwrap();
            (0..50)
                .map(|_| s.choose(&arms).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn posterior_favours_the_better_arm() {
        let mut s = ThompsonSampler::seeded(
            ThompsonConfig {
                exploration_floor: 0.0,
                ..ThompsonConfig::default()
            },
            1,
        )
        .unwrap();
        let arms = [
            ArmStats {
                impressions: 10_000,
                clicks: 100,
            },
            ArmStats {
                impressions: 10_000,
                clicks: 300,
            },
        ];
        let picks = (0..1000).filter(|_| s.choose(&arms) == Some(1)).count();
        assert!(picks > 990, "{picks}");
    }

    #[test]
    fn exploration_floor_serves_new_creatives() {
        let config = ThompsonConfig {
            exploration_floor: 0.2,
            new_creative_impressions: 100,
            ..ThompsonConfig::default()
        };
        let mut s = ThompsonSampler::seeded(config, 9).unwrap();
        // Sampling alone would practically never pick the new arm (its posterior after 50
        // impressions without a click is far below 0.5); the floor still gives it about 20%.
        let arms = [
            ArmStats {
                impressions: 100_000,
                clicks: 50_000,
            },
            ArmStats {
                impressions: 50,
                clicks: 0,
            },
        ];
        let picks = (0..10_000).filter(|_| s.choose(&arms) == Some(1)).count();
        assert!((1700..2300).contains(&picks), "{picks}");
        assert!(ThompsonSampler::seeded(
            ThompsonConfig {
                exploration_floor: 1.5,
                ..config
            },
            0
        )
        .is_err());
        assert_eq!(s.choose(&[]), None);
    }

    #[test]
    fn stats_by_segment_and_creative() {
        let mut stats: BanditStats<&str, &str> = BanditStats::new();
        stats.record_impression(&"cyclists", &"a");
        stats.record_impression(&"cyclists", &"a");
        stats.record_click(&"cyclists", &"a");
        stats.record_impression(&"runners", &"a");
        assert_eq!(
            stats.get(&"cyclists", &"a"),
            ArmStats {
                impressions: 2,
                clicks: 1
            }
        );
        assert_eq!(stats.get(&"runners", &"a").clicks, 0);
        assert_eq!(stats.get(&"runners", &"b"), ArmStats::default());
        let mut s = ThompsonSampler::seeded(ThompsonConfig::default(), 0).unwrap();
        assert!(stats.choose(&mut s, &"cyclists", &["a", "b"]).is_some());
    }

    #[test]
    fn user_keys_are_salted_hashes() {
        let a = UserKeyHash::new(b"salt", "user-1");
        assert_eq!(a, UserKeyHash::new(b"salt", "user-1"));
        assert_ne!(a, UserKeyHash::new(b"pepper", "user-1"));
        assert_ne!(a, UserKeyHash::new(b"salt", "user-2"));
        assert_eq!(a.to_hex().len(), 64);
        assert!(!a.to_hex().contains("user"));
    }

    #[test]
    fn frequency_caps_per_creative_and_campaign() {
        let capper = FrequencyCapper::new(vec![
            FrequencyCap {
                level: CapLevel::Creative,
                max_impressions: 2,
                window_seconds: 3600,
            },
            FrequencyCap {
                level: CapLevel::Campaign,
                max_impressions: 3,
                window_seconds: 86_400,
            },
        ]);
        let mut log = InMemoryImpressionLog::new(86_400);
        let user = UserKeyHash::new(b"s", "u");
        let other = UserKeyHash::new(b"s", "v");
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        let minutes = |m| t0 + Duration::minutes(m);
        let allows = |log: &InMemoryImpressionLog, u, creative, at| {
            capper.allows(log, u, creative, "camp", at).unwrap()
        };
        for m in [0, 10] {
            assert!(allows(&log, &user, "c1", minutes(m)));
            capper
                .record(&mut log, &user, "c1", "camp", minutes(m))
                .unwrap();
        }
        // Creative cap reached within the hour; another creative of the campaign is fine.
        assert!(!allows(&log, &user, "c1", minutes(20)));
        assert!(allows(&log, &other, "c1", minutes(20)));
        assert!(allows(&log, &user, "c2", minutes(20)));
        capper
            .record(&mut log, &user, "c2", "camp", minutes(20))
            .unwrap();
        // Campaign cap (3 a day) now blocks every creative of the campaign, even after the hour.
        assert!(!allows(&log, &user, "c3", minutes(90)));
        assert!(!allows(&log, &user, "c1", minutes(90)));
        // A day later everything is allowed again, and pruning forgets the user.
        assert!(allows(&log, &user, "c1", minutes(24 * 60 + 21)));
        log.prune(minutes(24 * 60 + 21));
        assert!(log.times.is_empty());
    }
}
