//! Memory pressure: time stalled in reclaim or by PSI over its share, or
//! an OOM kill.

use crate::{
    verdict::{Bottleneck, Finding, Thresholds, over},
    window::Evidence,
};

/// Its finding over `e`, if over its threshold.
pub fn judge(e: &Evidence, t: &Thresholds) -> Option<Finding> {
    let psi = e
        .psi
        .stalls
        .map_or(0.0, |psi| psi[1][0] / e.seconds.max(f64::EPSILON));
    let mut score = e.memory.reclaim_share(e.seconds).max(psi) / t.memory_stall_share;
    if e.memory.oom_kills > 0 {
        score = score.max(3.0);
    }
    over(Bottleneck::Memory, score, String::new())
}
