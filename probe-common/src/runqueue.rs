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

/// How the run-queue program tells that a task switched out while
/// runnable was throttled at its cgroup's CPU quota (`THROTTLE_CHECK`).
pub mod throttle_check {
    /// Only when the CPU goes idle (the kernel's BTF has neither field).
    pub const IDLE_ONLY: u8 = 0;
    /// `task_struct.throttled` (Linux 6.18+, throttling per task).
    pub const TASK_FLAG: u8 = 1;
    /// `task->se.cfs_rq->throttle_count` (throttling per run queue).
    pub const CFS_RQ_COUNT: u8 = 2;
}

/// Who started a wait by preempting the thread, as the kernel side can
/// tell (`WakeupSlot::preempted_by`; 0: the wait began at a wakeup).
pub mod wait_cause {
    /// A thread of the same cgroup.
    pub const SAME_CGROUP: u32 = 1;
    /// Its cgroup's CPU quota: the task was throttled.
    pub const THROTTLED: u32 = 2;
    /// A thread of another cgroup (a container or the host).
    pub const OTHER: u32 = 3;
    /// How many causes (`CgroupRunqueue::preempted_wait_ns` slots).
    pub const COUNT: usize = 3;
}

/// When a runnable thread started waiting for a CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WakeupSlot {
    /// Thread id that owns the timestamp (0: slot free).
    pub tid: u32,
    /// What started the wait: 0 a wakeup, else a [`wait_cause`].
    pub preempted_by: u32,
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
    /// Of those, the time waited after being preempted, by
    /// [`wait_cause`] (index `cause - 1`), in nanoseconds.
    pub preempted_wait_ns: [u64; wait_cause::COUNT],
    /// Non-zero once the cgroup id is in the `CGROUPS` set the agent lists.
    pub registered: u64,
}

/// `PreemptionKey::by` when the task was throttled at its cgroup's CPU
/// quota (or, where the kernel cannot say, the CPU went idle while it was
/// runnable). No cgroup has id 0.
pub const NOBODY: u64 = 0;

/// Key of the preemption map: a task of `victim` was switched out while
/// still runnable in favour of a task of `by` (both cgroup ids; `by` is
/// [`NOBODY`] when the CPU went idle instead).
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
