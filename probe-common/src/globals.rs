//! Names of the read-only globals (`.rodata`) that the agent sets before load.
//! Kernel struct offsets come from the running kernel's BTF, never from here.

/// Byte offset of `task_struct.pid`.
pub const TASK_PID_OFFSET: &str = "TASK_PID_OFFSET";
/// Byte offset of `task_struct.cgroups` (`struct css_set *`).
pub const TASK_CGROUPS_OFFSET: &str = "TASK_CGROUPS_OFFSET";
/// Byte offset of `css_set.dfl_cgrp` (`struct cgroup *`).
pub const CSS_SET_DFL_CGRP_OFFSET: &str = "CSS_SET_DFL_CGRP_OFFSET";
/// Byte offset of `cgroup.kn` (`struct kernfs_node *`).
pub const CGROUP_KN_OFFSET: &str = "CGROUP_KN_OFFSET";
/// Byte offset of `kernfs_node.id` (the cgroup id, the directory's inode).
pub const KERNFS_NODE_ID_OFFSET: &str = "KERNFS_NODE_ID_OFFSET";
/// Mask applied to a thread id to pick its wakeup slot.
pub const WAKEUP_SLOT_MASK: &str = "WAKEUP_SLOT_MASK";
/// Byte offset of `task_struct.se.cfs_rq` (`struct cfs_rq *`).
pub const TASK_SE_CFS_RQ_OFFSET: &str = "TASK_SE_CFS_RQ_OFFSET";
/// Byte offset of `cfs_rq.rq` (`struct rq *`).
pub const CFS_RQ_RQ_OFFSET: &str = "CFS_RQ_RQ_OFFSET";
/// Byte offset of `rq.clock`.
pub const RQ_CLOCK_OFFSET: &str = "RQ_CLOCK_OFFSET";
/// 1 when the run-queue clock offsets are set, 0 to use `bpf_ktime_get_ns()`.
pub const USE_RQ_CLOCK: &str = "USE_RQ_CLOCK";
/// Mask applied to a thread id to pick its syscall entry slot.
pub const SYSCALL_SLOT_MASK: &str = "SYSCALL_SLOT_MASK";
