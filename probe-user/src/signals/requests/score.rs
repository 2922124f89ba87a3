//! Workers pressure: the worst listening port's share of requests that
//! waited for a worker longer than the threshold, over its budget. A
//! symptom (`Bottleneck::is_symptom`): the verdict only when no cause is;
//! and not the workers' at all when its threads waited for a CPU at least
//! [`CPU_EXPLAINS`] as long as its requests waited for a worker (a worker
//! waiting for a CPU reads late: a CPU matter, under its threshold or not).

use crate::{
    verdict::{Bottleneck, Finding, Thresholds, over, slow_score},
    window::Evidence,
};

/// CPU wait over queue time from which the queueing is the CPU's.
pub const CPU_EXPLAINS: f64 = 0.5;

/// Its finding over `e`, if over its threshold.
pub fn judge(e: &Evidence, t: &Thresholds) -> Option<Finding> {
    let ports = &e.requests.ports;
    let queued: f64 = ports.iter().map(|p| p.queue.sum_seconds()).sum();
    if e.runqueue.waits.sum_seconds() >= CPU_EXPLAINS * queued {
        return None;
    }
    ports
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
