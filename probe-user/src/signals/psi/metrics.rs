//! The pressure stall information's metric family.

use crate::{
    export::model::{Family, Kind, LazyFamily, Series, cgroup_labels, number, with},
    sampler::Sample,
    signals::psi::files::Resource,
    snapshot::CgroupStats,
};

/// Time some or all of the cgroup's tasks stalled, by resource.
pub const STALL: &str = "pressure_psi_stall_seconds_total";

/// Its families of `sample`.
pub fn families(sample: &Sample) -> Vec<LazyFamily<'_>> {
    let cgroups = &sample.snapshot.cgroups;
    vec![Box::new(move || Family {
        name: STALL,
        help: "The kernel's pressure stall information of the cgroup (its cpu.pressure, \
                   memory.pressure and io.pressure): time some (kind=some) or all (kind=full) \
                   of its runnable tasks stalled waiting for the resource.",
        kind: Kind::Counter,
        series: cgroups.iter().flat_map(stalls).collect(),
    })]
}

fn stalls(c: &CgroupStats) -> Vec<Series> {
    let Some(psi) = c.kernel.psi else {
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
