//! Layouts of the memory-pressure signal: time threads stall in reclaim
//! they must do themselves before they can allocate, and OOM kills.

use crate::histogram::Histogram;

/// Name of the per-cgroup state map of the `cgroup-state-hash` build.
pub const STATE_MAP: &str = "MEMORY_STATE";
/// Name of the per-cgroup local storage of the default build.
pub const STORAGE_MAP: &str = "MEMORY_STORAGE";
/// Name of the task storage holding each thread's reclaim in progress.
pub const SLOTS_MAP: &str = "MEMORY_SLOTS";
/// Name of the processes already counted as OOM kills (thread group id to
/// the start time of its leader: an id reused by a later process is
/// another process).
pub const OOM_VICTIMS_MAP: &str = "MEMORY_OOM_VICTIMS";
/// Bound on the processes remembered as counted (least recently counted
/// forgotten first).
pub const OOM_VICTIMS: u32 = 4096;

/// A thread's reclaim in progress (in the thread's own storage).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ReclaimSlot {
    /// Reclaims begun inside the outermost one (they end before it does).
    pub depth: u32,
    /// Padding, zero.
    pub reserved: u32,
    /// `bpf_ktime_get_ns()` when the outermost reclaim began; 0 when the
    /// thread is in none.
    pub since_ns: u64,
}

/// Memory state kept in each cgroup's local storage.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CgroupMemory {
    /// Time threads of the cgroup spent in direct or memcg reclaim.
    pub reclaim: Histogram,
    /// Processes of the cgroup the OOM killer chose.
    pub oom_kills: u64,
    /// Non-zero once the cgroup id is listed for the agent.
    pub registered: u64,
}

#[cfg(feature = "user")]
// SAFETY: `CgroupMemory` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for CgroupMemory {}
