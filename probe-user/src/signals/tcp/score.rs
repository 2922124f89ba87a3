//! The accept queue's pressure: the fullest listener now, the p95 fill of
//! queued connections, or connections dropped.

use crate::{
    verdict::{Bottleneck, Finding, Thresholds, over, p95_events},
    window::Evidence,
};

/// Its finding over `e`, if over its threshold.
pub fn judge(e: &Evidence, t: &Thresholds) -> Option<Finding> {
    // The port that dropped the most, else the fullest now.
    let dropping = e.tcp.ports.iter().filter(|p| p.1 > 0).max_by_key(|p| p.1);
    let fullest = e.tcp.ports.iter().max_by(|a, b| a.2.total_cmp(&b.2));
    let queued: u64 = e.tcp.fill.iter().sum();
    let observed = if queued >= p95_events(t) {
        e.tcp.fill_quantile(0.95)
    } else {
        0.0
    };
    let fill_now = fullest.map_or(0.0, |p| p.2);
    let mut score = observed.max(fill_now) / t.accept_fill;
    if dropping.is_some() {
        score = score.max(2.0);
    }
    let port = dropping
        .or(fullest)
        .map_or(String::new(), |p| p.0.to_string());
    over(Bottleneck::AcceptQueue, score, port)
}
