//! The exposition's families, built from a sample one at a time as they
//! are written in one format or another: what each metric is, its help
//! text, its series and their values.

use probe_common::{
    dependency::{RemoteStats, reason, request},
    histogram::Histogram,
};

use super::histogram;
use crate::{
    collect::psi::Resource,
    identity::Labels,
    sampler::Sample,
    signals,
    snapshot::{CgroupStats, remotes::RemoteSeries},
};

/// A family built when an encoder reaches it: an encoder holds one family
/// at a time, not the whole exposition's series.
pub type LazyFamily<'a> = Box<dyn Fn() -> Family + 'a>;

/// A metric family.
pub struct Family {
    /// Full name (with `_total` for counters, without `_bucket` for histograms).
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its series.
    pub series: Vec<Series>,
}

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Goes only up (but resets).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Counts of observations in buckets.
    Histogram,
}

/// One series: labels and a value.
pub struct Series {
    /// (name, value) of each label.
    pub labels: Vec<(&'static str, String)>,
    /// Its value.
    pub value: Value,
}

/// A series' value.
pub enum Value {
    /// A counter or gauge.
    Number(f64),
    /// A histogram.
    Histogram(HistogramValue),
}

/// A histogram's value.
pub struct HistogramValue {
    /// Observations.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Classic buckets: (upper bound, cumulative count), ascending, without `+Inf`.
    pub classic: Vec<(f64, u64)>,
    /// Native buckets, for histograms that have them.
    pub native: Option<NativeBuckets>,
}

/// A native histogram's buckets (schema [`probe_common::histogram::SCHEMA`],
/// zero threshold 0).
pub struct NativeBuckets {
    /// Observations of exactly zero.
    pub zero_count: u64,
    /// Spans of positive buckets: (offset from the end of the previous
    /// span, or the first index for the first span; length).
    pub spans: Vec<(i32, u32)>,
    /// Counts of the buckets in the spans, each as the difference from
    /// the previous bucket's count.
    pub deltas: Vec<i64>,
}

/// Every family of `sample`, empty ones left out, each built when the
/// iterator reaches it: an encoder holds one family at a time, not the
/// whole exposition's series.
pub fn families(sample: &Sample) -> impl Iterator<Item = Family> + '_ {
    let snapshot = &sample.snapshot;
    let cgroups = &snapshot.cgroups;
    let families: Vec<LazyFamily<'_>> = vec![
        Box::new(move || {
            remote_histogram(
                "pressure_dependency_response_seconds",
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
                "pressure_dependency_connect_seconds",
                "Time the cgroup's connections to a remote endpoint took to be established \
             (SYN_SENT to ESTABLISHED), per remote.",
                cgroups,
                |stats| (&stats.connect, 0),
                None,
            )
        }),
        Box::new(move || Family {
            name: "pressure_dependency_connect_failures_total",
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
            name: "pressure_dependency_retransmits_total",
            help: "TCP segments retransmitted on the cgroup's connections to a remote endpoint \
                   (SYNs included), per remote.",
            kind: Kind::Counter,
            series: remotes(cgroups)
                .map(|(c, r)| number(remote_labels(c, r), r.stats.retransmits as f64))
                .collect(),
        }),
        Box::new(move || Family {
            name: "pressure_dependency_untimed_total",
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
            name: "pressure_dependency_connections",
            help: "Connections the cgroup opened to a remote endpoint that are established \
                   now, per remote.",
            kind: Kind::Gauge,
            series: remotes(cgroups)
                .map(|(c, r)| number(remote_labels(c, r), r.stats.established.max(0) as f64))
                .collect(),
        }),
        Box::new(move || Family {
            name: "pressure_psi_stall_seconds_total",
            help: "The kernel's pressure stall information of the cgroup (its cpu.pressure, \
                   memory.pressure and io.pressure): time some (kind=some) or all (kind=full) \
                   of its runnable tasks stalled waiting for the resource.",
            kind: Kind::Counter,
            series: cgroups.iter().flat_map(psi).collect(),
        }),
        Box::new(move || Family {
            name: "pressure_bottleneck",
            help: "1 for the container's verdict over the window: which bottleneck it has \
                   (cpu, cpu_neighbour, accept_queue, dependency, storage, memory, none), \
                   with detail naming the listener port, the remote endpoint or the syscall \
                   class where there is one. \
                   Exactly one series per container.",
            kind: Kind::Gauge,
            series: sample
                .diagnoses
                .iter()
                .map(|d| {
                    let labels = with(
                        with(
                            cgroup_labels(&d.evidence.labels),
                            "bottleneck",
                            d.bottleneck.label(),
                        ),
                        "detail",
                        &d.detail,
                    );
                    number(labels, 1.0)
                })
                .collect(),
        }),
        Box::new(move || Family {
            name: "pressure_probe_events_lost_total",
            help: "Kernel events the probe could not record (a full map, a wakeup slot taken) \
                   or discarded (negative or absurd duration), by signal and reason.",
            kind: Kind::Counter,
            series: snapshot
                .lost
                .iter()
                .map(|(signal, reason, count)| {
                    number(
                        vec![
                            ("signal", signal.to_string()),
                            ("reason", reason.to_string()),
                        ],
                        *count as f64,
                    )
                })
                .collect(),
        }),
        Box::new(move || {
            single(
                "pressure_probe_cgroups_tracked",
                "Cgroups with series of their own in the latest sample.",
                Kind::Gauge,
                cgroups.iter().filter(|c| c.id != 0).count() as f64,
            )
        }),
        Box::new(move || {
            single(
                "pressure_probe_cgroups_folded",
                "Cgroups summed into the series labelled cgroup=\"other\" because more than \
             --max-cgroups have data.",
                Kind::Gauge,
                snapshot.folded as f64,
            )
        }),
        Box::new(move || {
            single(
                "pressure_probe_cgroups_unresolved",
                "Live cgroups with data whose path could not be read (longer than PATH_MAX, or no \
             permission to open them), exported as cgroup=\"id:N\".",
                Kind::Gauge,
                snapshot.unresolved as f64,
            )
        }),
        Box::new(move || {
            single(
                "pressure_probe_cgroups_unreadable",
                "Cgroups left out of the latest sample because their kernel state could not be \
             read (each is logged).",
                Kind::Gauge,
                snapshot.unreadable as f64,
            )
        }),
        Box::new(move || {
            single(
                "pressure_probe_sample_duration_seconds",
                "Time the sample behind this exposition spent reading kernel maps and resolving \
             cgroups (the agent samples every --interval; scrapes read the latest sample).",
                Kind::Gauge,
                sample.took.as_secs_f64(),
            )
        }),
        Box::new(move || {
            single(
                "pressure_probe_samples_total",
                "Readings of the kernel the agent has taken (one every --interval); this \
             exposition is of the latest.",
                Kind::Counter,
                sample.sequence as f64,
            )
        }),
        Box::new(move || Family {
            name: "pressure_probe_program_runs_total",
            help: "Times each of the probe's kernel programs ran (the kernel's BPF \
                   statistics, on while the agent runs; absent where the kernel keeps none).",
            kind: Kind::Counter,
            series: snapshot
                .programs
                .iter()
                .map(|p| number(vec![("program", p.program.clone())], p.runs as f64))
                .collect(),
        }),
        Box::new(move || Family {
            name: "pressure_probe_program_run_seconds_total",
            help: "Time each of the probe's kernel programs ran, in seconds: what the probe \
                   costs the hot paths it watches (the kernel's BPF statistics, which add \
                   two clock reads per run while they are on).",
            kind: Kind::Counter,
            series: snapshot
                .programs
                .iter()
                .map(|p| number(vec![("program", p.program.clone())], p.run_ns as f64 / 1e9))
                .collect(),
        }),
        Box::new(move || Family {
            name: "pressure_probe_tls_certificate_expiry_timestamp_seconds",
            help: "Unix time after which the certificate the endpoint serves (--web-config's \
                   cert_file, as last read) is no longer valid; absent without TLS.",
            kind: Kind::Gauge,
            series: super::served_certificate_expiry()
                .map(|at| number(Vec::new(), at as f64))
                .into_iter()
                .collect(),
        }),
        Box::new(move || Family {
            name: "pressure_probe_threshold",
            help: "The numbers the agent's verdict judges with, by the name of their flag \
                   (window in seconds, storage_p95 and dependency_p95 in seconds, min_events, \
                   the shares and the fill): the rules alert when theirs differ \
                   (PressureProbeRulesDiffer).",
            kind: Kind::Gauge,
            series: sample
                .thresholds
                .named(sample.window)
                .into_iter()
                .map(|(name, value)| number(vec![("name", name.to_string())], value))
                .collect(),
        }),
        Box::new(move || Family {
            name: "pressure_probe_build_info",
            help: "pressure-probe build information; the value is always 1.",
            kind: Kind::Gauge,
            series: vec![number(
                vec![("version", env!("CARGO_PKG_VERSION").to_string())],
                1.0,
            )],
        }),
    ];
    signals::ALL
        .iter()
        .flat_map(|signal| (signal.families)(sample))
        .chain(families)
        .map(|build| build())
        .filter(|family| !family.series.is_empty())
}

pub fn series(labels: Vec<(&'static str, String)>, value: Value) -> Series {
    Series { labels, value }
}

pub fn number(labels: Vec<(&'static str, String)>, value: f64) -> Series {
    series(labels, Value::Number(value))
}

pub fn with(
    mut labels: Vec<(&'static str, String)>,
    name: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    labels.push((name, value.to_string()));
    labels
}

pub fn histogram_family(name: &'static str, help: &'static str, series: Vec<Series>) -> Family {
    Family {
        name,
        help,
        kind: Kind::Histogram,
        series,
    }
}

pub fn single(name: &'static str, help: &'static str, kind: Kind, value: f64) -> Family {
    Family {
        name,
        help,
        kind,
        series: vec![number(Vec::new(), value)],
    }
}

/// The labels of a cgroup's series.
pub fn cgroup_labels(labels: &Labels) -> Vec<(&'static str, String)> {
    labels
        .pairs()
        .map(|(name, value)| (name, value.to_string()))
        .collect()
}

fn psi(c: &CgroupStats) -> Vec<Series> {
    let Some(psi) = c.psi else {
        return Vec::new();
    };
    Resource::ALL
        .iter()
        .flat_map(|resource| {
            ["some", "full"]
                .iter()
                .enumerate()
                .map(move |(kind, name)| {
                    let labels = with(
                        with(cgroup_labels(&c.labels), "resource", resource.label()),
                        "kind",
                        name,
                    );
                    number(labels, psi.0[*resource as usize][kind] as f64 / 1e6)
                })
        })
        .collect()
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
                series(
                    remote_labels(c, r),
                    remote_latency(hist, slow.map(|b| (b, above))),
                )
            })
            .collect(),
    )
}

fn remote_labels(c: &CgroupStats, r: &RemoteSeries) -> Vec<(&'static str, String)> {
    with(cgroup_labels(&c.labels), "remote", &r.remote.to_string())
}

/// A remote endpoint's histogram as exported (`slow`: see [`latency`]).
pub fn remote_latency(hist: &Histogram, slow: Option<(f64, u64)>) -> Value {
    histogram::doubling(hist, slow)
}
