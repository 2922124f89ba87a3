//! The listeners' rules: each port's fill and drops for dashboards, the
//! accept-queue score (fill now, fill p95, drops), and an alert that pages
//! when connections are dropped for 15 minutes.

use super::metrics::{ACCEPT_QUEUE_DEPTH, ACCEPT_QUEUE_FILL, ACCEPT_QUEUE_LIMIT, LISTEN_OVERFLOWS};
use crate::{
    rules::{
        Alert, Context, Record, Score, SignalRules,
        promql::{C, WHO, for_containers, p95},
    },
    verdict::Bottleneck,
};

/// Its rules.
pub fn rules(cx: &Context) -> SignalRules {
    let (t, w, quantile) = (cx.thresholds, &cx.window, cx.quantile_events);
    let trends = vec![
        Record {
            comment: "How full each listening port's accept queue is now (0..1+).".into(),
            name: "port:pressure_tcp_accept_queue:fill",
            expr: format!("{ACCEPT_QUEUE_DEPTH} / clamp_min({ACCEPT_QUEUE_LIMIT}, 1)"),
        },
        Record {
            comment: "Connections dropped per second because an accept queue was full.".into(),
            name: "port:pressure_tcp_listen_overflows:rate5m",
            expr: format!("rate({LISTEN_OVERFLOWS}[5m])"),
        },
    ];
    let verdict = vec![Record {
        comment: format!(
            "Its queued connections' accept-queue fill, p95 over the last {w} (with at least \
             {quantile} of them)."
        ),
        name: "container:pressure_accept_queue_fill:p95",
        expr: format!(
            "{}\n\
             and on ({C}) sum by ({C}) (\n  \
             increase({ACCEPT_QUEUE_FILL}_count[{w}])) >= {quantile}",
            p95(ACCEPT_QUEUE_FILL, "", w)
        ),
    }];
    let scores = vec![Score {
        bottleneck: Bottleneck::AcceptQueue,
        expr: format!(
            "max by ({C}) (\n  \
             label_replace(max by ({C}) (port:pressure_tcp_accept_queue:fill) / {fill},\n    \
             \"why\", \"fill_now\", \"\", \"\")\n  \
             or label_replace(container:pressure_accept_queue_fill:p95 / {fill},\n    \
             \"why\", \"fill_p95\", \"\", \"\")\n  \
             or label_replace(2 * (sum by ({C}) (\n    \
             increase({LISTEN_OVERFLOWS}[{w}])) > bool 0),\n    \
             \"why\", \"drops\", \"\", \"\"))",
            fill = t.accept_fill
        ),
        alert: None,
    }];
    // Harm done: connections dropped in every window for 15 minutes page.
    let alerts = vec![Alert {
        name: "ContainerConnectionsDropped",
        expr: for_containers(|only| {
            format!(
                "sum by ({C}, netns, port) (\n  increase({LISTEN_OVERFLOWS}{{{only}}}[{w}])) > 0"
            )
        }),
        for_: "15m",
        severity: "critical",
        bottleneck: Some(Bottleneck::AcceptQueue),
        summary: format!("{WHO}: port {{{{ $labels.port }}}} drops connections"),
        description: format!(
            "Connections to port {{{{ $labels.port }}}} have been dropped for 15 minutes, \
             {{{{ $value | printf \"%.0f\" }}}} in the last {w}, its accept queue full: {}.",
            Bottleneck::AcceptQueue.advice()
        ),
    }];
    SignalRules {
        trends,
        verdict,
        scores,
        alerts,
    }
}
