//! The requests' rules: each port's p95 response and queue times and its
//! request rate, for dashboards and autoscalers; and the workers score:
//! the share of a port's requests that waited long for a worker, over its
//! budget; and ScaleOutWouldHelp: the symptom (a port's p95 response
//! time over the latency objective) with a cause that replicas fix.

use super::metrics::{QUEUE, RESPONSE};
use crate::{
    export::bottleneck::BOTTLENECK,
    rules::{
        ALERT_FOR, Alert, Context, Record, Score, SignalRules,
        promql::{C, WHO, for_containers, p95, slow_share},
    },
    verdict::{self, Bottleneck},
};

/// Its rules.
pub fn rules(cx: &Context) -> SignalRules {
    let (t, w, quantile) = (cx.thresholds, &cx.window, cx.quantile_events);
    let trends = vec![
        Record {
            comment: "p95 time each listening port took to answer its requests, per container \
                      and port."
                .into(),
            name: "container_port:pressure_request_seconds:p95_5m",
            expr: p95(RESPONSE, "port", "5m"),
        },
        Record {
            comment: "p95 time requests waited for a worker to read them, per container and \
                      port."
                .into(),
            name: "container_port:pressure_request_queue_seconds:p95_5m",
            expr: p95(QUEUE, "port", "5m"),
        },
        Record {
            comment: "Requests answered per second, per container and port.".into(),
            name: "container_port:pressure_requests:rate5m",
            expr: format!("sum by ({C}, port) (rate({RESPONSE}_count[5m]))"),
        },
    ];
    let verdict = vec![Record {
        comment: format!(
            "Share of each listening port's requests that waited longer than {queue} s for a \
             worker over the last {w} (its p95 is over when 5% or more did; at least \
             {quantile} requests).",
            queue = t.queue_p95
        ),
        name: "container_port:pressure_request_queue_slow:share",
        expr: slow_share(QUEUE, "", "port", t.queue_p95, w, quantile),
    }];
    let scores = vec![Score {
        bottleneck: Bottleneck::Workers,
        // Not the workers' when its threads waited for a CPU at least
        // half as long as its requests waited for a worker.
        expr: format!(
            "max by ({C}) (\n  \
             container_port:pressure_request_queue_slow:share / {budget})\n\
             unless on ({C}) (container:pressure_cpu_wait:share\n  \
             >= {explains} * sum by ({C}) (rate({QUEUE}_sum[{w}])))",
            budget = verdict::SLOW_BUDGET,
            explains = super::score::CPU_EXPLAINS
        ),
        alert: None,
    }];
    // The verdicts more replicas fix, as a label matcher.
    let replicas_fix: Vec<&str> = Bottleneck::ALL
        .iter()
        .filter(|b| b.replicas_help() == Some(true))
        .map(|b| b.label())
        .collect();
    let alerts = vec![Alert {
        name: "ScaleOutWouldHelp",
        expr: for_containers(|only| {
            format!(
                "(container_port:pressure_request_seconds:p95_5m{{{only}}} > {latency})\n  \
                 * on ({C}) group_left (bottleneck)\n  \
                 (container:pressure_bottleneck:window{{bottleneck=~\"{}\"}} > bool 0)",
                replicas_fix.join("|"),
                latency = cx.latency_p95
            )
        }),
        for_: ALERT_FOR,
        severity: "warning",
        bottleneck: None,
        summary: format!(
            "{WHO}: port {{{{ $labels.port }}}} answers slowly, and more replicas would help"
        ),
        description: format!(
            "The p95 response time of port {{{{ $labels.port }}}} is \
             {{{{ $value | printf \"%.3f\" }}}} s, over {latency} s for {ALERT_FOR}, and the \
             container's verdict ({BOTTLENECK}) is {{{{ $labels.bottleneck }}}}, which more \
             replicas fix: scale it out.",
            latency = cx.latency_p95
        ),
    }];
    SignalRules {
        trends,
        verdict,
        scores,
        alerts,
    }
}
