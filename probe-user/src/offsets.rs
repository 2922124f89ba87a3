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
    /// The path to the run queue's clock, when this kernel has it.
    rq_clock: Option<RqClockOffsets>,
}

/// `task->se.cfs_rq->rq->clock`: the scheduler's own clock for the run queue a
/// task is on (needs `CONFIG_FAIR_GROUP_SCHED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RqClockOffsets {
    task_se_cfs_rq: u64,
    cfs_rq_rq: u64,
    rq_clock: u64,
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
            rq_clock: RqClockOffsets::resolve(btf).ok(),
        })
    }

    /// Which clock the run-queue programs read, for logs and `check`.
    pub fn clock_description(&self) -> &'static str {
        if self.rq_clock.is_some() {
            "the run queue's own clock (task->se.cfs_rq->rq->clock)"
        } else {
            "bpf_ktime_get_ns() (this kernel's BTF has no task->se.cfs_rq->rq->clock)"
        }
    }

    /// The globals to set before load, by name.
    pub fn globals(&self) -> Vec<(&'static str, u64)> {
        let clock = self.rq_clock.unwrap_or(RqClockOffsets {
            task_se_cfs_rq: 0,
            cfs_rq_rq: 0,
            rq_clock: 0,
        });
        vec![
            (globals::TASK_PID_OFFSET, self.task_pid),
            (globals::TASK_CGROUPS_OFFSET, self.task_cgroups),
            (globals::CSS_SET_DFL_CGRP_OFFSET, self.css_set_dfl_cgrp),
            (globals::CGROUP_KN_OFFSET, self.cgroup_kn),
            (globals::KERNFS_NODE_ID_OFFSET, self.kernfs_node_id),
            (globals::TASK_SE_CFS_RQ_OFFSET, clock.task_se_cfs_rq),
            (globals::CFS_RQ_RQ_OFFSET, clock.cfs_rq_rq),
            (globals::RQ_CLOCK_OFFSET, clock.rq_clock),
        ]
    }

    /// Whether the run-queue clock path is available (the `USE_RQ_CLOCK` global).
    pub fn use_rq_clock(&self) -> u8 {
        u8::from(self.rq_clock.is_some())
    }
}

impl RqClockOffsets {
    fn resolve(btf: &KernelBtf) -> Result<Self> {
        Ok(Self {
            task_se_cfs_rq: btf.field_offset("task_struct", "se.cfs_rq")?,
            cfs_rq_rq: btf.field_offset("cfs_rq", "rq")?,
            rq_clock: btf.field_offset("rq", "clock")?,
        })
    }
}

/// What the TCP listener iterator and the accept-queue program read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOffsets {
    values: [u64; TcpOffsets::NAMES.len()],
}

impl TcpOffsets {
    /// (global name, struct, field path, width read) for every field.
    const NAMES: [(&'static str, &'static str, &'static str, usize); 15] = [
        ("ITER_META_SEQ_OFFSET", "bpf_iter_meta", "seq", 8),
        ("TASK_TGID_OFFSET", "task_struct", "tgid", 4),
        ("FILE_INODE_OFFSET", "file", "f_inode", 8),
        ("INODE_INO_OFFSET", "inode", "i_ino", 8),
        ("SOCKET_SK_OFFSET", "socket", "sk", 8),
        ("SOCK_FAMILY_OFFSET", "sock", "__sk_common.skc_family", 2),
        ("SOCK_STATE_OFFSET", "sock", "__sk_common.skc_state", 1),
        ("SOCK_PORT_OFFSET", "sock", "__sk_common.skc_num", 2),
        ("SOCK_NET_OFFSET", "sock", "__sk_common.skc_net.net", 8),
        ("SOCK_PROTOCOL_OFFSET", "sock", "sk_protocol", 2),
        ("SOCK_ACK_BACKLOG_OFFSET", "sock", "sk_ack_backlog", 4),
        (
            "SOCK_MAX_ACK_BACKLOG_OFFSET",
            "sock",
            "sk_max_ack_backlog",
            4,
        ),
        ("SOCK_DROPS_OFFSET", "sock", "sk_drops", 4),
        ("SOCK_CGROUP_OFFSET", "sock", "sk_cgrp_data.cgroup", 8),
        ("NET_NS_INUM_OFFSET", "net", "ns.inum", 4),
    ];

    /// The iterator context's slots the program reads at fixed offsets: the
    /// verifier only accepts constant context offsets, so these are checked
    /// against the kernel's BTF instead of passed in.
    const ITER_CONTEXT: [(&'static str, u64); 3] = [("meta", 0), ("task", 8), ("file", 24)];

    /// Looks every field up; the error names the first one missing, of an
    /// unexpected width, or (for the iterator context) at an unexpected place.
    pub fn resolve(btf: &KernelBtf) -> Result<Self> {
        for (field, expected) in Self::ITER_CONTEXT {
            let offset = btf
                .field("bpf_iter__task_file", field)?
                .with_size(field, 8)?;
            if offset != expected {
                anyhow::bail!(
                    "bpf_iter__task_file.{field} is at byte {offset}, the program reads byte {expected}"
                );
            }
        }
        let mut values = [0; Self::NAMES.len()];
        for (value, (_, structure, path, size)) in values.iter_mut().zip(Self::NAMES) {
            *value = btf
                .field(structure, path)?
                .with_size(&format!("{structure}.{path}"), size)?;
        }
        Ok(Self { values })
    }

    /// The globals to set before load, by name.
    pub fn globals(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Self::NAMES
            .iter()
            .zip(self.values)
            .map(|((name, ..), value)| (*name, value))
    }
}
