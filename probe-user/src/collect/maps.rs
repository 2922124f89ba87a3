//! Reads the kernel maps. Raw ids and counts only: no labels, no guessing.

use std::os::fd::OwnedFd;

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{CgrpStorage, HashMap as BpfHashMap, MapData, MapError, PerCpuArray},
};
use probe_common::{
    cgroups, counters,
    dependency::{RemoteKey, RemoteStats},
    histogram::Histogram,
    memory::CgroupMemory,
    requests::{PortKey, PortStats},
    runqueue::{PreemptionKey, behind},
    syscall::CgroupSyscalls,
    tcp::TcpFill,
};

use super::batch;
use crate::{
    kernel::{cgroup_state::CgroupState, signals::Signal},
    signals::{
        dependency, memory,
        psi::files::{PressureFiles, Psi},
        requests, runqueue, syscall, tcp,
    },
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
    /// Request statistics per (socket cgroup, listening port).
    pub request_ports: Vec<(PortKey, PortStats)>,
    /// Lost and discarded events of the running signals: (signal, reason, count).
    pub lost: Vec<(&'static str, &'static str, u64)>,
}

/// What one cgroup's storages hold.
#[derive(Debug, Clone, Default)]
pub struct CgroupData {
    /// Run-queue latency, if the cgroup has run-queue storage (boxed:
    /// thousands of these are moved each sample).
    pub runq: Option<Box<Histogram>>,
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

impl CgroupData {
    /// Whether the cgroup's storages hold nothing (and its PSI was not read).
    pub fn is_empty(&self) -> bool {
        self.runq.is_none()
            && self.syscalls.is_none()
            && self.memory.is_none()
            && self.psi.is_none()
    }
}

/// One signal's per-cgroup state, wherever the kernel keeps it.
pub enum Store<V: aya::Pod> {
    /// Cgroup local storage, read through an open cgroup directory.
    Storage(CgrpStorage<MapData, V>, &'static str),
    /// A hash map keyed by cgroup id.
    Hash(BpfHashMap<MapData, u64, V>, &'static str),
}

impl<V: aya::Pod> Store<V> {
    /// The state map `storage` or `hash`, whichever `state` says.
    pub fn take(
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
    pub fn get(&self, id: u64, dir: Option<&OwnedFd>) -> Result<Option<V>> {
        match self {
            Store::Storage(map, name) => match dir {
                Some(dir) => found(map.get(dir, 0), name),
                None => Ok(None),
            },
            Store::Hash(map, name) => found(map.get(&id, 0), name),
        }
    }

    /// Drops a removed cgroup's state (local storage goes with the cgroup).
    pub fn forget(&mut self, id: u64) {
        if let Store::Hash(map, _) = self {
            // Absent already is fine: the goal is that it is gone.
            let _ = map.remove(&id);
        }
    }
}

/// Handles on the kernel maps the agent reads and reclaims: each signal's,
/// and those of every signal (the cgroups listed, the loss counters).
pub struct KernelMaps {
    signals: Vec<Signal>,
    runqueue: runqueue::maps::Maps,
    syscall: Store<CgroupSyscalls>,
    tcp: tcp::maps::Maps,
    memory: Store<CgroupMemory>,
    dependency: dependency::maps::Maps,
    requests: requests::maps::Maps,
    cgroups: BpfHashMap<MapData, u64, u8>,
    counters: PerCpuArray<MapData, u64>,
    /// The tracked cgroups' pressure files, kept open between samples.
    pressure: PressureFiles,
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
            runqueue: runqueue::maps::Maps::take(ebpf, state)?,
            syscall: syscall::maps::take(ebpf, state)?,
            tcp: tcp::maps::Maps::take(ebpf)?,
            memory: memory::maps::take(ebpf, state)?,
            dependency: dependency::maps::Maps::take(ebpf)?,
            requests: requests::maps::Maps::take(ebpf)?,
            cgroups: take(ebpf, cgroups::CGROUPS_MAP)?,
            counters: take(ebpf, counters::MAP)?,
            pressure: PressureFiles::default(),
        })
    }

    /// Whether `signal` runs.
    pub fn runs(&self, signal: Signal) -> bool {
        self.signals.contains(&signal)
    }

    /// Lists cgroups, each signal's entries and the loss counters.
    pub fn read(&mut self) -> Result<RawSnapshot> {
        let mut snapshot = RawSnapshot::default();
        let mut cgroups = Vec::new();
        batch::entries(&self.cgroups, &mut cgroups).context("reading CGROUPS")?;
        snapshot.cgroups = cgroups.into_iter().map(|(id, _)| id).collect();
        // A sample begins: close the files of the cgroups the last one did
        // not read.
        self.pressure.sweep();
        self.runqueue.read(&mut snapshot)?;
        self.tcp.read(&mut snapshot)?;
        if self.runs(Signal::Dependency) {
            self.dependency.read(&mut snapshot)?;
        }
        if self.runs(Signal::Requests) {
            self.requests.read(&mut snapshot)?;
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
    pub fn cgroup_data(&mut self, id: u64, dir: Option<&OwnedFd>, psi: bool) -> Result<CgroupData> {
        let mut data = CgroupData::default();
        if self.runs(Signal::Runq) {
            self.runqueue.cgroup_data(id, dir, &mut data)?;
        }
        if self.runs(Signal::Syscall) {
            data.syscalls = self.syscall.get(id, dir)?.map(Box::new);
        }
        if self.runs(Signal::Memory) {
            data.memory = self.memory.get(id, dir)?.map(Box::new);
        }
        if psi && self.runs(Signal::Psi) {
            data.psi = dir.and_then(|dir| self.pressure.read(id, dir));
        }
        Ok(data)
    }

    /// Stops listing a removed cgroup and drops its state (local storage is
    /// freed by the kernel with the cgroup; hash entries are removed here).
    pub fn forget_cgroup(&mut self, id: u64) {
        // Absent already is fine: the goal is that it is gone.
        let _ = self.cgroups.remove(&id);
        self.runqueue.forget_cgroup(id);
        self.syscall.forget(id);
        self.memory.forget(id);
        self.dependency.forget_cgroup(id);
        self.pressure.forget(id);
    }

    /// Drops a removed cgroup's accept-queue fill histogram.
    pub fn forget_tcp_fill(&mut self, id: u64) {
        self.tcp.forget_fill(id);
    }

    /// Drops one (cgroup, remote) entry.
    pub fn forget_remote(&mut self, key: &RemoteKey) {
        self.dependency.forget_remote(key);
    }

    /// Drops one (cgroup, listening port) entry of the request signal.
    pub fn forget_request_port(&mut self, key: &PortKey) {
        self.requests.forget_port(key);
    }

    /// Drops one preemption pair.
    pub fn forget_pair(&mut self, key: &PreemptionKey) {
        self.runqueue.forget_pair(key);
    }
}
