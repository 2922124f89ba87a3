//! Run-queue latency per cgroup.
//!
//! A thread starts waiting for a CPU when it is woken (`sched_wakeup`,
//! `sched_wakeup_new`) or switched out while still runnable (preempted or
//! yielding, `sched_switch`); the wait ends when it is switched in. The wait
//! is charged to the cgroup of the thread that waited, read from the thread
//! itself, never from whatever happens to be current.
//!
//! Times come from the clock of the run queue the thread is on (see
//! `kernel::sched_clock`), the clock `/proc/PID/schedstat` is kept with.
//!
//! Pending wakeups live in a direct-mapped array indexed by thread id: the
//! lookup is inlined by the verifier (no hash, no lock). Two pending threads
//! whose ids share a slot evict each other; that is counted.
//!
//! Each cgroup's histogram lives in its state (`cgroup_state`): in the
//! cgroup's local storage where the kernel has it, found from the cgroup
//! pointer without hashing (a hash-map lookup cost more than everything else
//! in this file together).

use aya_ebpf::{
    macros::{btf_tracepoint, map},
    maps::{Array, HashMap},
    programs::BtfTracePointContext,
};
use aya_log_ebpf::debug;
use probe_common::{
    counters::{
        RUNQ_CGROUP_SET_FULL, RUNQ_CGROUP_UNREADABLE, RUNQ_CLOCK_UNREADABLE, RUNQ_DELTA_ABSURD,
        RUNQ_DELTA_NEGATIVE, RUNQ_PREEMPTION_MAP_FULL, RUNQ_STORAGE_UNAVAILABLE,
        RUNQ_WAKEUP_SLOT_COLLISION,
    },
    histogram::MAX_NS,
    programs,
    runqueue::{MAX_PREEMPTION_PAIRS, NOBODY, PreemptionKey, WAKEUP_SLOTS, WakeupSlot, wait_cause},
};

use crate::{
    atomic::atomic_add,
    cgroup_state::{self, StateCounters},
    counters::bump,
    globals::load_time_globals,
    hash_entry::get_or_insert,
    kernel::{KernelPtr, sched_clock, task_cgroup, task_cgroup_id, task_throttled, task_tid},
    names::named,
    observe::observe,
};

load_time_globals! {
    WAKEUP_SLOT_MASK: u32 = WAKEUP_SLOTS - 1;
}

#[map]
static RUNQ_WAKEUPS: Array<WakeupSlot> = Array::with_max_entries(WAKEUP_SLOTS, 0);

#[map]
static RUNQ_PREEMPTIONS: HashMap<PreemptionKey, u64> =
    HashMap::with_max_entries(MAX_PREEMPTION_PAIRS, 0);

named!(RUNQ_WAKEUPS, probe_common::runqueue::WAKEUPS_MAP);
named!(RUNQ_PREEMPTIONS, probe_common::runqueue::PREEMPTIONS_MAP);
named!(runq_sched_wakeup, programs::RUNQ_SCHED_WAKEUP);
named!(runq_sched_wakeup_new, programs::RUNQ_SCHED_WAKEUP_NEW);
named!(runq_sched_switch, programs::RUNQ_SCHED_SWITCH);

#[btf_tracepoint(function = "sched_wakeup")]
pub fn runq_sched_wakeup(ctx: BtfTracePointContext) -> i32 {
    on_wakeup(KernelPtr::tracepoint_arg(&ctx, 0));
    0
}

#[btf_tracepoint(function = "sched_wakeup_new")]
pub fn runq_sched_wakeup_new(ctx: BtfTracePointContext) -> i32 {
    on_wakeup(KernelPtr::tracepoint_arg(&ctx, 0));
    0
}

/// `sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)`
#[btf_tracepoint(function = "sched_switch")]
pub fn runq_sched_switch(ctx: BtfTracePointContext) -> i32 {
    let preempt = ctx.arg::<u64>(0) & 0xff != 0;
    let prev = KernelPtr::tracepoint_arg(&ctx, 1);
    let next = KernelPtr::tracepoint_arg(&ctx, 2);
    let prev_state = ctx.arg::<u64>(3) as u32;
    // A preempted thread stays on the run queue whatever its state says.
    let still_runnable = preempt || prev_state == 0;
    let next_tid = task_tid(next);
    on_switch_out(&ctx, prev, still_runnable, next, next_tid);
    on_switch_in(&ctx, next, next_tid);
    0
}

#[inline(always)]
fn slot_of(tid: u32) -> Option<*mut WakeupSlot> {
    RUNQ_WAKEUPS.get_ptr_mut(tid & WAKEUP_SLOT_MASK.load())
}

/// Starts the wait of a woken thread, unless it is already waiting (a wakeup
/// of a thread already on the run queue does not restart its wait).
#[inline(always)]
fn on_wakeup(task: KernelPtr) {
    let tid = task_tid(task);
    if tid == 0 {
        return;
    }
    let Some(slot) = slot_of(tid) else { return };
    // SAFETY: a slot of the wakeup array, live for this program's run; only
    // this CPU's program touches it now (its thread is being scheduled here).
    let slot = unsafe { &mut *slot };
    if slot.since_ns != 0 {
        if slot.tid == tid {
            return;
        }
        bump(RUNQ_WAKEUP_SLOT_COLLISION);
    }
    let Some(now) = sched_clock(task) else {
        bump(RUNQ_CLOCK_UNREADABLE);
        return;
    };
    slot.tid = tid;
    slot.preempted_by = 0;
    slot.since_ns = now;
}

/// A thread leaves the CPU: if still runnable its wait starts now and the
/// preemption is recorded; if it blocks, any wait recorded for it is stale.
#[inline(always)]
fn on_switch_out(
    ctx: &BtfTracePointContext,
    prev: KernelPtr,
    still_runnable: bool,
    next: KernelPtr,
    next_tid: u32,
) {
    let tid = task_tid(prev);
    if tid == 0 {
        return;
    }
    let Some(slot) = slot_of(tid) else { return };
    // SAFETY: a slot of the wakeup array, live for this program's run; only
    // this CPU's program touches it now (its thread is being scheduled here).
    let slot = unsafe { &mut *slot };
    if !still_runnable {
        if slot.tid == tid {
            slot.since_ns = 0;
        }
        return;
    }
    if slot.since_ns != 0 && slot.tid != tid {
        bump(RUNQ_WAKEUP_SLOT_COLLISION);
    }
    let Some(now) = sched_clock(prev) else {
        bump(RUNQ_CLOCK_UNREADABLE);
        return;
    };
    slot.tid = tid;
    slot.since_ns = now;
    // Throttled at its quota (or, where the kernel cannot say, switched to
    // an idle CPU while runnable): nobody preempted it.
    let by = (next_tid != 0 && !task_throttled(prev)).then_some(next);
    slot.preempted_by = record_preemption(ctx, prev, by);
}

/// A thread gets the CPU: its wait, if one was recorded, ends now.
#[inline(always)]
fn on_switch_in(ctx: &BtfTracePointContext, next: KernelPtr, tid: u32) {
    if tid == 0 {
        return;
    }
    let Some(slot) = slot_of(tid) else { return };
    // SAFETY: a slot of the wakeup array, live for this program's run; only
    // this CPU's program touches it now (its thread is being scheduled here).
    let slot = unsafe { &mut *slot };
    if slot.tid != tid || slot.since_ns == 0 {
        return;
    }
    let since = slot.since_ns;
    let cause = slot.preempted_by;
    slot.since_ns = 0;
    let Some(now) = sched_clock(next) else {
        bump(RUNQ_CLOCK_UNREADABLE);
        return;
    };
    let waited = now.wrapping_sub(since);
    if (waited as i64) < 0 {
        bump(RUNQ_DELTA_NEGATIVE);
        return;
    }
    if waited >= MAX_NS {
        bump(RUNQ_DELTA_ABSURD);
        return;
    }
    let Some(cgroup) = task_cgroup(next) else {
        bump(RUNQ_CGROUP_UNREADABLE);
        return;
    };
    record_wait(ctx, cgroup, waited, cause);
}

const STATE_COUNTERS: StateCounters = StateCounters {
    unavailable: RUNQ_STORAGE_UNAVAILABLE,
    unreadable: RUNQ_CGROUP_UNREADABLE,
    set_full: RUNQ_CGROUP_SET_FULL,
};

/// Counts a wait of `waited` ns that `cause` began (a [`wait_cause`], or 0
/// for a wakeup).
#[inline(always)]
fn record_wait(ctx: &BtfTracePointContext, cgroup: KernelPtr, waited: u64, cause: u32) {
    if let Some(state) = cgroup_state::runq(ctx, cgroup, &STATE_COUNTERS) {
        // SAFETY: the cgroup's state, live for this program's run.
        unsafe { observe(&raw mut state.latency, waited) };
        let index = cause.wrapping_sub(1) as usize;
        if index < wait_cause::COUNT {
            // SAFETY: as above; `index` is within the causes.
            unsafe { atomic_add(state.preempted_wait_ns.as_mut_ptr().add(index), waited) };
        }
    }
}

/// Counts the preemption of `prev` by `next` (`None`: the CPU went idle);
/// returns its [`wait_cause`] (0 when the cgroups cannot be read).
#[inline(always)]
fn record_preemption(ctx: &BtfTracePointContext, prev: KernelPtr, next: Option<KernelPtr>) -> u32 {
    let by = match next {
        Some(next) => task_cgroup_id(next),
        None => Some(NOBODY),
    };
    let (Some(victim), Some(by)) = (task_cgroup_id(prev), by) else {
        bump(RUNQ_CGROUP_UNREADABLE);
        return 0;
    };
    let cause = if by == NOBODY {
        wait_cause::THROTTLED
    } else if by == victim {
        wait_cause::SAME_CGROUP
    } else {
        wait_cause::OTHER
    };
    let key = PreemptionKey { victim, by };
    match get_or_insert(&RUNQ_PREEMPTIONS, &key, &0) {
        // SAFETY: a value of the preemption map, live for this program's run.
        Some(count) => unsafe { atomic_add(count, 1) },
        None => {
            bump(RUNQ_PREEMPTION_MAP_FULL);
            debug!(ctx, "runq: preemption map full, {} by {} lost", victim, by);
        }
    }
    cause
}
