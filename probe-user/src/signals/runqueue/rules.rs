//! The run queue's rules: p95 waits and preemptions for dashboards, and
//! the CPU scores: waits for a CPU over their share, split by whose doing
//! (its own: cpu; others': cpu_neighbour).

use super::metrics::{LATENCY, PREEMPTIONS, WAITED_BEHIND};
use crate::{
    rules::{
        Context, Record, Score, SignalRules,
        promql::{C, p95},
    },
    verdict::Bottleneck,
};

/// Its rules.
pub fn rules(cx: &Context) -> SignalRules {
    let (t, w, min) = (cx.thresholds, &cx.window, cx.thresholds.min_events);
    let trends = vec![
        Record {
            comment: "p95 time a container's runnable threads waited for a CPU.".into(),
            name: "container:pressure_runqueue_latency_seconds:p95_5m",
            expr: p95(LATENCY, "", "5m"),
        },
        Record {
            comment: "Preemptions per second, by who preempted.".into(),
            name: "container:pressure_runqueue_preemptions:rate5m",
            expr: format!("sum by ({C}, by) (rate({PREEMPTIONS}[5m]))"),
        },
    ];
    let verdict = vec![
        Record {
            comment: format!(
                "Time the container's threads waited for a CPU over the last {w}, summed over \
                 threads, per second of it."
            ),
            name: "container:pressure_cpu_wait:share",
            expr: format!("sum by ({C}) (rate({LATENCY}_sum[{w}]))"),
        },
        Record {
            comment: format!("Waits for a CPU over the last {w}."),
            name: "container:pressure_cpu_waits:increase",
            expr: format!("sum by ({C}) (increase({LATENCY}_count[{w}]))"),
        },
        Record {
            comment: format!(
                "Of the time its threads waited for a CPU behind someone over the last {w}, the \
                 share that was its own doing (behind its own threads, or throttled at its CPU \
                 quota) rather than other cgroups'."
            ),
            name: "container:pressure_own_wait:share",
            expr: format!(
                "sum by ({C}) (increase(\n  \
                 {WAITED_BEHIND}{{by=~\"same_cgroup|throttled\"}}[{w}]))\n\
                 / sum by ({C}) (increase(\n  \
                 {WAITED_BEHIND}{{by=~\"same_cgroup|throttled|other\"}}[{w}]))"
            ),
        },
    ];
    let cpu = format!(
        "container:pressure_cpu_wait:share / {}\n  \
         and on ({C}) container:pressure_cpu_waits:increase >= {min}",
        t.cpu_wait_share
    );
    // At least cpu_own_share of its waits behind someone its own doing
    // (0/0, no such wait, compares false).
    let own_most = format!("container:pressure_own_wait:share >= {}", t.cpu_own_share);
    let scores = vec![
        Score {
            bottleneck: Bottleneck::CpuNeighbour,
            expr: format!("({cpu})\nunless on ({C}) ({own_most})"),
            alert: None,
        },
        Score {
            bottleneck: Bottleneck::Cpu,
            expr: format!("({cpu})\nand on ({C}) ({own_most})"),
            alert: None,
        },
    ];
    SignalRules {
        trends,
        verdict,
        scores,
        ..SignalRules::default()
    }
}
