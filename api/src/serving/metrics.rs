//! Serving's own counters, registered in the server's Prometheus registry by the app:
//! clicks that were refused (and why), and how often this replica compiled a placement or
//! rebuilt a payload from the database.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

/// Why a click was not counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClickRejection {
    /// The impression of the same serve was never recorded.
    NoImpression,
    /// This serve's click was already counted.
    Duplicate,
}

impl ClickRejection {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            ClickRejection::NoImpression => "no_impression",
            ClickRejection::Duplicate => "duplicate",
        }
    }
}

/// Serving's counters.
#[derive(Clone)]
pub struct ServingMetrics {
    /// `clicks_rejected_total{reason}`.
    clicks_rejected: IntCounterVec,
    /// `serving_compiles_total`: placements this replica compiled for requests.
    compiles: IntCounter,
    /// `serving_payload_builds_total`: payloads read from the database.
    payload_builds: IntCounter,
}

impl ServingMetrics {
    /// Unregistered counters; [`ServingMetrics::register`] adds them to a registry.
    pub fn new() -> Self {
        // Static names and help texts: creating them cannot fail.
        let clicks_rejected = IntCounterVec::new(
            Opts::new(
                "clicks_rejected_total",
                "Clicks not counted, by reason (no_impression, duplicate)",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let compiles = IntCounter::new(
            "serving_compiles_total",
            "Placements compiled by this replica for serving",
        )
        .expect("valid metric");
        let payload_builds = IntCounter::new(
            "serving_payload_builds_total",
            "Serving payloads read from the database",
        )
        .expect("valid metric");
        ServingMetrics {
            clicks_rejected,
            compiles,
            payload_builds,
        }
    }

    /// Adds the counters to `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.clicks_rejected.clone()))?;
        registry.register(Box::new(self.compiles.clone()))?;
        registry.register(Box::new(self.payload_builds.clone()))?;
        Ok(())
    }

    /// Counts a refused click.
    pub fn click_rejected(&self, why: ClickRejection) {
        self.clicks_rejected.with_label_values(&[why.label()]).inc();
    }

    /// Counts a compiled placement.
    pub fn compiled(&self) {
        self.compiles.inc();
    }

    /// Counts a payload built from the database.
    pub fn payload_built(&self) {
        self.payload_builds.inc();
    }

    /// How many placements this replica compiled.
    pub fn compiles(&self) -> u64 {
        self.compiles.get()
    }
}

impl Default for ServingMetrics {
    fn default() -> Self {
        Self::new()
    }
}
