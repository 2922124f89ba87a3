//! Indices into the per-CPU `COUNTERS` array: events the kernel programs could
//! not record, or deliberately discarded. Every failure path bumps one.

/// A pending wakeup timestamp was overwritten by another thread whose id maps
/// to the same slot; the first thread's wait is not measured.
pub const RUNQ_WAKEUP_SLOT_COLLISION: u32 = 0;
/// A run-queue wait could not be recorded: the kernel could not allocate the
/// cgroup's local storage.
pub const RUNQ_STORAGE_UNAVAILABLE: u32 = 1;
/// A preemption could not be recorded: the preemption map is full.
pub const RUNQ_PREEMPTION_MAP_FULL: u32 = 2;
/// A wait measured as negative (clock went backwards) and was discarded.
pub const RUNQ_DELTA_NEGATIVE: u32 = 3;
/// A wait of more than `histogram::MAX_NS` was discarded as absurd.
pub const RUNQ_DELTA_ABSURD: u32 = 4;
/// A task's cgroup could not be read (a null pointer on the way).
pub const RUNQ_CGROUP_UNREADABLE: u32 = 5;
/// The run queue's clock could not be read (a null pointer on the way); the
/// wait is not measured.
pub const RUNQ_CLOCK_UNREADABLE: u32 = 6;
/// A cgroup's waits were recorded but it could not be listed for the agent:
/// the `RUNQ_CGROUPS` set is full. Retried on its next event.
pub const RUNQ_CGROUP_SET_FULL: u32 = 7;

/// Number of slots in the counter array.
pub const COUNT: u32 = 8;

/// Name of every counter, by index, as exported in the `reason` label.
pub const NAMES: [(u32, &str, &str); 8] = [
    (RUNQ_WAKEUP_SLOT_COLLISION, "runq", "wakeup_slot_collision"),
    (RUNQ_STORAGE_UNAVAILABLE, "runq", "storage_unavailable"),
    (RUNQ_PREEMPTION_MAP_FULL, "runq", "preemption_map_full"),
    (RUNQ_DELTA_NEGATIVE, "runq", "negative_delta"),
    (RUNQ_DELTA_ABSURD, "runq", "absurd_delta"),
    (RUNQ_CGROUP_UNREADABLE, "runq", "cgroup_unreadable"),
    (RUNQ_CLOCK_UNREADABLE, "runq", "clock_unreadable"),
    (RUNQ_CGROUP_SET_FULL, "runq", "cgroup_set_full"),
];
