//! The run queue's section of the API's evidence.

use std::collections::BTreeMap;

use probe_common::runqueue::behind;
use serde::{Deserialize, Serialize};

use crate::{
    api::{quantile, round},
    snapshot::Preemptor,
    window::Evidence,
};

/// Waits for a CPU.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Runqueue {
    /// Waits.
    pub count: u64,
    /// The share of the wait behind its own threads or its quota.
    pub own_wait_share: Option<f64>,
    /// Median wait, seconds.
    pub p50_seconds: Option<f64>,
    /// 95th percentile, seconds.
    pub p95_seconds: Option<f64>,
    /// 99th percentile, seconds.
    pub p99_seconds: Option<f64>,
    /// Preemptions by who ran instead.
    pub preempted_by: BTreeMap<String, u64>,
    /// Seconds waited per second.
    pub wait_share: f64,
    /// Seconds waited, by what the CPU did meanwhile.
    pub waited_behind_seconds: BTreeMap<String, f64>,
}

/// Its section of a container's evidence.
pub fn section(e: &Evidence) -> Runqueue {
    Runqueue {
        count: e.runqueue.waits.count(),
        own_wait_share: e.runqueue.own_wait_share().map(round),
        p50_seconds: quantile(&e.runqueue.waits, 0.5),
        p95_seconds: quantile(&e.runqueue.waits, 0.95),
        p99_seconds: quantile(&e.runqueue.waits, 0.99),
        preempted_by: Preemptor::ALL
            .iter()
            .map(|p| (p.label().to_string(), e.runqueue.preemptions[p.index()]))
            .collect(),
        wait_share: round(e.runqueue.wait_share(e.seconds)),
        waited_behind_seconds: behind::NAMES
            .iter()
            .zip(e.runqueue.waited_behind)
            .map(|(name, seconds)| (name.to_string(), round(seconds)))
            .collect(),
    }
}
