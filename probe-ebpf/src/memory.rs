//! Memory pressure per cgroup.
//!
//! - Reclaim stalls: the time a thread spends reclaiming memory itself
//!   before it can allocate, in direct reclaim (the whole machine is short)
//!   or memcg reclaim (its cgroup is at its limit), between the `vmscan`
//!   begin and end tracepoints, charged to the cgroup of the stalled thread
//!   (the current one: the tracepoints carry no cgroup). A reclaim that
//!   begins inside another (memcg reclaim in direct reclaim) is part of the
//!   outer one, counted once. A thread's reclaim in progress lives in its
//!   own storage (`TaskStorage`): no other thread's can evict it.
//! - OOM kills: each process the OOM killer chooses (`oom:mark_victim`,
//!   which passes the task on Linux 6.8 and later; `fentry/mark_oom_victim`
//!   before), charged to the victim's cgroup, which need not be the current
//!   task's. A process counts once, however many of its threads are marked
//!   (each thread of a dying process that allocates passes through the OOM
//!   path, and is marked in its turn), as the kernel's `oom_kill` counts.

use aya_ebpf::{
    EbpfContext,
    bindings::BPF_NOEXIST,
    macros::{btf_map, btf_tracepoint, fentry, map, raw_tracepoint},
    maps::LruHashMap,
    programs::{BtfTracePointContext, FEntryContext, RawTracePointContext},
};
use probe_common::{
    counters::{
        MEMORY_CGROUP_SET_FULL, MEMORY_CGROUP_UNREADABLE, MEMORY_SLOT_UNAVAILABLE,
        MEMORY_STORAGE_UNAVAILABLE, MEMORY_TOO_LONG,
    },
    histogram::MAX_NS,
    memory::{OOM_VICTIMS, ReclaimSlot},
    programs,
};

use crate::{
    atomic::atomic_add,
    cgroup_state::{self, StateCounters},
    counters::bump,
    kernel::{KernelPtr, ktime_ns, task_cgroup, task_process_start, task_tgid},
    names::named,
    observe::observe,
    task_storage::TaskStorage,
};

#[btf_map]
static MEMORY_SLOTS: TaskStorage<ReclaimSlot> = TaskStorage::new();

named!(MEMORY_SLOTS, probe_common::memory::SLOTS_MAP);

/// The processes counted as OOM kills: thread group id to its leader's
/// start time.
#[map]
static MEMORY_OOM_VICTIMS: LruHashMap<u32, u64> = LruHashMap::with_max_entries(OOM_VICTIMS, 0);

named!(MEMORY_OOM_VICTIMS, probe_common::memory::OOM_VICTIMS_MAP);
named!(
    memory_direct_reclaim_begin,
    programs::MEMORY_DIRECT_RECLAIM_BEGIN
);
named!(
    memory_direct_reclaim_end,
    programs::MEMORY_DIRECT_RECLAIM_END
);
named!(
    memory_memcg_reclaim_begin,
    programs::MEMORY_MEMCG_RECLAIM_BEGIN
);
named!(memory_memcg_reclaim_end, programs::MEMORY_MEMCG_RECLAIM_END);
named!(
    memory_direct_reclaim_begin_raw,
    programs::MEMORY_DIRECT_RECLAIM_BEGIN_RAW
);
named!(
    memory_direct_reclaim_end_raw,
    programs::MEMORY_DIRECT_RECLAIM_END_RAW
);
named!(
    memory_memcg_reclaim_begin_raw,
    programs::MEMORY_MEMCG_RECLAIM_BEGIN_RAW
);
named!(
    memory_memcg_reclaim_end_raw,
    programs::MEMORY_MEMCG_RECLAIM_END_RAW
);
named!(memory_oom_victim, programs::MEMORY_OOM_VICTIM);
named!(memory_oom_victim_fentry, programs::MEMORY_OOM_VICTIM_FENTRY);

const STATE_COUNTERS: StateCounters = StateCounters {
    unavailable: MEMORY_STORAGE_UNAVAILABLE,
    unreadable: MEMORY_CGROUP_UNREADABLE,
    set_full: MEMORY_CGROUP_SET_FULL,
};

#[btf_tracepoint(function = "mm_vmscan_direct_reclaim_begin")]
pub fn memory_direct_reclaim_begin(_ctx: BtfTracePointContext) -> i32 {
    reclaim_begins();
    0
}

#[btf_tracepoint(function = "mm_vmscan_direct_reclaim_end")]
pub fn memory_direct_reclaim_end(ctx: BtfTracePointContext) -> i32 {
    reclaim_ends(&ctx);
    0
}

#[btf_tracepoint(function = "mm_vmscan_memcg_reclaim_begin")]
pub fn memory_memcg_reclaim_begin(_ctx: BtfTracePointContext) -> i32 {
    reclaim_begins();
    0
}

#[btf_tracepoint(function = "mm_vmscan_memcg_reclaim_end")]
pub fn memory_memcg_reclaim_end(ctx: BtfTracePointContext) -> i32 {
    reclaim_ends(&ctx);
    0
}

// The same on raw tracepoints, where `tp_btf` does not load: none of them
// reads the tracepoint's arguments.

#[raw_tracepoint(tracepoint = "mm_vmscan_direct_reclaim_begin")]
pub fn memory_direct_reclaim_begin_raw(_ctx: RawTracePointContext) -> i32 {
    reclaim_begins();
    0
}

#[raw_tracepoint(tracepoint = "mm_vmscan_direct_reclaim_end")]
pub fn memory_direct_reclaim_end_raw(ctx: RawTracePointContext) -> i32 {
    reclaim_ends(&ctx);
    0
}

#[raw_tracepoint(tracepoint = "mm_vmscan_memcg_reclaim_begin")]
pub fn memory_memcg_reclaim_begin_raw(_ctx: RawTracePointContext) -> i32 {
    reclaim_begins();
    0
}

#[raw_tracepoint(tracepoint = "mm_vmscan_memcg_reclaim_end")]
pub fn memory_memcg_reclaim_end_raw(ctx: RawTracePointContext) -> i32 {
    reclaim_ends(&ctx);
    0
}

/// `mark_victim(struct task_struct *task, uid_t uid)` (Linux 6.8+).
#[btf_tracepoint(function = "mark_victim")]
pub fn memory_oom_victim(ctx: BtfTracePointContext) -> i32 {
    oom_kill(&ctx, KernelPtr::tracepoint_arg(&ctx, 0));
    0
}

/// `mark_oom_victim(struct task_struct *tsk)`, where the tracepoint passes
/// only a pid.
#[fentry(function = "mark_oom_victim")]
pub fn memory_oom_victim_fentry(ctx: FEntryContext) -> i32 {
    oom_kill(&ctx, KernelPtr::fentry_arg(&ctx, 0));
    0
}

/// The current thread starts reclaiming.
#[inline(always)]
fn reclaim_begins() {
    let Some(slot) = MEMORY_SLOTS.get_or_create(KernelPtr::current_task()) else {
        bump(MEMORY_SLOT_UNAVAILABLE);
        return;
    };
    // SAFETY: the thread's own storage, live for this program's run (only
    // this thread's programs reach it, one at a time).
    let slot = unsafe { &mut *slot };
    if slot.since_ns != 0 {
        slot.depth += 1;
        return;
    }
    slot.depth = 0;
    slot.since_ns = ktime_ns();
}

/// The current thread is done reclaiming: the stall goes to its cgroup.
#[inline(always)]
fn reclaim_ends<C: EbpfContext>(ctx: &C) {
    let task = KernelPtr::current_task();
    let Some(slot) = MEMORY_SLOTS.get(task) else {
        return;
    };
    // SAFETY: the thread's own storage, live for this program's run.
    let slot = unsafe { &mut *slot };
    if slot.since_ns == 0 {
        return;
    }
    if slot.depth > 0 {
        slot.depth -= 1;
        return;
    }
    let took = ktime_ns().wrapping_sub(slot.since_ns);
    slot.since_ns = 0;
    if took >= MAX_NS {
        bump(MEMORY_TOO_LONG);
        return;
    }
    let Some(cgroup) = task_cgroup(task) else {
        bump(MEMORY_CGROUP_UNREADABLE);
        return;
    };
    if let Some(state) = cgroup_state::memory(ctx, cgroup, &STATE_COUNTERS) {
        // SAFETY: the cgroup's state, live for this program's run.
        unsafe { observe(&raw mut state.reclaim, took) };
    }
}

/// Whether `victim` is the first thread of its process marked: the one
/// insert of its (id, start time) that finds no entry (two threads marked
/// at once on two CPUs race for it; one wins). An entry of an earlier
/// process with the same id is replaced.
#[inline(always)]
fn first_mark_of_process(victim: KernelPtr) -> bool {
    let tgid = task_tgid(victim);
    let started = task_process_start(victim).unwrap_or(0);
    if MEMORY_OOM_VICTIMS
        .insert(tgid, started, u64::from(BPF_NOEXIST))
        .is_ok()
    {
        return true;
    }
    // SAFETY: a plain value read; the entry may change under us, compared once.
    let counted = unsafe { MEMORY_OOM_VICTIMS.get(tgid) }.copied();
    if counted == Some(started) {
        return false;
    }
    MEMORY_OOM_VICTIMS.insert(tgid, started, 0).is_ok()
}

/// The OOM killer chose `victim`: one more kill for its cgroup, unless
/// its process was counted already.
#[inline(always)]
fn oom_kill<C: EbpfContext>(ctx: &C, victim: KernelPtr) {
    if victim.is_null() || !first_mark_of_process(victim) {
        return;
    }
    let Some(cgroup) = task_cgroup(victim) else {
        bump(MEMORY_CGROUP_UNREADABLE);
        return;
    };
    if let Some(state) = cgroup_state::memory(ctx, cgroup, &STATE_COUNTERS) {
        // SAFETY: the cgroup's state, live for this program's run.
        unsafe { atomic_add(&raw mut state.oom_kills, 1) };
    }
}
