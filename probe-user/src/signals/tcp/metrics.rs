//! The TCP listener signal's metric families.

use probe_common::tcp::{FILL_SCALE, FILL_STEPS, TcpFill};

use crate::{
    export::model::{
        Family, HistogramValue, Kind, LazyFamily, Value, cgroup_labels, histogram_family, number,
        series,
    },
    sampler::Sample,
    snapshot::PortStats,
};

/// Connections waiting to be accepted, per port.
pub const ACCEPT_QUEUE_DEPTH: &str = "pressure_tcp_accept_queue_depth";
/// The accept queue's limit, per port.
pub const ACCEPT_QUEUE_LIMIT: &str = "pressure_tcp_accept_queue_limit";
/// Handshakes under way, per port.
pub const SYN_QUEUE_DEPTH: &str = "pressure_tcp_syn_queue_depth";
/// Connections dropped at a full accept queue, per port.
pub const LISTEN_OVERFLOWS: &str = "pressure_tcp_listen_overflows_total";
/// SYNs dropped at a full SYN queue, per port.
pub const SYN_QUEUE_DROPS: &str = "pressure_tcp_syn_queue_drops_total";
/// How full the accept queue was as each connection queued.
pub const ACCEPT_QUEUE_FILL: &str = "pressure_tcp_accept_queue_fill_ratio";

/// Its families of `sample`.
pub fn families(sample: &Sample) -> Vec<LazyFamily<'_>> {
    let snapshot = &sample.snapshot;
    let cgroups = &snapshot.cgroups;
    let ports = &snapshot.ports;
    vec![
        Box::new(move || {
            port_family(
                ACCEPT_QUEUE_DEPTH,
                "Connections waiting in the accept queue of a listening TCP port, read from the \
             sockets at the latest sample (IPv4, IPv6 and SO_REUSEPORT sockets of a port add \
             up).",
                Kind::Gauge,
                ports,
                |p| Some(p.depth),
            )
        }),
        Box::new(move || {
            port_family(
                ACCEPT_QUEUE_LIMIT,
                "Accept queue limit (listen backlog) of a listening TCP port; the queue holds at \
             most one more connection than this.",
                Kind::Gauge,
                ports,
                |p| Some(p.limit),
            )
        }),
        Box::new(move || {
            port_family(
                SYN_QUEUE_DEPTH,
                "Handshakes under way in the SYN queue of a listening TCP port (SYN answered, \
             final ACK not yet taken), read from the sockets at the latest sample; its limit is \
             the accept queue's (with SYN cookies off, tcp_max_syn_backlog bounds it too).",
                Kind::Gauge,
                ports,
                |p| p.syn_queue,
            )
        }),
        Box::new(move || {
            port_family(
                LISTEN_OVERFLOWS,
                "Connections dropped because the accept queue of a listening TCP port was full \
             (at the SYN or at the final ACK): counted at the listener where the kernel allows \
             fentry (since the agent started or the socket opened), else the kernel's \
             ListenOverflows of the network namespace attributed to the port whose sockets' \
             drop count rose with it; a closed listener's drops stay with its port.",
                Kind::Counter,
                ports,
                |p| Some(p.overflows),
            )
        }),
        Box::new(move || {
            port_family(
                SYN_QUEUE_DROPS,
                "SYNs a listening TCP port dropped because its SYN queue was full with SYN \
             cookies off (the kernel's TCPReqQFullDrop, counted at the listener since the \
             agent started or the socket opened); a closed listener's drops stay with its \
             port. Exported where the kernel lets the agent count drops at each listener.",
                Kind::Counter,
                ports,
                |p| p.syn_drops,
            )
        }),
        Box::new(move || {
            histogram_family(
                ACCEPT_QUEUE_FILL,
                "Accept queue depth / limit of the cgroup's listening TCP sockets, observed each \
             time a connection is queued (above 1: the queue holds one more than its limit).",
                cgroups
                    .iter()
                    .filter_map(|c| {
                        Some(series(cgroup_labels(&c.labels), fill(c.tcp_fill.as_ref()?)))
                    })
                    .collect(),
            )
        }),
    ]
}

fn port_family(
    name: &'static str,
    help: &'static str,
    kind: Kind,
    ports: &[PortStats],
    value: fn(&PortStats) -> Option<u64>,
) -> Family {
    Family {
        name,
        help,
        kind,
        series: ports
            .iter()
            .filter_map(|p| {
                let value = value(p)?;
                let mut labels = cgroup_labels(&p.labels);
                labels.push(("netns", p.netns.to_string()));
                labels.push(("port", p.port.to_string()));
                Some(number(labels, value as f64))
            })
            .collect(),
    }
}

/// Exported fill bounds, in twentieths (the kernel's fill buckets).
const FILL_BOUNDS_TWENTIETHS: [usize; 5] = [5, 10, 15, 18, 20];

/// The accept-queue fill histogram: classic only (its buckets are linear
/// twentieths, which no native schema represents exactly).
fn fill(fill: &TcpFill) -> Value {
    Value::Histogram(HistogramValue {
        count: fill.buckets.iter().sum(),
        sum: fill.sum_micro as f64 / FILL_SCALE as f64,
        classic: FILL_BOUNDS_TWENTIETHS
            .iter()
            .map(|&bound| {
                (
                    bound as f64 / f64::from(FILL_STEPS),
                    fill.buckets[..=bound].iter().sum(),
                )
            })
            .collect(),
        native: None,
    })
}
