//! Which build of the kernel programs keeps per-cgroup state where.

use anyhow::{Result, bail};

use crate::{cli::StateStore, kernel_btf::KernelBtf};

/// The kernel function behind `bpf_cgrp_storage_get()` (Linux 6.2+).
const CGRP_STORAGE_HELPER: &str = "bpf_cgrp_storage_get";

/// Resolves `auto`, and refuses `storage` on a kernel without it.
pub fn choose(requested: StateStore, btf: &KernelBtf) -> Result<StateStore> {
    let has_storage = btf.has_function(CGRP_STORAGE_HELPER);
    Ok(match requested {
        StateStore::Auto if has_storage => StateStore::Storage,
        StateStore::Auto => StateStore::Hash,
        StateStore::Storage if !has_storage => bail!(
            "--cgroup-state storage needs cgroup local storage (Linux 6.2 and later), which \
             this kernel lacks; use --cgroup-state hash"
        ),
        other => other,
    })
}

/// For logs and `check`.
pub fn describe(store: StateStore) -> &'static str {
    match store {
        StateStore::Storage => "cgroup local storage",
        StateStore::Hash => "hash maps keyed by cgroup id (no cgroup local storage)",
        StateStore::Auto => "chosen at start",
    }
}
