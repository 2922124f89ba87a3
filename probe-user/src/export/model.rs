//! The exposition's families, built from a sample one at a time as they
//! are written in one format or another: what each metric is, its help
//! text, its series and their values.

use crate::{identity::Labels, sampler::Sample, signals};

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
