//! The verdict's metric family: which bottleneck each container has.

use super::model::{Family, Kind, LazyFamily, cgroup_labels, number, with};
use crate::sampler::Sample;

/// Each container's verdict.
pub const BOTTLENECK: &str = "pressure_bottleneck";

/// The verdict's family of `sample`.
pub fn families(sample: &Sample) -> Vec<LazyFamily<'_>> {
    vec![Box::new(move || Family {
        name: BOTTLENECK,
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
    })]
}
