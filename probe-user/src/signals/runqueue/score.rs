//! The run queue's pressure: time waited for a CPU over its share; `cpu`
//! when its own threads or quota hold it back, `cpu_neighbour` otherwise.

use crate::{
    verdict::{Bottleneck, Finding, Thresholds, over},
    window::Evidence,
};

/// Its finding over `e`, if over its threshold.
pub fn judge(e: &Evidence, t: &Thresholds) -> Option<Finding> {
    if e.runqueue.waits.count() < t.min_events {
        return None;
    }
    // `cpu` needs evidence that its own threads (or quota) hold it back;
    // without it (no wait after a preemption) more replicas are not known
    // to help.
    let kind = if e
        .runqueue
        .own_wait_share()
        .is_some_and(|own| own >= t.cpu_own_share)
    {
        Bottleneck::Cpu
    } else {
        Bottleneck::CpuNeighbour
    };
    over(
        kind,
        e.runqueue.wait_share(e.seconds) / t.cpu_wait_share,
        String::new(),
    )
}
