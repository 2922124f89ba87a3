//! The dependencies' section of the API's evidence.

use serde::{Deserialize, Serialize};

use crate::{
    api::{quantile, round},
    window::Evidence,
};

/// One remote endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Dependency {
    /// Failed connects.
    pub connect_failures: u64,
    /// 95th percentile of connect times, seconds.
    pub connect_p95_seconds: Option<f64>,
    /// Connections established now.
    pub connections: i64,
    /// Answers timed.
    pub count: u64,
    /// Median response time, seconds.
    pub p50_seconds: Option<f64>,
    /// 95th percentile, seconds.
    pub p95_seconds: Option<f64>,
    /// 99th percentile, seconds.
    pub p99_seconds: Option<f64>,
    /// `IP:port`, or `other`.
    pub remote: String,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// The share of answers above the slow threshold.
    pub slow_share: f64,
}

/// Its section of a container's evidence: one entry per remote.
pub fn section(e: &Evidence) -> Vec<Dependency> {
    e.dependency
        .remotes
        .iter()
        .map(|r| Dependency {
            connect_failures: r.failures,
            connect_p95_seconds: quantile(&r.connect, 0.95),
            connections: r.connections,
            count: r.response.count(),
            p50_seconds: quantile(&r.response, 0.5),
            p95_seconds: quantile(&r.response, 0.95),
            p99_seconds: quantile(&r.response, 0.99),
            remote: r.remote.to_string(),
            retransmits: r.retransmits,
            slow_share: round(r.response.slow_share()),
        })
        .collect()
}
