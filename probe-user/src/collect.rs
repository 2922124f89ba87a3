//! Reads the kernel maps. Raw ids and counts only: no labels, no guessing.

use std::collections::HashMap;

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{HashMap as BpfHashMap, MapData, PerCpuArray},
};
use probe_common::{counters, histogram::Histogram, runqueue::PreemptionKey};

/// Everything the kernel has aggregated, as read at one instant.
#[derive(Debug, Default)]
pub struct RawSnapshot {
    /// Run-queue latency histogram per cgroup id.
    pub runq: HashMap<u64, Histogram>,
    /// Preemption counts per (victim, preemptor) cgroup pair.
    pub preemptions: Vec<(PreemptionKey, u64)>,
    /// Lost and discarded events: (signal, reason, count).
    pub lost: Vec<(&'static str, &'static str, u64)>,
}

/// Handles on the kernel maps the agent reads and reclaims.
pub struct KernelMaps {
    histograms: BpfHashMap<MapData, u64, Histogram>,
    preemptions: BpfHashMap<MapData, PreemptionKey, u64>,
    counters: PerCpuArray<MapData, u64>,
}

fn take<T: TryFrom<aya::maps::Map, Error = aya::maps::MapError>>(
    ebpf: &mut Ebpf,
    name: &str,
) -> Result<T> {
    let map = ebpf
        .take_map(name)
        .with_context(|| format!("map {name} is missing from the eBPF object"))?;
    T::try_from(map).with_context(|| format!("map {name} has an unexpected type"))
}

impl KernelMaps {
    /// Takes the maps out of the loaded object.
    pub fn new(ebpf: &mut Ebpf) -> Result<Self> {
        Ok(Self {
            histograms: take(ebpf, "RUNQ_HISTOGRAMS")?,
            preemptions: take(ebpf, "RUNQ_PREEMPTIONS")?,
            counters: take(ebpf, "COUNTERS")?,
        })
    }

    /// Reads every map.
    pub fn read(&self) -> Result<RawSnapshot> {
        let mut snapshot = RawSnapshot::default();
        for entry in self.histograms.iter() {
            let (id, hist) = entry.context("reading RUNQ_HISTOGRAMS")?;
            snapshot.runq.insert(id, hist);
        }
        for entry in self.preemptions.iter() {
            snapshot
                .preemptions
                .push(entry.context("reading RUNQ_PREEMPTIONS")?);
        }
        for (index, signal, reason) in counters::NAMES {
            let per_cpu = self.counters.get(&index, 0).context("reading COUNTERS")?;
            snapshot
                .lost
                .push((signal, reason, per_cpu.iter().copied().sum()));
        }
        Ok(snapshot)
    }

    /// Drops a removed cgroup's histogram.
    pub fn forget_cgroup(&mut self, id: u64) {
        // Absent already is fine: the goal is that it is gone.
        let _ = self.histograms.remove(&id);
    }

    /// Drops one preemption pair.
    pub fn forget_pair(&mut self, key: &PreemptionKey) {
        let _ = self.preemptions.remove(key);
    }
}
