//! The syscalls' rules: p95 by class for dashboards, and the storage
//! score: the share of slow storage syscalls over its budget.

use super::metrics::LATENCY;
use crate::{
    export::probe::STORAGE_CLASS,
    rules::{
        Context, Record, Score, SignalRules,
        promql::{C, p95, slow_share},
    },
    verdict::{self, Bottleneck},
};

/// Its rules.
pub fn rules(cx: &Context) -> SignalRules {
    let (t, w, quantile) = (cx.thresholds, &cx.window, cx.quantile_events);
    let trends = vec![Record {
        comment: "p95 syscall duration, by class.".into(),
        name: "container_class:pressure_syscall_latency_seconds:p95_5m",
        expr: p95(LATENCY, "class", "5m"),
    }];
    // Of the storage classes, those the agent judges storage on (where it
    // cannot class reads and writes by their fd, sync alone); sync alone
    // too from an agent that does not say (older than these rules), which
    // may be one of those.
    let share = |classes: &str| slow_share(LATENCY, classes, "class", t.storage_p95, w, quantile);
    let verdict = vec![Record {
        comment: format!(
            "Share of sync and file_io syscalls slower than {storage} s over the last {w} (its \
             p95 is over when 5% or more are; at least {quantile} calls), in the classes the \
             agent judges storage on ({STORAGE_CLASS}; sync where it does not say).",
            storage = t.storage_p95
        ),
        name: "container_class:pressure_storage_slow:share",
        expr: format!(
            "({})\nand on (instance, class) {STORAGE_CLASS} == 1\n\
             or ({}\nunless on (instance) {STORAGE_CLASS})",
            share("class=~\"sync|file_io\""),
            share("class=\"sync\""),
        ),
    }];
    let scores = vec![Score {
        bottleneck: Bottleneck::Storage,
        expr: format!(
            "max by ({C}) (\n  \
             container_class:pressure_storage_slow:share / {budget})",
            budget = verdict::SLOW_BUDGET
        ),
        alert: None,
    }];
    SignalRules {
        trends,
        verdict,
        scores,
        ..SignalRules::default()
    }
}
