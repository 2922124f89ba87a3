//! Reads the kernel maps. Raw ids and counts only: no labels, no guessing.

use std::os::fd::OwnedFd;

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{CgrpStorage, HashMap as BpfHashMap, MapData, MapError, PerCpuArray},
};
use probe_common::{
    cgroups, counters,
    histogram::Histogram,
    runqueue::{self, CgroupRunqueue, PreemptionKey},
    syscall::{self, CgroupSyscalls},
    tcp::{self, TcpFill},
};

use crate::kernel::{cgroup_state::CgroupState, signals::Signal};

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
    /// Lost and discarded events of the running signals: (signal, reason, count).
    pub lost: Vec<(&'static str, &'static str, u64)>,
}

/// What one cgroup's storages hold.
#[derive(Debug, Default)]
pub struct CgroupData {
    /// Run-queue latency, if the cgroup has run-queue storage.
    pub runq: Option<Histogram>,
    /// Syscall latency and errors, if the cgroup has syscall storage.
    pub syscalls: Option<Box<CgroupSyscalls>>,
}

/// Where the per-cgroup state is read from.
enum StateMaps {
    /// Cgroup local storage, read through an open cgroup directory.
    Storage {
        runq: CgrpStorage<MapData, CgroupRunqueue>,
        syscalls: CgrpStorage<MapData, CgroupSyscalls>,
    },
    /// Hash maps keyed by cgroup id.
    Hash {
        runq: BpfHashMap<MapData, u64, CgroupRunqueue>,
        syscalls: BpfHashMap<MapData, u64, CgroupSyscalls>,
    },
}

/// Handles on the kernel maps the agent reads and reclaims.
pub struct KernelMaps {
    signals: Vec<Signal>,
    state: StateMaps,
    cgroups: BpfHashMap<MapData, u64, u8>,
    preemptions: BpfHashMap<MapData, PreemptionKey, u64>,
    tcp_fill: BpfHashMap<MapData, u64, TcpFill>,
    counters: PerCpuArray<MapData, u64>,
}

fn take<T: TryFrom<aya::maps::Map, Error = MapError>>(ebpf: &mut Ebpf, name: &str) -> Result<T> {
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
    /// per-cgroup state from where `store` says it is.
    pub fn new(ebpf: &mut Ebpf, signals: &[Signal], state: CgroupState) -> Result<Self> {
        let state = match state {
            CgroupState::Hash => StateMaps::Hash {
                runq: take(ebpf, runqueue::STATE_MAP)?,
                syscalls: take(ebpf, syscall::STATE_MAP)?,
            },
            CgroupState::Storage => StateMaps::Storage {
                runq: take(ebpf, runqueue::STORAGE_MAP)?,
                syscalls: take(ebpf, syscall::STORAGE_MAP)?,
            },
        };
        Ok(Self {
            signals: signals.to_vec(),
            state,
            cgroups: take(ebpf, cgroups::CGROUPS_MAP)?,
            preemptions: take(ebpf, runqueue::PREEMPTIONS_MAP)?,
            tcp_fill: take(ebpf, tcp::FILL_MAP)?,
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
        for id in self.cgroups.keys() {
            snapshot.cgroups.push(id.context("reading CGROUPS")?);
        }
        for entry in self.preemptions.iter() {
            snapshot
                .preemptions
                .push(entry.context("reading RUNQ_PREEMPTIONS")?);
        }
        for entry in self.tcp_fill.iter() {
            snapshot.tcp_fill.push(entry.context("reading TCP_FILL")?);
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

    /// The state of cgroup `id`, open as `dir`; without `dir` (the cgroup
    /// could not be opened), only what hash maps hold.
    pub fn cgroup_data(&self, id: u64, dir: Option<&OwnedFd>) -> Result<CgroupData> {
        let (runq, syscalls) = (self.runs(Signal::Runq), self.runs(Signal::Syscall));
        let mut data = CgroupData::default();
        match &self.state {
            StateMaps::Storage {
                runq: r,
                syscalls: s,
            } => {
                let Some(dir) = dir else {
                    return Ok(data);
                };
                if runq {
                    data.runq = found(r.get(dir, 0), runqueue::STORAGE_MAP)?.map(|s| s.latency);
                }
                if syscalls {
                    data.syscalls = found(s.get(dir, 0), syscall::STORAGE_MAP)?.map(Box::new);
                }
            }
            StateMaps::Hash {
                runq: r,
                syscalls: s,
            } => {
                if runq {
                    data.runq = found(r.get(&id, 0), runqueue::STATE_MAP)?.map(|s| s.latency);
                }
                if syscalls {
                    data.syscalls = found(s.get(&id, 0), syscall::STATE_MAP)?.map(Box::new);
                }
            }
        }
        Ok(data)
    }

    /// Stops listing a removed cgroup and drops its state (local storage is
    /// freed by the kernel with the cgroup; hash entries are removed here).
    pub fn forget_cgroup(&mut self, id: u64) {
        // Absent already is fine: the goal is that it is gone.
        let _ = self.cgroups.remove(&id);
        if let StateMaps::Hash { runq, syscalls } = &mut self.state {
            let _ = runq.remove(&id);
            let _ = syscalls.remove(&id);
        }
    }

    /// Drops a removed cgroup's accept-queue fill histogram.
    pub fn forget_tcp_fill(&mut self, id: u64) {
        let _ = self.tcp_fill.remove(&id);
    }

    /// Drops one preemption pair.
    pub fn forget_pair(&mut self, key: &PreemptionKey) {
        let _ = self.preemptions.remove(key);
    }
}
