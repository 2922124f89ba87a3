//! The set of cgroups that have storage in any signal: how the agent finds
//! the cgroup local storages to read.

/// Default bound of the set; the agent may set another (`--kernel-cgroups`).
pub const MAX_CGROUPS: u32 = 8192;

/// Name of the set (cgroup id -> 1).
pub const CGROUPS_MAP: &str = "CGROUPS";
