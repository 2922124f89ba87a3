//! Reads of kernel structures through BTF-typed pointers. Every offset is a
//! read-only global the agent resolves from the running kernel's BTF before
//! load; the verifier sees it as a constant and checks each access against
//! the kernel's own type information.
//!
//! This module holds the `unsafe` of reading kernel memory: the rest of the
//! programs read through [`KernelPtr`], which only the kernel's own pointers
//! become.

use aya_ebpf::{
    helpers::{bpf_get_current_task_btf, bpf_get_smp_processor_id, bpf_ktime_get_ns},
    programs::{BtfTracePointContext, FEntryContext},
};

use probe_common::runqueue::{NO_CPU, throttle_check};

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
    TASK_TGID_OFFSET,
    TASK_GROUP_LEADER_OFFSET,
    TASK_START_TIME_OFFSET,
    TASK_CGROUPS_OFFSET,
    CSS_SET_DFL_CGRP_OFFSET,
    CGROUP_KN_OFFSET,
    KERNFS_NODE_ID_OFFSET,
    TASK_SE_CFS_RQ_OFFSET,
    CFS_RQ_RQ_OFFSET,
    RQ_CLOCK_OFFSET,
    RQ_CPU_OFFSET,
    TASK_THROTTLED_OFFSET,
    CFS_RQ_THROTTLE_COUNT_OFFSET,
);

load_time_globals! {
    /// 1 when programs may call `bpf_probe_read_kernel` (not in
    /// `confidentiality` lockdown, where a program that calls it does not
    /// load): [`probe_read`] reads nothing otherwise, and the verifier
    /// drops its call.
    KERNEL_READS: u8 = 0;
    /// 1 when the four offsets above are set: read the run queue's clock.
    USE_RQ_CLOCK: u8 = 0;
    /// How a throttled task is told (`runqueue::throttle_check`).
    THROTTLE_CHECK: u8 = 0;
}

/// A pointer to a kernel object that the kernel handed over: a BTF-typed
/// tracepoint or fentry argument, a BTF-typed helper's result, an iterator
/// context's object, or a pointer field read through another `KernelPtr`.
/// The verifier tracks such pointers by their kernel type and checks every
/// load through them (a faulting load reads zero, it cannot crash), which
/// is what makes [`KernelPtr::read`] safe.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct KernelPtr(*const u8);

/// A plain value a kernel field can be read as.
pub trait Field: Copy {}
impl Field for u8 {}
impl Field for u16 {}
impl Field for u32 {}
impl Field for i32 {}
impl Field for u64 {}

impl KernelPtr {
    /// Wraps a pointer the kernel handed over.
    ///
    /// # Safety
    /// `ptr` must be one of the kernel's own, typed pointers listed on
    /// [`KernelPtr`] (or null).
    #[inline(always)]
    pub unsafe fn from_kernel(ptr: *const u8) -> KernelPtr {
        KernelPtr(ptr)
    }

    /// Argument `n` of a BTF-typed tracepoint that passes a kernel pointer there.
    #[inline(always)]
    pub fn tracepoint_arg(ctx: &BtfTracePointContext, n: usize) -> KernelPtr {
        // SAFETY: tp_btf arguments are typed by the kernel's BTF.
        unsafe { KernelPtr::from_kernel(ctx.arg(n)) }
    }

    /// Argument `n` of an fentry program that is a kernel pointer.
    #[inline(always)]
    pub fn fentry_arg(ctx: &FEntryContext, n: usize) -> KernelPtr {
        // SAFETY: fentry arguments are typed by the kernel's BTF.
        unsafe { KernelPtr::from_kernel(ctx.arg(n)) }
    }

    /// The task running this program.
    #[inline(always)]
    pub fn current_task() -> KernelPtr {
        // SAFETY: the helper returns a BTF-typed `task_struct`.
        unsafe { KernelPtr::from_kernel(bpf_get_current_task_btf() as *const u8) }
    }

    /// Whether it is null.
    #[inline(always)]
    pub fn is_null(self) -> bool {
        self.0.is_null()
    }

    /// The raw pointer, for a helper that takes it.
    #[inline(always)]
    pub fn as_ptr(self) -> *const u8 {
        self.0
    }

    /// The `T` at byte `offset` inside the object (an offset from the
    /// kernel's BTF).
    #[inline(always)]
    pub fn read<T: Field>(self, offset: u64) -> T {
        // SAFETY: a load through a kernel pointer, which the verifier checks
        // against the kernel's type at this offset (see `KernelPtr`).
        unsafe { core::ptr::read_volatile(self.0.add(offset as usize).cast::<T>()) }
    }

    /// The pointer field at byte `offset`; `None` if it is null.
    #[inline(always)]
    pub fn read_ptr(self, offset: u64) -> Option<KernelPtr> {
        // SAFETY: as `read`; the field holds a pointer of the kernel's type.
        let ptr =
            unsafe { core::ptr::read_volatile(self.0.add(offset as usize).cast::<*const u8>()) };
        (!ptr.is_null()).then_some(KernelPtr(ptr))
    }
}

/// The `T` at kernel address `addr`, read with `bpf_probe_read_kernel`
/// (for what no BTF-typed pointer reaches: an element of a pointer
/// array); `None` if the read faults, or programs may not read kernel
/// memory ([`KERNEL_READS`]).
#[inline(always)]
pub fn probe_read<T: Field>(addr: u64) -> Option<T> {
    if KERNEL_READS.load() == 0 {
        return None;
    }
    // SAFETY: the helper checks the address and fails rather than fault.
    unsafe { aya_ebpf::helpers::bpf_probe_read_kernel(addr as *const T) }.ok()
}

/// `task->pid`: the thread id (0 for the idle task).
#[inline(always)]
pub fn task_tid(task: KernelPtr) -> u32 {
    task.read::<i32>(TASK_PID_OFFSET.load()) as u32
}

/// `task->tgid`: the process id.
#[inline(always)]
pub fn task_tgid(task: KernelPtr) -> u32 {
    task.read::<i32>(TASK_TGID_OFFSET.load()) as u32
}

/// `task->group_leader->start_time`: when the task's process started (ns
/// of the monotonic clock); with its id, what tells it from a later
/// process given the same id. `None` if the leader cannot be read.
#[inline(always)]
pub fn task_process_start(task: KernelPtr) -> Option<u64> {
    task.read_ptr(TASK_GROUP_LEADER_OFFSET.load())
        .map(|leader| leader.read(TASK_START_TIME_OFFSET.load()))
}

/// `task->cgroups->dfl_cgrp`: the task's cgroup v2 (an RCU-protected pointer
/// the verifier trusts, so helpers accept it). `None` if a pointer is null.
#[inline(always)]
pub fn task_cgroup(task: KernelPtr) -> Option<KernelPtr> {
    task.read_ptr(TASK_CGROUPS_OFFSET.load())?
        .read_ptr(CSS_SET_DFL_CGRP_OFFSET.load())
}

/// `cgroup->kn->id`: the cgroup id, which is the inode number of its directory.
#[inline(always)]
pub fn cgroup_id(cgroup: KernelPtr) -> Option<u64> {
    Some(
        cgroup
            .read_ptr(CGROUP_KN_OFFSET.load())?
            .read(KERNFS_NODE_ID_OFFSET.load()),
    )
}

/// The id of the task's cgroup v2.
#[inline(always)]
pub fn task_cgroup_id(task: KernelPtr) -> Option<u64> {
    cgroup_id(task_cgroup(task)?)
}

/// Whether `task`, switched out while runnable, was throttled at its
/// cgroup's CPU quota, as far as this kernel's fields tell (`false` where
/// only an idle CPU can say so).
#[inline(always)]
pub fn task_throttled(task: KernelPtr) -> bool {
    match THROTTLE_CHECK.load() {
        throttle_check::TASK_FLAG => task.read::<u8>(TASK_THROTTLED_OFFSET.load()) != 0,
        throttle_check::CFS_RQ_COUNT => task
            .read_ptr(TASK_SE_CFS_RQ_OFFSET.load())
            .is_some_and(|cfs_rq| cfs_rq.read::<u32>(CFS_RQ_THROTTLE_COUNT_OFFSET.load()) != 0),
        _ => false,
    }
}

/// Now, in nanoseconds since boot (`bpf_ktime_get_ns()`).
#[inline(always)]
pub fn ktime_ns() -> u64 {
    // SAFETY: the helper takes no arguments and only reads the clock.
    unsafe { bpf_ktime_get_ns() }
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
        return Some(ktime_ns());
    }
    Some(
        task.read_ptr(TASK_SE_CFS_RQ_OFFSET.load())?
            .read_ptr(CFS_RQ_RQ_OFFSET.load())?
            .read(RQ_CLOCK_OFFSET.load()),
    )
}

/// The CPU of the run queue `task` is on (`task->se.cfs_rq->rq->cpu`), or
/// [`NO_CPU`] where BTF lacks the path.
#[inline(always)]
pub fn task_rq_cpu(task: KernelPtr) -> u32 {
    if USE_RQ_CLOCK.load() == 0 {
        return NO_CPU;
    }
    task.read_ptr(TASK_SE_CFS_RQ_OFFSET.load())
        .and_then(|cfs_rq| cfs_rq.read_ptr(CFS_RQ_RQ_OFFSET.load()))
        .map_or(NO_CPU, |rq| rq.read::<u32>(RQ_CPU_OFFSET.load()))
}

/// The CPU this program runs on.
#[inline(always)]
pub fn this_cpu() -> u32 {
    // SAFETY: the helper takes no arguments.
    unsafe { bpf_get_smp_processor_id() }
}
