//! The requests' rules: each port's p95 response and queue times and its
//! request rate, for dashboards and autoscalers.

use super::metrics::{QUEUE, RESPONSE};
use crate::rules::{
    Context, Record, SignalRules,
    promql::{C, p95},
};

/// Its rules.
pub fn rules(_cx: &Context) -> SignalRules {
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
    SignalRules {
        trends,
        ..SignalRules::default()
    }
}
