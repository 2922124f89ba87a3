//! The memory signal's kernel map: each cgroup's reclaim stalls and OOM
//! kills.

use std::os::fd::OwnedFd;

use anyhow::Result;
use aya::Ebpf;
use probe_common::memory::{self, CgroupMemory};

use crate::{
    collect::maps::{CgroupData, Store},
    kernel::cgroup_state::CgroupState,
};

/// Handles on the memory signal's map.
pub struct Maps {
    state: Store<CgroupMemory>,
}

impl Maps {
    /// Takes it out of the loaded object (where `state` says it is).
    pub fn take(ebpf: &mut Ebpf, state: CgroupState) -> Result<Self> {
        Ok(Self {
            state: Store::take(ebpf, state, memory::STORAGE_MAP, memory::STATE_MAP)?,
        })
    }

    /// Cgroup `id`'s reclaim stalls and OOM kills (open as `dir`).
    pub fn cgroup_data(&self, id: u64, dir: Option<&OwnedFd>, data: &mut CgroupData) -> Result<()> {
        data.memory = self.state.get(id, dir)?.map(Box::new);
        Ok(())
    }

    /// Drops a removed cgroup's state.
    pub fn forget_cgroup(&mut self, id: u64) {
        self.state.forget(id);
    }
}
