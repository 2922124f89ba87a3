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
/// Name of the per-CPU run accounting array (`CpuRun`, indexed by CPU).
pub const CPUS_MAP: &str = "RUNQ_CPUS";
/// CPUs whose run time the kernel keeps per cgroup (`CgroupRunqueue::ran_ns`):
/// a wait on a CPU numbered this or more is not split by who ran meanwhile.
pub const RUN_CPUS: u32 = 256;
/// `WakeupSlot::cpu` when the CPU a thread waits on is not known.
pub const NO_CPU: u32 = u32::MAX;

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

/// What a CPU did while a thread of a cgroup waited on it
/// (`CgroupRunqueue::waited_behind_ns` index).
pub mod behind {
    /// It ran threads of the same cgroup.
    pub const SAME_CGROUP: usize = 0;
    /// The thread was throttled at its cgroup's CPU quota (the whole wait,
    /// whatever ran meanwhile).
    pub const THROTTLED: usize = 1;
    /// It ran threads of other cgroups (containers or the host).
    pub const OTHER: usize = 2;
    /// It ran nothing (idle until the thread was switched in).
    pub const IDLE: usize = 3;
    /// How many there are.
    pub const COUNT: usize = 4;
    /// Their exported names, by index.
    pub const NAMES: [&str; COUNT] = ["same_cgroup", "throttled", "other", "idle"];
}

/// When a runnable thread started waiting for a CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WakeupSlot {
    /// Thread id that owns the timestamp (0: slot free).
    pub tid: u32,
    /// Non-zero when the wait began with the thread throttled at its
    /// cgroup's CPU quota.
    pub throttled: u32,
    /// When it became runnable, on the clock `kernel::sched_clock` reads
    /// (the run queue's own, or `bpf_ktime_get_ns()` where BTF lacks it).
    pub since_ns: u64,
    /// The CPU it waits on ([`NO_CPU`] if not known).
    pub cpu: u32,
    /// Padding (zero).
    pub pad: u32,
    /// Its cgroup's run time on that CPU when it began waiting there
    /// (`ran_ns`).
    pub own_ran_ns: u64,
    /// That CPU's idle time when it began waiting there (`CpuRun::idle_ns`).
    pub idle_ns: u64,
    /// When it began waiting on that CPU (the wait's start, or the moment
    /// it moved there while waiting).
    pub here_since_ns: u64,
    /// Of the wait so far on the CPUs it moved away from: the time they ran
    /// threads of its cgroup, and the time they were idle.
    pub own_before_ns: u64,
    /// See `own_before_ns`.
    pub idle_before_ns: u64,
}

/// Run accounting of one CPU, on its run queue's clock.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuRun {
    /// When the CPU last switched threads (0: not seen yet).
    pub last_switch_ns: u64,
    /// Time it ran its idle thread.
    pub idle_ns: u64,
    /// The cgroup (kernel address) of the thread it runs now; 0 when idle.
    pub running: u64,
}

/// Run-queue state kept in each cgroup's local storage (freed by the kernel
/// with the cgroup).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CgroupRunqueue {
    /// Wait times of the cgroup's threads.
    pub latency: crate::histogram::Histogram,
    /// The same time, split by what the CPU did meanwhile ([`behind`]),
    /// in nanoseconds.
    pub waited_behind_ns: [u64; behind::COUNT],
    /// Time the cgroup's threads ran, per CPU (the first [`RUN_CPUS`]).
    pub ran_ns: [u64; RUN_CPUS as usize],
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
// SAFETY: `CpuRun` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for CpuRun {}
#[cfg(feature = "user")]
// SAFETY: `PreemptionKey` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for PreemptionKey {}
