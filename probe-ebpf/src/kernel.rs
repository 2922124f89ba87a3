//! Reads of kernel structures through BTF-typed pointers. Every offset is a
//! read-only global the agent resolves from the running kernel's BTF before
//! load; the verifier sees it as a constant and checks each access against
//! the kernel's own type information.

use aya_ebpf::helpers::bpf_ktime_get_ns;

use crate::globals::load_time_globals;

/// Declares `u64` offset globals, zero until the agent sets them.
macro_rules! offsets {
    ($($name:ident),* $(,)?) => {
        crate::globals::load_time_globals!($($name: u64 = 0;)*);
    };
}
pub(crate) use offsets;

offsets!(
    TASK_PID_OFFSET,
    TASK_CGROUPS_OFFSET,
    CSS_SET_DFL_CGRP_OFFSET,
    CGROUP_KN_OFFSET,
    KERNFS_NODE_ID_OFFSET,
    TASK_SE_CFS_RQ_OFFSET,
    CFS_RQ_RQ_OFFSET,
    RQ_CLOCK_OFFSET,
);

load_time_globals! {
    /// 1 when the three offsets above are set: read the run queue's clock.
    USE_RQ_CLOCK: u8 = 0;
}

/// An opaque kernel object reached through a BTF pointer.
pub type KernelPtr = *const u8;

/// Reads a `T` at byte `offset` inside the object at `base`.
#[inline(always)]
pub unsafe fn read_at<T: Copy>(base: KernelPtr, offset: u64) -> T {
    unsafe { core::ptr::read_volatile(base.add(offset as usize) as *const T) }
}

/// `task->pid`: the thread id (0 for the idle task).
#[inline(always)]
pub fn task_tid(task: KernelPtr) -> u32 {
    unsafe { read_at::<i32>(task, TASK_PID_OFFSET.load()) as u32 }
}

/// `task->cgroups->dfl_cgrp`: the task's cgroup v2 (an RCU-protected pointer
/// the verifier trusts, so helpers accept it). `None` if a pointer is null.
#[inline(always)]
pub fn task_cgroup(task: KernelPtr) -> Option<KernelPtr> {
    unsafe {
        let css_set: KernelPtr = read_at(task, TASK_CGROUPS_OFFSET.load());
        if css_set.is_null() {
            return None;
        }
        let cgroup: KernelPtr = read_at(css_set, CSS_SET_DFL_CGRP_OFFSET.load());
        (!cgroup.is_null()).then_some(cgroup)
    }
}

/// `cgroup->kn->id`: the cgroup id, which is the inode number of its directory.
#[inline(always)]
pub fn cgroup_id(cgroup: KernelPtr) -> Option<u64> {
    unsafe {
        let kn: KernelPtr = read_at(cgroup, CGROUP_KN_OFFSET.load());
        if kn.is_null() {
            return None;
        }
        Some(read_at(kn, KERNFS_NODE_ID_OFFSET.load()))
    }
}

/// The id of the task's cgroup v2.
#[inline(always)]
pub fn task_cgroup_id(task: KernelPtr) -> Option<u64> {
    cgroup_id(task_cgroup(task)?)
}

/// Now, in nanoseconds, on the clock of the run queue `task` is on: the
/// `rq->clock` the scheduler updated for this event and charges
/// `/proc/PID/schedstat` with. Reading it is three loads where
/// `bpf_ktime_get_ns()` is a helper call that reads the clock source (tens
/// of ns in a VM). Kernels whose BTF lacks the path get `bpf_ktime_get_ns()`
/// (the verifier drops the branch not taken). `None` if a pointer is null.
#[inline(always)]
pub fn sched_clock(task: KernelPtr) -> Option<u64> {
    if USE_RQ_CLOCK.load() == 0 {
        return Some(unsafe { bpf_ktime_get_ns() });
    }
    unsafe {
        let cfs_rq: KernelPtr = read_at(task, TASK_SE_CFS_RQ_OFFSET.load());
        if cfs_rq.is_null() {
            return None;
        }
        let rq: KernelPtr = read_at(cfs_rq, CFS_RQ_RQ_OFFSET.load());
        if rq.is_null() {
            return None;
        }
        Some(read_at(rq, RQ_CLOCK_OFFSET.load()))
    }
}
