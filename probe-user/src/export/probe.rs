//! The probe's own metric families (`pressure_probe_*`): what it lost,
//! how many cgroups it tracks and folds, what sampling and its kernel
//! programs cost, its thresholds, its build.

use super::model::{Family, Kind, LazyFamily, number, single};
use crate::sampler::Sample;

/// Kernel events lost or discarded, by signal and reason.
pub const EVENTS_LOST: &str = "pressure_probe_events_lost_total";

/// Cgroups summed into `other`.
pub const CGROUPS_FOLDED: &str = "pressure_probe_cgroups_folded";

/// The numbers the verdict judges with, by flag.
pub const THRESHOLD: &str = "pressure_probe_threshold";
/// The syscall classes the verdict judges storage on.
pub const STORAGE_CLASS: &str = "pressure_probe_storage_class";

/// Cgroups with series of their own.
pub const CGROUPS_TRACKED: &str = "pressure_probe_cgroups_tracked";
/// Live cgroups whose path could not be read.
pub const CGROUPS_UNRESOLVED: &str = "pressure_probe_cgroups_unresolved";
/// Cgroups whose kernel state could not be read.
pub const CGROUPS_UNREADABLE: &str = "pressure_probe_cgroups_unreadable";
/// How long the latest sample took.
pub const SAMPLE_DURATION: &str = "pressure_probe_sample_duration_seconds";
/// Samples taken.
pub const SAMPLES: &str = "pressure_probe_samples_total";
/// Runs of each kernel program.
pub const PROGRAM_RUNS: &str = "pressure_probe_program_runs_total";
/// Time each kernel program ran.
pub const PROGRAM_RUN_TIME: &str = "pressure_probe_program_run_seconds_total";
/// When the served certificate expires.
pub const CERTIFICATE_EXPIRY: &str = "pressure_probe_tls_certificate_expiry_timestamp_seconds";
/// The probe's version.
pub const BUILD_INFO: &str = "pressure_probe_build_info";

/// The probe's own families of `sample`.
pub fn families(sample: &Sample) -> Vec<LazyFamily<'_>> {
    let snapshot = &sample.snapshot;
    let cgroups = &snapshot.cgroups;
    vec![
        Box::new(move || Family {
            name: EVENTS_LOST,
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
                CGROUPS_TRACKED,
                "Cgroups with series of their own in the latest sample.",
                Kind::Gauge,
                cgroups.iter().filter(|c| c.id != 0).count() as f64,
            )
        }),
        Box::new(move || {
            single(
                CGROUPS_FOLDED,
                "Cgroups summed into the series labelled cgroup=\"other\" because more than \
             --max-cgroups have data.",
                Kind::Gauge,
                snapshot.folded as f64,
            )
        }),
        Box::new(move || {
            single(
                CGROUPS_UNRESOLVED,
                "Live cgroups with data whose path could not be read (longer than PATH_MAX, or no \
             permission to open them), exported as cgroup=\"id:N\".",
                Kind::Gauge,
                snapshot.unresolved as f64,
            )
        }),
        Box::new(move || {
            single(
                CGROUPS_UNREADABLE,
                "Cgroups left out of the latest sample because their kernel state could not be \
             read (each is logged).",
                Kind::Gauge,
                snapshot.unreadable as f64,
            )
        }),
        Box::new(move || {
            single(
                SAMPLE_DURATION,
                "Time the sample behind this exposition spent reading kernel maps and resolving \
             cgroups (the agent samples every --interval; scrapes read the latest sample).",
                Kind::Gauge,
                sample.took.as_secs_f64(),
            )
        }),
        Box::new(move || {
            single(
                SAMPLES,
                "Readings of the kernel the agent has taken (one every --interval); this \
             exposition is of the latest.",
                Kind::Counter,
                sample.sequence as f64,
            )
        }),
        Box::new(move || Family {
            name: PROGRAM_RUNS,
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
            name: PROGRAM_RUN_TIME,
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
            name: CERTIFICATE_EXPIRY,
            help: "Unix time after which the certificate the endpoint serves (--web-config's \
                   cert_file, as last read) is no longer valid; absent without TLS.",
            kind: Kind::Gauge,
            series: super::served_certificate_expiry()
                .map(|at| number(Vec::new(), at as f64))
                .into_iter()
                .collect(),
        }),
        Box::new(move || Family {
            name: THRESHOLD,
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
            name: STORAGE_CLASS,
            help: "1 for each syscall class the agent judges storage pressure on: sync and \
                   file_io, or sync alone where reads and writes are not classed by what \
                   their fd is (file_io then holds socket and pipe waits too); the rules \
                   judge the same classes.",
            kind: Kind::Gauge,
            series: sample
                .thresholds
                .storage_classes
                .iter()
                .map(|class| number(vec![("class", class.label().to_string())], 1.0))
                .collect(),
        }),
        Box::new(move || Family {
            name: BUILD_INFO,
            help: "pressure-probe build information; the value is always 1.",
            kind: Kind::Gauge,
            series: vec![number(
                vec![("version", env!("CARGO_PKG_VERSION").to_string())],
                1.0,
            )],
        }),
    ]
}
