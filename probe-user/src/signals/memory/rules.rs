//! Memory's rules: the memory score (the share of time stalled, in reclaim
//! or by the kernel's PSI, over its threshold; or an OOM kill), and an
//! alert at each OOM kill.

use super::metrics::{OOM_KILLS, RECLAIM};
use crate::{
    rules::{
        Alert, Context, Record, Score, SignalRules,
        promql::{C, WHO, for_containers},
    },
    signals::psi::metrics::STALL,
    verdict::Bottleneck,
};

/// Its rules.
pub fn rules(cx: &Context) -> SignalRules {
    let (t, w) = (cx.thresholds, &cx.window);
    let verdict = vec![Record {
        comment: format!(
            "Share of the last {w} its threads stalled on memory: in reclaim, or the \
             kernel's PSI memory `some`, whichever is larger."
        ),
        name: "container:pressure_memory_stall:share",
        expr: format!(
            "max by ({C}) (\n  \
             label_replace(sum by ({C}) (rate({RECLAIM}_sum[{w}])),\n    \
             \"stall\", \"reclaim\", \"\", \"\")\n  \
             or label_replace(sum by ({C}) (\n    \
             rate({STALL}{{resource=\"memory\",kind=\"some\"}}[{w}])),\n    \
             \"stall\", \"psi\", \"\", \"\"))"
        ),
    }];
    let scores = vec![Score {
        bottleneck: Bottleneck::Memory,
        expr: format!(
            "max by ({C}) (\n  \
             label_replace(container:pressure_memory_stall:share / {share},\n    \
             \"why\", \"stall\", \"\", \"\")\n  \
             or label_replace(3 * (sum by ({C}) (\n    \
             increase({OOM_KILLS}[{w}])) > bool 0),\n    \
             \"why\", \"oom\", \"\", \"\"))",
            share = t.memory_stall_share
        ),
        alert: None,
    }];
    // Harm done: each OOM kill warns at once.
    let alerts = vec![Alert {
        name: "ContainerOomKilled",
        expr: for_containers(|only| {
            format!("sum by ({C}) (increase({OOM_KILLS}{{{only}}}[{w}])) > 0")
        }),
        for_: "0m",
        severity: "warning",
        bottleneck: Some(Bottleneck::Memory),
        summary: format!("{WHO}: OOM-killed"),
        description: format!(
            "The OOM killer killed {{{{ $value | printf \"%.0f\" }}}} of its processes in \
             the last {w}: {}.",
            Bottleneck::Memory.advice()
        ),
    }];
    SignalRules {
        verdict,
        scores,
        alerts,
        ..SignalRules::default()
    }
}
