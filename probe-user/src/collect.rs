//! Reads the kernel maps. Raw ids and counts only: no labels, no guessing.

use std::os::fd::AsRawFd;

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{CgrpStorage, HashMap as BpfHashMap, MapData, MapError, PerCpuArray},
};
use probe_common::{
    counters,
    histogram::Histogram,
    runqueue::{self, CgroupRunqueue, PreemptionKey},
};

/// The kernel's aggregates, as listed at one instant. Histograms live in
/// each cgroup's storage and are read per cgroup with [`KernelMaps::runq_latency`].
#[derive(Debug, Default)]
pub struct RawSnapshot {
    /// Cgroups that have run-queue storage.
    pub runq_cgroups: Vec<u64>,
    /// Preemption counts per (victim, preemptor) cgroup pair.
    pub preemptions: Vec<(PreemptionKey, u64)>,
    /// Lost and discarded events: (signal, reason, count).
    pub lost: Vec<(&'static str, &'static str, u64)>,
}

/// Handles on the kernel maps the agent reads and reclaims.
pub struct KernelMaps {
    runq_storage: CgrpStorage<MapData, CgroupRunqueue>,
    runq_cgroups: BpfHashMap<MapData, u64, u8>,
    preemptions: BpfHashMap<MapData, PreemptionKey, u64>,
    counters: PerCpuArray<MapData, u64>,
}

fn take<T: TryFrom<aya::maps::Map, Error = MapError>>(ebpf: &mut Ebpf, name: &str) -> Result<T> {
    let map = ebpf
        .take_map(name)
        .with_context(|| format!("map {name} is missing from the eBPF object"))?;
    T::try_from(map).with_context(|| format!("map {name} has an unexpected type"))
}

impl KernelMaps {
    /// Takes the maps out of the loaded object.
    pub fn new(ebpf: &mut Ebpf) -> Result<Self> {
        Ok(Self {
            runq_storage: take(ebpf, "RUNQ_STORAGE")?,
            runq_cgroups: take(ebpf, runqueue::CGROUPS_MAP)?,
            preemptions: take(ebpf, runqueue::PREEMPTIONS_MAP)?,
            counters: take(ebpf, "COUNTERS")?,
        })
    }

    /// Lists cgroups, preemption pairs and loss counters.
    pub fn read(&self) -> Result<RawSnapshot> {
        let mut snapshot = RawSnapshot::default();
        for id in self.runq_cgroups.keys() {
            snapshot
                .runq_cgroups
                .push(id.context("reading RUNQ_CGROUPS")?);
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

    /// The run-queue latency histogram in the storage of the cgroup whose
    /// directory is open as `dir`, if it has one.
    pub fn runq_latency(&self, dir: &impl AsRawFd) -> Result<Option<Histogram>> {
        match self.runq_storage.get(dir, 0) {
            Ok(state) => Ok(Some(state.latency)),
            Err(MapError::KeyNotFound) => Ok(None),
            Err(err) => Err(err).context("reading RUNQ_STORAGE"),
        }
    }

    /// Stops listing a removed cgroup (the kernel frees its storage with it).
    pub fn forget_cgroup(&mut self, id: u64) {
        // Absent already is fine: the goal is that it is gone.
        let _ = self.runq_cgroups.remove(&id);
    }

    /// Drops one preemption pair.
    pub fn forget_pair(&mut self, key: &PreemptionKey) {
        let _ = self.preemptions.remove(key);
    }
}
