//! Storage pressure: the share of slow storage syscalls over its budget,
//! in the classes it is judged on.

use crate::{
    verdict::{Bottleneck, Finding, Thresholds, over, slow_score},
    window::Evidence,
};

/// Its finding over `e`, if over its threshold.
pub fn judge(e: &Evidence, t: &Thresholds) -> Option<Finding> {
    t.storage_classes
        .iter()
        .filter_map(|class| {
            let (_, latency, _) = e.syscall.classes.iter().find(|(c, _, _)| c == class)?;
            over(
                Bottleneck::Storage,
                slow_score(latency, t),
                class.label().to_string(),
            )
        })
        .max_by(|a, b| a.score.total_cmp(&b.score))
}
