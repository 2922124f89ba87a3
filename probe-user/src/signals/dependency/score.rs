//! A dependency's pressure: the worst remote's share of slow answers over
//! its budget, or its connects failing.

use crate::{
    signals::dependency::remotes::Remote,
    verdict::{Bottleneck, Finding, Thresholds, over, slow_score},
    window::Evidence,
};

/// Its finding over `e`, if over its threshold.
pub fn judge(e: &Evidence, t: &Thresholds) -> Option<Finding> {
    e.dependency
        .remotes
        .iter()
        .filter_map(|r| {
            let ignored = t.dependency_ignore.iter().any(|i| i.covers(&r.remote));
            let slow = if ignored {
                0.0
            } else {
                slow_score(&r.response, t)
            };
            // `other` is many remotes: its failures are none's `min_events`.
            let failing = if r.failures >= t.min_events && r.remote != Remote::Other {
                2.0
            } else {
                0.0
            };
            over(
                Bottleneck::Dependency,
                slow.max(failing),
                r.remote.to_string(),
            )
        })
        .max_by(|a, b| a.score.total_cmp(&b.score))
}
