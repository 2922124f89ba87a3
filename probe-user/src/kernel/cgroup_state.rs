//! Where the kernel keeps per-cgroup state, and so which build of the
//! programs is loaded: cgroup local storage (Linux 6.2 and later: no
//! hashing on the hot path, freed by the kernel with the cgroup) or hash
//! maps keyed by cgroup id (any kernel; the agent reclaims removed cgroups).

use anyhow::{Result, bail};

use crate::kernel::btf::KernelBtf;

/// Where per-cgroup state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupState {
    /// Cgroup local storage (`BPF_MAP_TYPE_CGRP_STORAGE`).
    Storage,
    /// Hash maps keyed by cgroup id.
    Hash,
}

/// The kernel function behind `bpf_cgrp_storage_get()` (Linux 6.2+).
const CGRP_STORAGE_HELPER: &str = "bpf_cgrp_storage_get";

impl CgroupState {
    /// `requested`, or without a request storage where the kernel has it;
    /// storage on a kernel without it is an error.
    pub fn choose(requested: Option<CgroupState>, btf: &KernelBtf) -> Result<CgroupState> {
        let has_storage = btf.has_function(CGRP_STORAGE_HELPER);
        Ok(match requested {
            None if has_storage => CgroupState::Storage,
            None => CgroupState::Hash,
            Some(CgroupState::Storage) if !has_storage => bail!(
                "--cgroup-state storage needs cgroup local storage (Linux 6.2 and later), which \
                 this kernel lacks; use --cgroup-state hash"
            ),
            Some(state) => state,
        })
    }

    /// For logs and `check`.
    pub fn describe(self) -> &'static str {
        match self {
            CgroupState::Storage => "cgroup local storage",
            CgroupState::Hash => "hash maps keyed by cgroup id (no cgroup local storage)",
        }
    }
}
