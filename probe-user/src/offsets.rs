//! Kernel struct offsets the programs need, resolved from BTF at start-up and
//! handed to them as read-only globals. Nothing is compiled in.

use anyhow::{Context, Result};
use probe_common::globals;

use crate::kernel_btf::KernelBtf;

/// Byte offsets of the fields the kernel programs read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelOffsets {
    task_pid: u64,
    task_cgroups: u64,
    css_set_dfl_cgrp: u64,
    cgroup_kn: u64,
    kernfs_node_id: u64,
}

impl KernelOffsets {
    /// Looks every field up in `btf`; the error names the first one missing.
    pub fn resolve(btf: &KernelBtf) -> Result<Self> {
        let field = |structure: &str, name: &str| {
            btf.field_offset(structure, name).with_context(|| {
                format!(
                    "this kernel's layout is not supported (read from {})",
                    btf.path().display()
                )
            })
        };
        Ok(Self {
            task_pid: field("task_struct", "pid")?,
            task_cgroups: field("task_struct", "cgroups")?,
            css_set_dfl_cgrp: field("css_set", "dfl_cgrp")?,
            cgroup_kn: field("cgroup", "kn")?,
            kernfs_node_id: field("kernfs_node", "id")?,
        })
    }

    /// The globals to set before load, by name.
    pub fn globals(&self) -> [(&'static str, u64); 5] {
        [
            (globals::TASK_PID_OFFSET, self.task_pid),
            (globals::TASK_CGROUPS_OFFSET, self.task_cgroups),
            (globals::CSS_SET_DFL_CGRP_OFFSET, self.css_set_dfl_cgrp),
            (globals::CGROUP_KN_OFFSET, self.cgroup_kn),
            (globals::KERNFS_NODE_ID_OFFSET, self.kernfs_node_id),
        ]
    }
}
