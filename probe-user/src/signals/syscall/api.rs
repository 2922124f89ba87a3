//! The syscalls' section of the API's evidence.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    api::{quantile, round},
    window::Evidence,
};

/// One class of syscalls.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Syscalls {
    /// Syscalls.
    pub count: u64,
    /// Those that returned an error.
    pub errors: u64,
    /// Median, seconds.
    pub p50_seconds: Option<f64>,
    /// 95th percentile, seconds.
    pub p95_seconds: Option<f64>,
    /// 99th percentile, seconds.
    pub p99_seconds: Option<f64>,
    /// The share above the class's slow threshold.
    pub slow_share: f64,
}

/// Its section of a container's evidence: by class.
pub fn section(e: &Evidence) -> BTreeMap<String, Syscalls> {
    e.syscall
        .classes
        .iter()
        .map(|(class, hist, errors)| {
            let stats = Syscalls {
                count: hist.count(),
                errors: *errors,
                p50_seconds: quantile(hist, 0.5),
                p95_seconds: quantile(hist, 0.95),
                p99_seconds: quantile(hist, 0.99),
                slow_share: round(hist.slow_share()),
            };
            (class.label().to_string(), stats)
        })
        .collect()
}
