//! The run-queue signal's metric families.

use std::sync::LazyLock;

use crate::{
    export::{
        histogram,
        model::{
            Family, Kind, LazyFamily, Series, cgroup_labels, histogram_family, number, series, with,
        },
        probe::EVENTS_LOST,
    },
    sampler::Sample,
    snapshot::{CgroupStats, Preemptor},
};
use probe_common::runqueue::behind;

/// How long runnable threads waited for a CPU.
pub const LATENCY: &str = "pressure_runqueue_latency_seconds";
/// Preemptions, by who ran instead.
pub const PREEMPTIONS: &str = "pressure_runqueue_preemptions_total";
/// The waits' time, by what the CPU did meanwhile.
pub const WAITED_BEHIND: &str = "pressure_runqueue_waited_behind_seconds_total";

/// [`WAITED_BEHIND`]'s help, which names where unsplit waits are counted.
static WAITED_BEHIND_HELP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "The time the cgroup's threads waited for a CPU (the run-queue latency sum), split by \
         what that CPU did meanwhile: same_cgroup (ran threads of the same cgroup), throttled \
         (the thread was throttled at its cgroup's CPU quota: the whole wait), other (ran \
         threads of other cgroups, containers or the host), idle (ran nothing: the time to \
         switch the thread in). Waits the kernel could not split are counted in \
         {EVENTS_LOST}{{signal=\"runq\",reason=\"wait_unsplit\"}}."
    )
});

/// Its families of `sample`.
pub fn families(sample: &Sample) -> Vec<LazyFamily<'_>> {
    let cgroups = &sample.snapshot.cgroups;
    vec![
        Box::new(move || {
            histogram_family(
                LATENCY,
                "Time a runnable thread of the cgroup waited for a CPU: from its wakeup, or from \
             being preempted while still runnable, until it ran.",
                cgroups
                    .iter()
                    .filter_map(|c| {
                        let hist = c.kernel.runq.as_ref()?;
                        Some(series(
                            cgroup_labels(&c.labels),
                            histogram::doubling(hist, None),
                        ))
                    })
                    .collect(),
            )
        }),
        Box::new(move || Family {
            name: PREEMPTIONS,
            help: "Times a running thread of the cgroup was switched out while still runnable, \
                   by who ran instead: same_cgroup (a thread of the same cgroup), throttled \
                   (the thread was throttled at its cgroup's CPU quota), \
                   other_container (a thread of another container), host (the root cgroup, \
                   kernel threads, system.slice, user.slice, init.scope).",
            kind: Kind::Counter,
            series: cgroups.iter().flat_map(preemptions).collect(),
        }),
        Box::new(move || Family {
            name: WAITED_BEHIND,
            help: &WAITED_BEHIND_HELP,
            kind: Kind::Counter,
            series: cgroups
                .iter()
                .filter_map(|c| {
                    let waits = c.kernel.waited_behind_ns?;
                    Some(
                        behind::NAMES
                            .iter()
                            .zip(waits)
                            .map(|(by, ns)| {
                                number(with(cgroup_labels(&c.labels), "by", by), ns as f64 / 1e9)
                            })
                            .collect::<Vec<_>>(),
                    )
                })
                .flatten()
                .collect(),
        }),
    ]
}

fn preemptions(c: &CgroupStats) -> Vec<Series> {
    let Some(counts) = c.preemptions else {
        return Vec::new();
    };
    Preemptor::ALL
        .iter()
        .zip(counts)
        .map(|(class, count)| {
            number(
                with(cgroup_labels(&c.labels), "by", class.label()),
                count as f64,
            )
        })
        .collect()
}
