//! The syscall signal's metric families.

use probe_common::{histogram::Histogram, syscall::SyscallClass};

use crate::{
    export::{
        histogram,
        model::{
            Family, Kind, LazyFamily, Value, cgroup_labels, histogram_family, number, series, with,
        },
    },
    sampler::Sample,
    snapshot::CgroupStats,
};

/// How long syscalls took, by class.
pub const LATENCY: &str = "pressure_syscall_latency_seconds";
/// Syscalls that failed, by class.
pub const ERRORS: &str = "pressure_syscall_errors_total";

/// Its families of `sample`.
pub fn families(sample: &Sample) -> Vec<LazyFamily<'_>> {
    let snapshot = &sample.snapshot;
    let cgroups = &snapshot.cgroups;
    vec![
        Box::new(move || {
            histogram_family(
                LATENCY,
                "Time a syscall made by a thread of the cgroup took, from entry to return, by \
             class: file_io, net_io, wait (waiting by design: epoll, poll, sleeps, futex, \
             wait4, accept), sync (fsync and friends), memory, process, other.",
                syscall_classes(cgroups)
                    .map(|(c, class, hist, _, slow)| {
                        let bound = snapshot.slow.syscall[class as usize].map(|b| (b, slow));
                        series(
                            with(cgroup_labels(&c.labels), "class", class.label()),
                            latency(hist, bound),
                        )
                    })
                    .collect(),
            )
        }),
        Box::new(move || Family {
            name: ERRORS,
            help: "Syscalls made by a thread of the cgroup that returned an error (-4095 to \
                   -1), by class; EAGAIN (nothing to do yet, for a nonblocking call), \
                   EINPROGRESS (a nonblocking connect under way) and the kernel's restart \
                   codes (a call a signal interrupted) are not counted.",
            kind: Kind::Counter,
            series: syscall_classes(cgroups)
                .map(|(c, class, _, errors, _)| {
                    number(
                        with(cgroup_labels(&c.labels), "class", class.label()),
                        errors as f64,
                    )
                })
                .collect(),
        }),
    ]
}

/// Classes of a cgroup that saw at least one syscall, with their data:
/// durations, errors, and slow calls.
fn syscall_classes(
    cgroups: &[CgroupStats],
) -> impl Iterator<Item = (&CgroupStats, SyscallClass, &Histogram, u64, u64)> {
    cgroups.iter().flat_map(|c| {
        c.kernel.syscalls.iter().flat_map(move |s| {
            SyscallClass::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| s.latency[*i].buckets.iter().any(|&n| n > 0))
                .map(move |(i, class)| (c, *class, &s.latency[i], s.errors[i], s.slow[i]))
        })
    })
}

/// A syscall class's histogram as exported (`slow`: see [`latency`]).
pub fn latency(hist: &Histogram, slow: Option<(f64, u64)>) -> Value {
    histogram::quadrupling(hist, slow)
}
