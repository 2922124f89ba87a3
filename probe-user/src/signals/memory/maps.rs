//! The memory signal's kernel map: each cgroup's reclaim stalls and OOM
//! kills.

use anyhow::Result;
use aya::Ebpf;
use probe_common::memory::{self, CgroupMemory};

use crate::{collect::maps::Store, kernel::cgroup_state::CgroupState};

/// Its per-cgroup state, taken out of the loaded object (where `state`
/// says the kernel keeps it).
pub fn take(ebpf: &mut Ebpf, state: CgroupState) -> Result<Store<CgroupMemory>> {
    Store::take(ebpf, state, memory::STORAGE_MAP, memory::STATE_MAP)
}
