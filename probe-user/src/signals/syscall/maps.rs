//! The syscall signal's kernel map: each cgroup's syscalls.

use anyhow::Result;
use aya::Ebpf;
use probe_common::syscall::{self, CgroupSyscalls};

use crate::{collect::maps::Store, kernel::cgroup_state::CgroupState};

/// Its per-cgroup state, taken out of the loaded object (where `state`
/// says the kernel keeps it).
pub fn take(ebpf: &mut Ebpf, state: CgroupState) -> Result<Store<CgroupSyscalls>> {
    Store::take(ebpf, state, syscall::STORAGE_MAP, syscall::STATE_MAP)
}
