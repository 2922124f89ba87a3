//! The memory signal's metric families.

use crate::{
    export::{
        histogram,
        model::{Family, Kind, LazyFamily, cgroup_labels, histogram_family, number, series},
    },
    sampler::Sample,
};

/// How long threads stalled reclaiming memory.
pub const RECLAIM: &str = "pressure_memory_reclaim_seconds";
/// Processes the OOM killer killed.
pub const OOM_KILLS: &str = "pressure_memory_oom_kills_total";

/// Its families of `sample`.
pub fn families(sample: &Sample) -> Vec<LazyFamily<'_>> {
    let cgroups = &sample.snapshot.cgroups;
    vec![
        Box::new(move || {
            histogram_family(
                RECLAIM,
                "Time a thread of the cgroup stalled reclaiming memory itself before it could \
             allocate: direct reclaim (the machine is short of memory) or memcg reclaim (the \
             cgroup is at its limit).",
                cgroups
                    .iter()
                    .filter_map(|c| {
                        let memory = c.kernel.memory.as_ref()?;
                        Some(series(
                            cgroup_labels(&c.labels),
                            histogram::quadrupling(&memory.reclaim, None),
                        ))
                    })
                    .collect(),
            )
        }),
        Box::new(move || Family {
            name: OOM_KILLS,
            help: "Processes of the cgroup the kernel's OOM killer chose to kill (once per \
                   process, however many of its threads it marked).",
            kind: Kind::Counter,
            // Every cgroup, at 0 before its first kill: a series that
            // appeared at 1 would hide that kill from increase().
            series: cgroups
                .iter()
                .map(|c| {
                    number(
                        cgroup_labels(&c.labels),
                        c.kernel.memory.as_ref().map_or(0, |m| m.oom_kills) as f64,
                    )
                })
                .collect(),
        }),
    ]
}
