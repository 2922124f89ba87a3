//! Reads the kernel maps. Raw ids and counts only: no labels, no guessing.

use std::os::fd::OwnedFd;

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{CgrpStorage, HashMap as BpfHashMap, MapData, MapError, PerCpuArray},
};
use probe_common::{
    cgroups, counters,
    dependency::{self, RemoteKey, RemoteStats},
    histogram::Histogram,
    memory::{self, CgroupMemory},
    runqueue::{self, CgroupRunqueue, PreemptionKey, behind},
    syscall::{self, CgroupSyscalls},
    tcp::{self, TcpFill},
};

use super::batch;
use crate::{
    kernel::{cgroup_state::CgroupState, signals::Signal},
    signals::psi::files::{self as psi, Psi},
};

/// The kernel's aggregates, as listed at one instant. Per-cgroup data lives
/// in each cgroup's storage and is read with [`KernelMaps::cgroup_data`].
#[derive(Debug, Default)]
pub struct RawSnapshot {
    /// Cgroups that have storage in some signal.
    pub cgroups: Vec<u64>,
    /// Preemption counts per (victim, preemptor) cgroup pair.
    pub preemptions: Vec<(PreemptionKey, u64)>,
    /// Accept-queue fill observations per socket cgroup id.
    pub tcp_fill: Vec<(u64, TcpFill)>,
    /// Statistics per (socket cgroup, remote endpoint).
    pub remotes: Vec<(RemoteKey, RemoteStats)>,
    /// Lost and discarded events of the running signals: (signal, reason, count).
    pub lost: Vec<(&'static str, &'static str, u64)>,
}

/// What one cgroup's storages hold.
#[derive(Debug, Default)]
pub struct CgroupData {
    /// Run-queue latency, if the cgroup has run-queue storage.
    pub runq: Option<Histogram>,
    /// The same time, by what the CPU did meanwhile (`runqueue::behind`).
    pub waited_behind_ns: Option<[u64; behind::COUNT]>,
    /// Syscall latency and errors, if the cgroup has syscall storage.
    pub syscalls: Option<Box<CgroupSyscalls>>,
    /// Reclaim stalls and OOM kills, if the cgroup has memory storage.
    pub memory: Option<Box<CgroupMemory>>,
    /// The kernel's pressure stall information, when the psi signal runs
    /// and the cgroup's files could be read.
    pub psi: Option<Psi>,
}

/// One signal's per-cgroup state, wherever the kernel keeps it.
enum Store<V: aya::Pod> {
    /// Cgroup local storage, read through an open cgroup directory.
    Storage(CgrpStorage<MapData, V>, &'static str),
    /// A hash map keyed by cgroup id.
    Hash(BpfHashMap<MapData, u64, V>, &'static str),
}

impl<V: aya::Pod> Store<V> {
    /// The state map `storage` or `hash`, whichever `state` says.
    fn take(
        ebpf: &mut Ebpf,
        state: CgroupState,
        storage: &'static str,
        hash: &'static str,
    ) -> Result<Self> {
        Ok(match state {
            CgroupState::Storage => Store::Storage(take(ebpf, storage)?, storage),
            CgroupState::Hash => Store::Hash(take(ebpf, hash)?, hash),
        })
    }

    /// The state of cgroup `id`, open as `dir` (storage needs it).
    fn get(&self, id: u64, dir: Option<&OwnedFd>) -> Result<Option<V>> {
        match self {
            Store::Storage(map, name) => match dir {
                Some(dir) => found(map.get(dir, 0), name),
                None => Ok(None),
            },
            Store::Hash(map, name) => found(map.get(&id, 0), name),
        }
    }

    /// Drops a removed cgroup's state (local storage goes with the cgroup).
    fn forget(&mut self, id: u64) {
        if let Store::Hash(map, _) = self {
            // Absent already is fine: the goal is that it is gone.
            let _ = map.remove(&id);
        }
    }
}

/// Handles on the kernel maps the agent reads and reclaims.
pub struct KernelMaps {
    signals: Vec<Signal>,
    runq: Store<CgroupRunqueue>,
    syscalls: Store<CgroupSyscalls>,
    memory: Store<CgroupMemory>,
    cgroups: BpfHashMap<MapData, u64, u8>,
    preemptions: BpfHashMap<MapData, PreemptionKey, u64>,
    tcp_fill: BpfHashMap<MapData, u64, TcpFill>,
    remotes: BpfHashMap<MapData, RemoteKey, RemoteStats>,
    /// The pairs the kernel made per cgroup, and those dropped here: what
    /// a cgroup holds of `remotes`, which the kernel keeps within its share.
    pairs_made: BpfHashMap<MapData, u64, u64>,
    pairs_dropped: BpfHashMap<MapData, u64, u64>,
    counters: PerCpuArray<MapData, u64>,
}

/// Takes map `name` out of the object, as a `T`.
pub fn take<T: TryFrom<aya::maps::Map, Error = MapError>>(
    ebpf: &mut Ebpf,
    name: &str,
) -> Result<T> {
    let map = ebpf
        .take_map(name)
        .with_context(|| format!("map {name} is missing from the eBPF object"))?;
    T::try_from(map).with_context(|| format!("map {name} has an unexpected type"))
}

/// A lookup's value; `None` when there is none.
fn found<V>(value: Result<V, MapError>, name: &str) -> Result<Option<V>> {
    match value {
        Ok(value) => Ok(Some(value)),
        Err(MapError::KeyNotFound) => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {name}")),
    }
}

impl KernelMaps {
    /// Takes the maps out of the loaded object; only `signals` are read, and
    /// per-cgroup state from where `state` says it is.
    pub fn new(ebpf: &mut Ebpf, signals: &[Signal], state: CgroupState) -> Result<Self> {
        Ok(Self {
            signals: signals.to_vec(),
            runq: Store::take(ebpf, state, runqueue::STORAGE_MAP, runqueue::STATE_MAP)?,
            syscalls: Store::take(ebpf, state, syscall::STORAGE_MAP, syscall::STATE_MAP)?,
            memory: Store::take(ebpf, state, memory::STORAGE_MAP, memory::STATE_MAP)?,
            cgroups: take(ebpf, cgroups::CGROUPS_MAP)?,
            preemptions: take(ebpf, runqueue::PREEMPTIONS_MAP)?,
            tcp_fill: take(ebpf, tcp::FILL_MAP)?,
            remotes: take(ebpf, dependency::REMOTES_MAP)?,
            pairs_made: take(ebpf, dependency::PAIRS_MADE_MAP)?,
            pairs_dropped: take(ebpf, dependency::PAIRS_DROPPED_MAP)?,
            counters: take(ebpf, counters::MAP)?,
        })
    }

    /// Whether `signal` runs.
    pub fn runs(&self, signal: Signal) -> bool {
        self.signals.contains(&signal)
    }

    /// Lists cgroups, preemption pairs and loss counters.
    pub fn read(&self) -> Result<RawSnapshot> {
        let mut snapshot = RawSnapshot::default();
        let mut cgroups = Vec::new();
        batch::entries(&self.cgroups, &mut cgroups).context("reading CGROUPS")?;
        snapshot.cgroups = cgroups.into_iter().map(|(id, _)| id).collect();
        batch::entries(&self.preemptions, &mut snapshot.preemptions)
            .context("reading RUNQ_PREEMPTIONS")?;
        batch::entries(&self.tcp_fill, &mut snapshot.tcp_fill).context("reading TCP_FILL")?;
        if self.runs(Signal::Dependency) {
            batch::entries(&self.remotes, &mut snapshot.remotes)
                .context("reading DEPENDENCY_REMOTES")?;
        }
        for (index, signal, reason) in counters::NAMES {
            if !self.signals.iter().any(|s| s.name() == signal) {
                continue;
            }
            let per_cpu = self
                .counters
                .get(&index, 0)
                .context("reading the loss counters")?;
            snapshot
                .lost
                .push((signal, reason, per_cpu.iter().copied().sum()));
        }
        Ok(snapshot)
    }

    /// The state of cgroup `id`, open as `dir`, with its PSI if `psi`;
    /// without `dir` (the cgroup could not be opened), only what hash maps
    /// hold.
    pub fn cgroup_data(&self, id: u64, dir: Option<&OwnedFd>, psi: bool) -> Result<CgroupData> {
        let mut data = CgroupData::default();
        if self.runs(Signal::Runq)
            && let Some(state) = self.runq.get(id, dir)?
        {
            data.runq = Some(state.latency);
            data.waited_behind_ns = Some(state.waited_behind_ns);
        }
        if self.runs(Signal::Syscall) {
            data.syscalls = self.syscalls.get(id, dir)?.map(Box::new);
        }
        if self.runs(Signal::Memory) {
            data.memory = self.memory.get(id, dir)?.map(Box::new);
        }
        if psi && self.runs(Signal::Psi) {
            data.psi = dir.and_then(psi::read);
        }
        Ok(data)
    }

    /// Stops listing a removed cgroup and drops its state (local storage is
    /// freed by the kernel with the cgroup; hash entries are removed here).
    pub fn forget_cgroup(&mut self, id: u64) {
        // Absent already is fine: the goal is that it is gone.
        let _ = self.cgroups.remove(&id);
        self.runq.forget(id);
        self.syscalls.forget(id);
        self.memory.forget(id);
        let _ = self.pairs_made.remove(&id);
        let _ = self.pairs_dropped.remove(&id);
    }

    /// Drops a removed cgroup's accept-queue fill histogram.
    pub fn forget_tcp_fill(&mut self, id: u64) {
        let _ = self.tcp_fill.remove(&id);
    }

    /// Drops one (cgroup, remote) entry, and counts it dropped for its
    /// cgroup's share (unless the cgroup is forgotten already).
    pub fn forget_remote(&mut self, key: &RemoteKey) {
        if self.remotes.remove(key).is_ok() && self.pairs_made.get(&key.cgroup, 0).is_ok() {
            let dropped = self.pairs_dropped.get(&key.cgroup, 0).unwrap_or(0);
            let _ = self
                .pairs_dropped
                .insert(key.cgroup, dropped.wrapping_add(1), 0);
        }
    }

    /// Drops one preemption pair.
    pub fn forget_pair(&mut self, key: &PreemptionKey) {
        let _ = self.preemptions.remove(key);
    }
}
