//! Map layouts of the run-queue signal.

/// Default number of wakeup slots (a power of two); one slot per runnable
/// thread, indexed by thread id modulo this.
pub const WAKEUP_SLOTS: u32 = 1 << 16;
/// Preemption pairs the kernel keeps per listed cgroup.
pub const PREEMPTION_PAIRS_PER_CGROUP: u32 = 4;
/// Default bound of the (victim, preemptor) pair map.
pub const MAX_PREEMPTION_PAIRS: u32 = crate::cgroups::MAX_CGROUPS * PREEMPTION_PAIRS_PER_CGROUP;
/// Name of the per-cgroup state map of the `cgroup-state-hash` build.
pub const STATE_MAP: &str = "RUNQ_STATE";
/// Name of the per-cgroup local storage of the default build.
pub const STORAGE_MAP: &str = "RUNQ_STORAGE";
/// Name of the wakeup slot array.
pub const WAKEUPS_MAP: &str = "RUNQ_WAKEUPS";
/// Name of the preemption pair map.
pub const PREEMPTIONS_MAP: &str = "RUNQ_PREEMPTIONS";

/// When a runnable thread started waiting for a CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WakeupSlot {
    /// Thread id that owns the timestamp (0: slot free).
    pub tid: u32,
    /// Padding, always 0.
    pub pad: u32,
    /// When it became runnable, on the clock `kernel::sched_clock` reads
    /// (the run queue's own, or `bpf_ktime_get_ns()` where BTF lacks it).
    pub since_ns: u64,
}

/// Run-queue state kept in each cgroup's local storage (freed by the kernel
/// with the cgroup).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CgroupRunqueue {
    /// Wait times of the cgroup's threads.
    pub latency: crate::histogram::Histogram,
    /// Non-zero once the cgroup id is in the `CGROUPS` set the agent lists.
    pub registered: u64,
}

/// Key of the preemption map: a task of `victim` was switched out while
/// still runnable in favour of a task of `by` (both cgroup ids).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PreemptionKey {
    /// Cgroup of the preempted task.
    pub victim: u64,
    /// Cgroup of the task that ran instead.
    pub by: u64,
}

#[cfg(feature = "user")]
// SAFETY: `WakeupSlot` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for WakeupSlot {}
#[cfg(feature = "user")]
// SAFETY: `CgroupRunqueue` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for CgroupRunqueue {}
#[cfg(feature = "user")]
// SAFETY: `PreemptionKey` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for PreemptionKey {}
