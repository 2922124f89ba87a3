//! Workers pressure: the worst listening port's share of requests that
//! waited for a worker longer than the threshold, over its budget. A
//! symptom (`Bottleneck::is_symptom`): the verdict only when no cause is.

use crate::{
    verdict::{Bottleneck, Finding, Thresholds, over, slow_score},
    window::Evidence,
};

/// Its finding over `e`, if over its threshold.
pub fn judge(e: &Evidence, t: &Thresholds) -> Option<Finding> {
    e.requests
        .ports
        .iter()
        .filter_map(|p| {
            over(
                Bottleneck::Workers,
                slow_score(&p.queue, t),
                p.port.to_string(),
            )
        })
        .max_by(|a, b| a.score.total_cmp(&b.score))
}
