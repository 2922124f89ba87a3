//! The syscall signal's kernel map: each cgroup's syscalls.

use std::os::fd::OwnedFd;

use anyhow::Result;
use aya::Ebpf;
use probe_common::syscall::{self, CgroupSyscalls};

use crate::{
    collect::maps::{CgroupData, Store},
    kernel::cgroup_state::CgroupState,
};

/// Handles on the syscall signal's map.
pub struct Maps {
    state: Store<CgroupSyscalls>,
}

impl Maps {
    /// Takes it out of the loaded object (where `state` says it is).
    pub fn take(ebpf: &mut Ebpf, state: CgroupState) -> Result<Self> {
        Ok(Self {
            state: Store::take(ebpf, state, syscall::STORAGE_MAP, syscall::STATE_MAP)?,
        })
    }

    /// Cgroup `id`'s syscalls (open as `dir`).
    pub fn cgroup_data(&self, id: u64, dir: Option<&OwnedFd>, data: &mut CgroupData) -> Result<()> {
        data.syscalls = self.state.get(id, dir)?.map(Box::new);
        Ok(())
    }

    /// Drops a removed cgroup's state.
    pub fn forget_cgroup(&mut self, id: u64) {
        self.state.forget(id);
    }
}
