//! The request signal's metric families.

use probe_common::{
    histogram::Histogram,
    requests::{PortStats, error},
};

use super::ports::PortSeries;
use crate::{
    export::{
        histogram,
        model::{Family, Kind, LazyFamily, cgroup_labels, histogram_family, number, series, with},
    },
    sampler::Sample,
    snapshot::CgroupStats,
};

/// How long each port's requests took to answer.
pub const RESPONSE: &str = "pressure_request_seconds";
/// How long each port's requests waited to be read.
pub const QUEUE: &str = "pressure_request_queue_seconds";
/// Requests waiting to be read now.
pub const WAITING: &str = "pressure_requests_waiting";
/// Inbound connections established now.
pub const CONNECTIONS: &str = "pressure_request_connections";
/// Requests that failed, by reason.
pub const ERRORS: &str = "pressure_request_errors_total";
/// Connections whose exchanges are not timed.
pub const MULTIPLEXED: &str = "pressure_request_multiplexed_connections_total";

/// Its families of `sample`.
pub fn families(sample: &Sample) -> Vec<LazyFamily<'_>> {
    let snapshot = &sample.snapshot;
    let cgroups = &snapshot.cgroups;
    vec![
        Box::new(move || {
            port_histogram(
                RESPONSE,
                "Time the cgroup took to answer the requests arriving on one of its listening \
                 ports (inbound TCP connections), per port: from the first byte of a request \
                 arriving on a connection with nothing unanswered to the first byte of the \
                 response sent. Its count is the requests answered.",
                cgroups,
                |stats| (&stats.response, 0),
                None,
            )
        }),
        Box::new(move || {
            port_histogram(
                QUEUE,
                "Time the requests arriving on one of the cgroup's listening ports waited for \
                 the application to read them (for a worker), per port: from the first byte of \
                 a request arriving to the application's first read of it.",
                cgroups,
                |stats| (&stats.queue, stats.slow_queued),
                snapshot.slow.queue,
            )
        }),
        Box::new(move || {
            port_number(
                WAITING,
                "Inbound connections of one of the cgroup's listening ports holding a request \
                 the application has not read yet, now, per port.",
                Kind::Gauge,
                cgroups,
                |stats| stats.waiting.max(0) as f64,
            )
        }),
        Box::new(move || {
            port_number(
                CONNECTIONS,
                "Inbound connections of one of the cgroup's listening ports established now, \
                 per port (connections accepted before the agent started count from their \
                 first request).",
                Kind::Gauge,
                cgroups,
                |stats| stats.connections.max(0) as f64,
            )
        }),
        Box::new(move || Family {
            name: ERRORS,
            help: "Requests to one of the cgroup's listening ports that failed, per port, by \
                   reason: reset (the connection was reset, or closed by the server, with a \
                   request unanswered), http_5xx (the response began with an HTTP/1.x status \
                   line of class 5xx; not seen through TLS).",
            kind: Kind::Counter,
            series: ports(cgroups)
                .flat_map(|(c, p)| {
                    error::LABELS
                        .iter()
                        .zip(p.stats.errors)
                        .map(move |(why, count)| {
                            number(with(port_labels(c, p), "reason", why), count as f64)
                        })
                })
                .collect(),
        }),
        Box::new(move || {
            port_number(
                MULTIPLEXED,
                "Inbound connections of one of the cgroup's listening ports whose server spoke \
                 HTTP/2 (its first bytes a SETTINGS frame), per port: their streams interleave, \
                 so their exchanges are not timed.",
                Kind::Counter,
                cgroups,
                |stats| stats.multiplexed as f64,
            )
        }),
    ]
}

/// Every exported port of every cgroup.
fn ports(cgroups: &[CgroupStats]) -> impl Iterator<Item = (&CgroupStats, &PortSeries)> {
    cgroups
        .iter()
        .flat_map(|c| c.request_ports.iter().map(move |p| (c, p)))
}

/// A number per port, `value` of its statistics.
fn port_number(
    name: &'static str,
    help: &'static str,
    kind: Kind,
    cgroups: &[CgroupStats],
    value: fn(&PortStats) -> f64,
) -> Family {
    Family {
        name,
        help,
        kind,
        series: ports(cgroups)
            .map(|(c, p)| number(port_labels(c, p), value(&p.stats)))
            .collect(),
    }
}

/// A histogram per port of the durations `pick` chooses from its
/// statistics (with the count above `slow`, where the kernel counts one);
/// ports with none are left out.
fn port_histogram(
    name: &'static str,
    help: &'static str,
    cgroups: &[CgroupStats],
    pick: fn(&PortStats) -> (&Histogram, u64),
    slow: Option<f64>,
) -> Family {
    histogram_family(
        name,
        help,
        ports(cgroups)
            .filter(|(_, p)| pick(&p.stats).0.buckets.iter().any(|&n| n > 0))
            .map(|(c, p)| {
                let (hist, above) = pick(&p.stats);
                series(
                    port_labels(c, p),
                    histogram::doubling(hist, slow.map(|b| (b, above))),
                )
            })
            .collect(),
    )
}

fn port_labels(c: &CgroupStats, p: &PortSeries) -> Vec<(&'static str, String)> {
    with(cgroup_labels(&c.labels), "port", &p.port().to_string())
}
