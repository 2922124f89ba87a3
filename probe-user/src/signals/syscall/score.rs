//! Storage pressure: the share of slow storage syscalls over its budget,
//! in the classes it is judged on.

use crate::{
    verdict::{Bottleneck, Finding, Thresholds, over, slow_score},
    window::Evidence,
};

/// Its finding over `e`, if over its threshold: the worst of the classes
/// it is judged on, a tie to the first of them.
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
        .reduce(|worst, next| {
            if next.score > worst.score {
                next
            } else {
                worst
            }
        })
}
