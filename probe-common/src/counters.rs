//! Indices into the per-CPU `COUNTERS` array: events the kernel programs could
//! not record, or deliberately discarded. Every failure path bumps one.

/// A pending wakeup timestamp was overwritten by another thread whose id maps
/// to the same slot; the first thread's wait is not measured.
pub const RUNQ_WAKEUP_SLOT_COLLISION: u32 = 0;
/// A run-queue wait could not be recorded: the per-cgroup histogram map is full.
pub const RUNQ_HISTOGRAM_MAP_FULL: u32 = 1;
/// A preemption could not be recorded: the preemption map is full.
pub const RUNQ_PREEMPTION_MAP_FULL: u32 = 2;
/// A wait measured as negative (clock went backwards) and was discarded.
pub const RUNQ_DELTA_NEGATIVE: u32 = 3;
/// A wait of more than `histogram::MAX_NS` was discarded as absurd.
pub const RUNQ_DELTA_ABSURD: u32 = 4;
/// A task's cgroup could not be read (a null pointer on the way).
pub const RUNQ_CGROUP_UNREADABLE: u32 = 5;

/// Number of slots in the counter array.
pub const COUNT: u32 = 8;

/// Name of every counter, by index, as exported in the `reason` label.
pub const NAMES: [(u32, &str, &str); 6] = [
    (RUNQ_WAKEUP_SLOT_COLLISION, "runq", "wakeup_slot_collision"),
    (RUNQ_HISTOGRAM_MAP_FULL, "runq", "histogram_map_full"),
    (RUNQ_PREEMPTION_MAP_FULL, "runq", "preemption_map_full"),
    (RUNQ_DELTA_NEGATIVE, "runq", "negative_delta"),
    (RUNQ_DELTA_ABSURD, "runq", "absurd_delta"),
    (RUNQ_CGROUP_UNREADABLE, "runq", "cgroup_unreadable"),
];
