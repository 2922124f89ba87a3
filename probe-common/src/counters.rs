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
/// the `CGROUPS` set is full. Retried on its next event.
pub const RUNQ_CGROUP_SET_FULL: u32 = 7;
/// A syscall could not be timed: its entry slot held another thread's
/// syscall, and the kernel could not allocate the thread's own storage for
/// it.
pub const SYSCALL_SLOT_UNAVAILABLE: u32 = 8;
/// A syscall could not be recorded: the kernel could not allocate the
/// cgroup's local storage.
pub const SYSCALL_STORAGE_UNAVAILABLE: u32 = 9;
/// A syscall lasted longer than the histogram covers (`histogram::MAX_NS`,
/// about 18 minutes): counted here, not in the histogram.
pub const SYSCALL_TOO_LONG: u32 = 10;
/// A task's cgroup could not be read (a null pointer on the way).
pub const SYSCALL_CGROUP_UNREADABLE: u32 = 11;
/// A cgroup's syscalls were recorded but it could not be listed for the
/// agent: the `CGROUPS` set is full. Retried on its next event.
pub const SYSCALL_CGROUP_SET_FULL: u32 = 12;
/// An accept-queue fill observation was lost: the per-cgroup fill map is full.
pub const TCP_FILL_MAP_FULL: u32 = 13;
/// A listener's cgroup could not be read (a null pointer on the way).
pub const TCP_CGROUP_UNREADABLE: u32 = 14;
/// A reclaim could not be timed: the kernel could not allocate its
/// thread's storage.
pub const MEMORY_SLOT_UNAVAILABLE: u32 = 15;
/// A reclaim stall or OOM kill could not be recorded: the kernel could not
/// allocate the cgroup's state.
pub const MEMORY_STORAGE_UNAVAILABLE: u32 = 16;
/// A task's cgroup could not be read (a null pointer on the way).
pub const MEMORY_CGROUP_UNREADABLE: u32 = 17;
/// A cgroup's memory events were recorded but it could not be listed for
/// the agent: the `CGROUPS` set is full. Retried on its next event.
pub const MEMORY_CGROUP_SET_FULL: u32 = 18;
/// A reclaim longer than the histogram covers (`histogram::MAX_NS`).
pub const MEMORY_TOO_LONG: u32 = 19;
/// A connecting socket's cgroup could not be read: the socket is not followed.
pub const DEPENDENCY_CGROUP_UNREADABLE: u32 = 20;
/// A dependency event was lost: the (cgroup, remote) map is full
/// (`--kernel-remotes`).
pub const DEPENDENCY_REMOTES_FULL: u32 = 21;
/// A response or connect time longer than the histogram covers.
pub const DEPENDENCY_TOO_LONG: u32 = 22;
/// A connecting socket could not get its state (the kernel could not
/// allocate socket storage): the socket is not followed.
pub const DEPENDENCY_SOCKET_UNAVAILABLE: u32 = 23;

/// A run-queue wait was not split by what its CPU did meanwhile (its CPU
/// is not known, or numbered `runqueue::RUN_CPUS` or more); it is in the
/// latency histogram only.
pub const RUNQ_WAIT_UNSPLIT: u32 = 24;

/// A dependency event was lost: its cgroup holds its share of the
/// (cgroup, remote) map (`--kernel-remotes-per-container`).
pub const DEPENDENCY_REMOTES_PER_CONTAINER: u32 = 25;

/// A listener drop was not counted at its listener: the drop map is full
/// (`tcp::DROPS_ENTRIES` listeners with drops).
pub const TCP_DROPS_MAP_FULL: u32 = 26;
/// A listener drop was not counted at its listener: its socket's inode
/// could not be read (a null pointer on the way).
pub const TCP_LISTENER_UNREADABLE: u32 = 27;

/// An inbound connection's cgroup could not be read: it is not followed.
pub const REQUESTS_CGROUP_UNREADABLE: u32 = 28;
/// A request event was lost: the (cgroup, port) map is full
/// (`requests::MAX_PORTS`).
pub const REQUESTS_PORTS_FULL: u32 = 29;
/// A response or queue time longer than the histogram covers.
pub const REQUESTS_TOO_LONG: u32 = 30;
/// An inbound connection could not get its state (the kernel could not
/// allocate socket storage): it is not followed.
pub const REQUESTS_SOCKET_UNAVAILABLE: u32 = 31;

/// Name of the per-CPU counter array.
pub const MAP: &str = "COUNTERS";

/// Number of slots in the counter array.
pub const COUNT: u32 = 32;

/// Every counter: (index, signal, reason) as exported.
pub const NAMES: [(u32, &str, &str); 32] = [
    (RUNQ_WAKEUP_SLOT_COLLISION, "runq", "wakeup_slot_collision"),
    (RUNQ_STORAGE_UNAVAILABLE, "runq", "storage_unavailable"),
    (RUNQ_PREEMPTION_MAP_FULL, "runq", "preemption_map_full"),
    (RUNQ_DELTA_NEGATIVE, "runq", "negative_delta"),
    (RUNQ_DELTA_ABSURD, "runq", "absurd_delta"),
    (RUNQ_CGROUP_UNREADABLE, "runq", "cgroup_unreadable"),
    (RUNQ_CLOCK_UNREADABLE, "runq", "clock_unreadable"),
    (RUNQ_CGROUP_SET_FULL, "runq", "cgroup_set_full"),
    (SYSCALL_SLOT_UNAVAILABLE, "syscall", "slot_unavailable"),
    (
        SYSCALL_STORAGE_UNAVAILABLE,
        "syscall",
        "storage_unavailable",
    ),
    (SYSCALL_TOO_LONG, "syscall", "too_long"),
    (SYSCALL_CGROUP_UNREADABLE, "syscall", "cgroup_unreadable"),
    (SYSCALL_CGROUP_SET_FULL, "syscall", "cgroup_set_full"),
    (TCP_FILL_MAP_FULL, "tcp", "fill_map_full"),
    (TCP_CGROUP_UNREADABLE, "tcp", "cgroup_unreadable"),
    (MEMORY_SLOT_UNAVAILABLE, "memory", "slot_unavailable"),
    (MEMORY_STORAGE_UNAVAILABLE, "memory", "storage_unavailable"),
    (MEMORY_CGROUP_UNREADABLE, "memory", "cgroup_unreadable"),
    (MEMORY_CGROUP_SET_FULL, "memory", "cgroup_set_full"),
    (MEMORY_TOO_LONG, "memory", "too_long"),
    (
        DEPENDENCY_CGROUP_UNREADABLE,
        "dependency",
        "cgroup_unreadable",
    ),
    (DEPENDENCY_REMOTES_FULL, "dependency", "remotes_full"),
    (DEPENDENCY_TOO_LONG, "dependency", "too_long"),
    (
        DEPENDENCY_SOCKET_UNAVAILABLE,
        "dependency",
        "socket_unavailable",
    ),
    (RUNQ_WAIT_UNSPLIT, "runq", "wait_unsplit"),
    (
        DEPENDENCY_REMOTES_PER_CONTAINER,
        "dependency",
        "remotes_per_container",
    ),
    (TCP_DROPS_MAP_FULL, "tcp", "drops_map_full"),
    (TCP_LISTENER_UNREADABLE, "tcp", "listener_unreadable"),
    (REQUESTS_CGROUP_UNREADABLE, "requests", "cgroup_unreadable"),
    (REQUESTS_PORTS_FULL, "requests", "ports_full"),
    (REQUESTS_TOO_LONG, "requests", "too_long"),
    (
        REQUESTS_SOCKET_UNAVAILABLE,
        "requests",
        "socket_unavailable",
    ),
];
