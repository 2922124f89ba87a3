//! The run queue's kernel maps: each cgroup's waits, and the preemption
//! pairs.

use std::os::fd::OwnedFd;

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{HashMap as BpfHashMap, MapData},
};
use probe_common::runqueue::{self, CgroupRunqueue, PreemptionKey};

use crate::{
    collect::{
        batch,
        maps::{CgroupData, RawSnapshot, Store, take},
    },
    kernel::cgroup_state::CgroupState,
};

/// Handles on the run queue's maps.
pub struct Maps {
    state: Store<CgroupRunqueue>,
    preemptions: BpfHashMap<MapData, PreemptionKey, u64>,
}

impl Maps {
    /// Takes them out of the loaded object (per-cgroup state where `state`
    /// says it is).
    pub fn take(ebpf: &mut Ebpf, state: CgroupState) -> Result<Self> {
        Ok(Self {
            state: Store::take(ebpf, state, runqueue::STORAGE_MAP, runqueue::STATE_MAP)?,
            preemptions: take(ebpf, runqueue::PREEMPTIONS_MAP)?,
        })
    }

    /// Lists the preemption pairs.
    pub fn read(&self, raw: &mut RawSnapshot) -> Result<()> {
        batch::entries(&self.preemptions, &mut raw.preemptions).context("reading RUNQ_PREEMPTIONS")
    }

    /// Cgroup `id`'s waits (open as `dir`).
    pub fn cgroup_data(&self, id: u64, dir: Option<&OwnedFd>, data: &mut CgroupData) -> Result<()> {
        if let Some(state) = self.state.get(id, dir)? {
            data.runq = Some(Box::new(state.latency));
            data.waited_behind_ns = Some(state.waited_behind_ns);
        }
        Ok(())
    }

    /// Drops a removed cgroup's state.
    pub fn forget_cgroup(&mut self, id: u64) {
        self.state.forget(id);
    }

    /// Drops one preemption pair.
    pub fn forget_pair(&mut self, key: &PreemptionKey) {
        // Absent already is fine: the goal is that it is gone.
        let _ = self.preemptions.remove(key);
    }
}
