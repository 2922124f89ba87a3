//! The dependency signal's metric families.

use probe_common::{
    dependency::{RemoteStats, reason, request},
    histogram::Histogram,
};

use crate::{
    export::{
        histogram,
        model::{
            Family, Kind, LazyFamily, Value, cgroup_labels, histogram_family, number, series, with,
        },
    },
    sampler::Sample,
    signals::dependency::remotes::RemoteSeries,
    snapshot::CgroupStats,
};

/// How long each remote took to answer.
pub const RESPONSE: &str = "pressure_dependency_response_seconds";
/// How long connections to each remote took to open.
pub const CONNECT: &str = "pressure_dependency_connect_seconds";
/// Connections to each remote that did not open, by reason.
pub const CONNECT_FAILURES: &str = "pressure_dependency_connect_failures_total";
/// Segments retransmitted to each remote.
pub const RETRANSMITS: &str = "pressure_dependency_retransmits_total";
/// Exchanges with each remote left out of its response times, by reason.
pub const UNTIMED: &str = "pressure_dependency_untimed_total";
/// Connections to each remote established now.
pub const CONNECTIONS: &str = "pressure_dependency_connections";

/// Its families of `sample`.
pub fn families(sample: &Sample) -> Vec<LazyFamily<'_>> {
    let snapshot = &sample.snapshot;
    let cgroups = &snapshot.cgroups;
    vec![
        Box::new(move || {
            remote_histogram(
                RESPONSE,
                "Time a remote endpoint took to answer the cgroup's requests, per remote \
             (IP:port of the peer, for connections the cgroup opened): from a request sent \
             (data written with no answer open and nothing unread from the peer) to the first \
             byte of the answer.",
                cgroups,
                |stats| (&stats.response, stats.slow_responses),
                snapshot.slow.dependency,
            )
        }),
        Box::new(move || {
            remote_histogram(
                CONNECT,
                "Time the cgroup's connections to a remote endpoint took to be established \
             (SYN_SENT to ESTABLISHED), per remote.",
                cgroups,
                |stats| (&stats.connect, 0),
                None,
            )
        }),
        Box::new(move || Family {
            name: CONNECT_FAILURES,
            help: "Connections the cgroup tried to open to a remote endpoint that did not \
                   open, per remote, by reason: refused (reset by the peer), timed_out (no \
                   answer to the SYNs: the kernel gave up, or the caller did after a SYN was \
                   sent again), unreachable (an ICMP error), other (another socket error), \
                   abandoned (closed by the caller first with no error and before its SYN \
                   was sent again, such as Happy Eyeballs' losing attempt: no failure of the \
                   remote, never in the verdict).",
            kind: Kind::Counter,
            series: remotes(cgroups)
                .flat_map(|(c, r)| {
                    reason::LABELS
                        .iter()
                        .zip(r.stats.failures)
                        .map(move |(why, count)| {
                            number(with(remote_labels(c, r), "reason", why), count as f64)
                        })
                })
                .collect(),
        }),
        Box::new(move || Family {
            name: RETRANSMITS,
            help: "TCP segments retransmitted on the cgroup's connections to a remote endpoint \
                   (SYNs included), per remote.",
            kind: Kind::Counter,
            series: remotes(cgroups)
                .map(|(c, r)| number(remote_labels(c, r), r.stats.retransmits as f64))
                .collect(),
        }),
        Box::new(move || Family {
            name: UNTIMED,
            help: "Exchanges with a remote endpoint that are not in its response times, per \
                   remote, by what their first bytes say (reason): long_poll (a command that \
                   waits on the server by design, such as Redis' BLPOP or XREAD BLOCK), \
                   handshake (a TLS handshake record), multiplexed (an HTTP/2 connection, \
                   whose sends and arrivals need not belong together), unknown (an \
                   encrypted connection opened before the agent started, which may be \
                   HTTP/2).",
            kind: Kind::Counter,
            series: remotes(cgroups)
                .flat_map(|(c, r)| {
                    (1..request::COUNT).map(move |kind| {
                        number(
                            with(remote_labels(c, r), "reason", request::UNTIMED_LABELS[kind]),
                            r.stats.untimed[kind] as f64,
                        )
                    })
                })
                .collect(),
        }),
        Box::new(move || Family {
            name: CONNECTIONS,
            help: "Connections the cgroup opened to a remote endpoint that are established \
                   now, per remote.",
            kind: Kind::Gauge,
            series: remotes(cgroups)
                .map(|(c, r)| number(remote_labels(c, r), r.stats.established.max(0) as f64))
                .collect(),
        }),
    ]
}

/// Every exported remote of every cgroup.
fn remotes(cgroups: &[CgroupStats]) -> impl Iterator<Item = (&CgroupStats, &RemoteSeries)> {
    cgroups
        .iter()
        .flat_map(|c| c.remotes.iter().map(move |r| (c, r)))
}

/// A histogram per remote endpoint of the durations `pick` chooses from
/// its statistics (with the count above `slow`, where the kernel counts
/// one); remotes with none are left out.
fn remote_histogram(
    name: &'static str,
    help: &'static str,
    cgroups: &[CgroupStats],
    pick: fn(&RemoteStats) -> (&Histogram, u64),
    slow: Option<f64>,
) -> Family {
    histogram_family(
        name,
        help,
        remotes(cgroups)
            .filter(|(_, r)| pick(&r.stats).0.buckets.iter().any(|&n| n > 0))
            .map(|(c, r)| {
                let (hist, above) = pick(&r.stats);
                series(remote_labels(c, r), latency(hist, slow.map(|b| (b, above))))
            })
            .collect(),
    )
}

fn remote_labels(c: &CgroupStats, r: &RemoteSeries) -> Vec<(&'static str, String)> {
    with(cgroup_labels(&c.labels), "remote", &r.remote().to_string())
}

/// A remote endpoint's histogram as exported (`slow`: see [`latency`]).
pub fn latency(hist: &Histogram, slow: Option<(f64, u64)>) -> Value {
    histogram::doubling(hist, slow)
}
