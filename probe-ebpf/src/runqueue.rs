//! Run-queue latency per cgroup, and who made it wait.
//!
//! A thread starts waiting for a CPU when it is woken (`sched_wakeup`,
//! `sched_wakeup_new`) or switched out while still runnable (preempted or
//! yielding, `sched_switch`); the wait ends when it is switched in. The wait
//! is charged to the cgroup of the thread that waited, read from the thread
//! itself, never from whatever happens to be current.
//!
//! Each wait is split by what its CPU did meanwhile: ran threads of the
//! same cgroup, of other cgroups, or nothing (a thread throttled at its
//! cgroup's CPU quota waits for the quota, whatever runs). For that, every
//! switch charges the time the CPU ran its last thread to that thread's
//! cgroup (`CgroupRunqueue::ran_ns`, one slot per CPU, written only by its
//! CPU) or to the CPU's idle time (`RUNQ_CPUS`); a wait keeps both at its
//! start, and the differences at its end are the split.
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
        RUNQ_DELTA_NEGATIVE, RUNQ_PREEMPTION_MAP_FULL, RUNQ_STORAGE_UNAVAILABLE, RUNQ_WAIT_UNSPLIT,
        RUNQ_WAKEUP_SLOT_COLLISION,
    },
    histogram::MAX_NS,
    programs,
    runqueue::{
        CgroupRunqueue, CpuRun, MAX_PREEMPTION_PAIRS, NO_CPU, NOBODY, PreemptionKey, RUN_CPUS,
        WAKEUP_SLOTS, WakeupSlot, behind,
    },
};

use crate::{
    atomic::atomic_add,
    cgroup_state::{self, StateCounters},
    counters::bump,
    globals::load_time_globals,
    hash_entry::get_or_insert,
    kernel::{
        KernelPtr, sched_clock, task_cgroup, task_cgroup_id, task_rq_cpu, task_throttled, task_tid,
        this_cpu,
    },
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

#[map]
static RUNQ_CPUS: Array<CpuRun> = Array::with_max_entries(RUN_CPUS, 0);

named!(RUNQ_WAKEUPS, probe_common::runqueue::WAKEUPS_MAP);
named!(RUNQ_CPUS, probe_common::runqueue::CPUS_MAP);
named!(RUNQ_PREEMPTIONS, probe_common::runqueue::PREEMPTIONS_MAP);
named!(runq_sched_wakeup, programs::RUNQ_SCHED_WAKEUP);
named!(runq_sched_wakeup_new, programs::RUNQ_SCHED_WAKEUP_NEW);
named!(runq_sched_switch, programs::RUNQ_SCHED_SWITCH);
named!(runq_sched_migrate, programs::RUNQ_SCHED_MIGRATE);

#[btf_tracepoint(function = "sched_wakeup")]
pub fn runq_sched_wakeup(ctx: BtfTracePointContext) -> i32 {
    on_wakeup(&ctx, KernelPtr::tracepoint_arg(&ctx, 0));
    0
}

#[btf_tracepoint(function = "sched_wakeup_new")]
pub fn runq_sched_wakeup_new(ctx: BtfTracePointContext) -> i32 {
    on_wakeup(&ctx, KernelPtr::tracepoint_arg(&ctx, 0));
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
    let (prev_tid, next_tid) = (task_tid(prev), task_tid(next));
    // Both are on this CPU's run queue: one clock for the whole switch (the
    // idle thread's run queue pointers are not the scheduler's business).
    let Some(now) = sched_clock(if prev_tid != 0 { prev } else { next }) else {
        bump(RUNQ_CLOCK_UNREADABLE);
        return 0;
    };
    let cpu = this_cpu();
    let prev_cgroup = if prev_tid != 0 {
        task_cgroup(prev)
    } else {
        None
    };
    let next_cgroup = if next_tid != 0 {
        task_cgroup(next)
    } else {
        None
    };
    let mut prev_state = prev_cgroup.and_then(|c| cgroup_state::runq(&ctx, c, &STATE_COUNTERS));
    account_run(cpu, now, prev_tid, prev_state.as_deref_mut(), next_cgroup);
    if still_runnable && let (Some(cgroup), Some(state)) = (prev_cgroup, prev_state.as_deref_mut())
    {
        on_preempted(
            &ctx,
            prev,
            prev_tid,
            (cgroup, state),
            next,
            next_tid,
            now,
            cpu,
        );
    } else {
        on_blocked(prev_tid);
    }
    // Threads of one cgroup handing the CPU over: its state is at hand.
    let same = next_cgroup.is_some_and(|n| prev_cgroup.is_some_and(|p| p.as_ptr() == n.as_ptr()));
    on_switch_in(
        &ctx,
        next_tid,
        next_cgroup,
        prev_state.filter(|_| same),
        now,
    );
    0
}

#[inline(always)]
fn slot_of(tid: u32) -> Option<*mut WakeupSlot> {
    RUNQ_WAKEUPS.get_ptr_mut(tid & WAKEUP_SLOT_MASK.load())
}

#[inline(always)]
fn cpu_run(cpu: u32) -> Option<&'static mut CpuRun> {
    // SAFETY: a slot of the per-CPU array, live for this program's run.
    RUNQ_CPUS.get_ptr_mut(cpu).map(|p| unsafe { &mut *p })
}

/// `state.ran_ns` of `cpu` (already checked to be below `RUN_CPUS`).
#[inline(always)]
fn ran_ns(state: &mut CgroupRunqueue, cpu: u32) -> &mut u64 {
    // The compiler knows `cpu` is in bounds and would drop the mask; the
    // verifier of older kernels loses that bound when `cpu` is spilled to
    // the stack. A volatile read keeps the mask where the verifier sees it.
    // SAFETY: a read of a local.
    let cpu = unsafe { core::ptr::read_volatile(&cpu) };
    &mut state.ran_ns[(cpu & (RUN_CPUS - 1)) as usize]
}

/// Charges the time this CPU ran its last thread (since its last switch)
/// to that thread's cgroup, or to its idle time; notes who runs now.
#[inline(always)]
fn account_run(
    cpu: u32,
    now: u64,
    prev_tid: u32,
    prev_state: Option<&mut CgroupRunqueue>,
    next_cgroup: Option<KernelPtr>,
) {
    if cpu >= RUN_CPUS {
        return;
    }
    let Some(run) = cpu_run(cpu) else { return };
    let last = run.last_switch_ns;
    run.last_switch_ns = now;
    run.running = next_cgroup.map_or(0, |c| c.as_ptr() as u64);
    let ran = now.wrapping_sub(last);
    if last == 0 || (ran as i64) <= 0 {
        return;
    }
    if prev_tid == 0 {
        run.idle_ns += ran;
    } else if let Some(state) = prev_state {
        // Only this CPU writes its slot, with interrupts off.
        *ran_ns(state, cpu) += ran;
    }
}

/// Starts the wait of a thread of `cgroup` (with `state`) on `cpu` at
/// `now`.
#[inline(always)]
fn start_wait(
    slot: &mut WakeupSlot,
    own: (KernelPtr, &mut CgroupRunqueue),
    cpu: u32,
    now: u64,
    throttled: bool,
) {
    slot.since_ns = now;
    slot.throttled = u32::from(throttled);
    slot.own_before_ns = 0;
    slot.idle_before_ns = 0;
    slot.cpu = NO_CPU;
    if !throttled {
        wait_here(slot, own, cpu, now);
    }
}

/// What `cpu` ran so far for `cgroup` (with `state`) and idle, up to `now`
/// (the CPU's current run, not charged yet, included).
#[inline(always)]
fn ran_until(
    (cgroup, state): (KernelPtr, &mut CgroupRunqueue),
    run: &CpuRun,
    cpu: u32,
    now: u64,
) -> (u64, u64) {
    let (mut own, mut idle) = (*ran_ns(state, cpu), run.idle_ns);
    let running_for = now.saturating_sub(run.last_switch_ns);
    if run.last_switch_ns != 0 {
        if run.running == 0 {
            idle += running_for;
        } else if run.running == cgroup.as_ptr() as u64 {
            own += running_for;
        }
    }
    (own, idle)
}

/// The waiting thread of `slot` waits on `cpu` from `now`: notes what
/// that CPU has done so far.
#[inline(always)]
fn wait_here(slot: &mut WakeupSlot, own: (KernelPtr, &mut CgroupRunqueue), cpu: u32, now: u64) {
    slot.cpu = NO_CPU;
    if cpu >= RUN_CPUS {
        return;
    }
    let Some(run) = cpu_run(cpu) else { return };
    let (own, idle) = ran_until(own, run, cpu, now);
    slot.cpu = cpu;
    slot.own_ran_ns = own;
    slot.idle_ns = idle;
    slot.here_since_ns = now;
}

/// `sched_migrate_task(struct task_struct *p, int dest_cpu)`: a thread
/// moves to another CPU. If it is waiting, the part of its wait on the CPU
/// it leaves is split now, by what that CPU did, and the rest will be by
/// what its new CPU does (a thread woken on one CPU and run on another
/// waits behind whoever runs there).
#[btf_tracepoint(function = "sched_migrate_task")]
pub fn runq_sched_migrate(ctx: BtfTracePointContext) -> i32 {
    let task = KernelPtr::tracepoint_arg(&ctx, 0);
    let dest = ctx.arg::<u64>(1) as u32;
    let tid = task_tid(task);
    if tid == 0 {
        return 0;
    }
    let Some(slot) = slot_of(tid) else { return 0 };
    // SAFETY: a slot of the wakeup array, live for this program's run; the
    // thread waits, so no other CPU's program touches its slot now (the
    // scheduler holds its run queue's lock).
    let slot = unsafe { &mut *slot };
    if slot.tid != tid || slot.since_ns == 0 || slot.throttled != 0 || slot.cpu >= RUN_CPUS {
        return 0;
    }
    let Some(now) = sched_clock(task) else {
        return 0;
    };
    let Some(cgroup) = task_cgroup(task) else {
        return 0;
    };
    let Some(state) = cgroup_state::runq(&ctx, cgroup, &STATE_COUNTERS) else {
        return 0;
    };
    let Some(run) = cpu_run(slot.cpu) else {
        return 0;
    };
    let here = now.saturating_sub(slot.here_since_ns);
    let (own, idle) = ran_until((cgroup, state), run, slot.cpu, now);
    let own = own.saturating_sub(slot.own_ran_ns).min(here);
    let idle = idle.saturating_sub(slot.idle_ns).min(here - own);
    slot.own_before_ns += own;
    slot.idle_before_ns += idle;
    wait_here(slot, (cgroup, state), dest, now);
    0
}

/// Starts the wait of a woken thread, unless it is already waiting (a wakeup
/// of a thread already on the run queue does not restart its wait).
#[inline(always)]
fn on_wakeup(ctx: &BtfTracePointContext, task: KernelPtr) {
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
    let Some(cgroup) = task_cgroup(task) else {
        bump(RUNQ_CGROUP_UNREADABLE);
        return;
    };
    let Some(state) = cgroup_state::runq(ctx, cgroup, &STATE_COUNTERS) else {
        return;
    };
    slot.tid = tid;
    start_wait(
        slot,
        (cgroup, state),
        task_rq_cpu(task),
        now,
        task_throttled(task),
    );
}

/// A thread blocks: any wait recorded for it is stale.
#[inline(always)]
fn on_blocked(tid: u32) {
    if tid == 0 {
        return;
    }
    let Some(slot) = slot_of(tid) else { return };
    // SAFETY: a slot of the wakeup array, live for this program's run; only
    // this CPU's program touches it now (its thread is being scheduled here).
    let slot = unsafe { &mut *slot };
    if slot.tid == tid {
        slot.since_ns = 0;
    }
}

/// A thread leaves the CPU still runnable: its wait starts now and the
/// preemption is recorded.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn on_preempted(
    ctx: &BtfTracePointContext,
    prev: KernelPtr,
    tid: u32,
    own: (KernelPtr, &mut CgroupRunqueue),
    next: KernelPtr,
    next_tid: u32,
    now: u64,
    cpu: u32,
) {
    let Some(slot) = slot_of(tid) else { return };
    // SAFETY: a slot of the wakeup array, live for this program's run; only
    // this CPU's program touches it now (its thread is being scheduled here).
    let slot = unsafe { &mut *slot };
    if slot.since_ns != 0 && slot.tid != tid {
        bump(RUNQ_WAKEUP_SLOT_COLLISION);
    }
    // Throttled at its quota (or, where the kernel cannot say, switched to
    // an idle CPU while runnable): nobody preempted it.
    let by = (next_tid != 0 && !task_throttled(prev)).then_some(next);
    let throttled = record_preemption(ctx, prev, by);
    slot.tid = tid;
    start_wait(slot, own, cpu, now, throttled);
}

/// A thread gets the CPU: its wait, if one was recorded, ends now (`state`:
/// its cgroup's, when already looked up).
#[inline(always)]
fn on_switch_in(
    ctx: &BtfTracePointContext,
    tid: u32,
    cgroup: Option<KernelPtr>,
    state: Option<&mut CgroupRunqueue>,
    now: u64,
) {
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
    slot.since_ns = 0;
    let waited = now.wrapping_sub(since);
    if (waited as i64) < 0 {
        bump(RUNQ_DELTA_NEGATIVE);
        return;
    }
    if waited >= MAX_NS {
        bump(RUNQ_DELTA_ABSURD);
        return;
    }
    let Some(cgroup) = cgroup else {
        bump(RUNQ_CGROUP_UNREADABLE);
        return;
    };
    let Some(state) = state.or_else(|| cgroup_state::runq(ctx, cgroup, &STATE_COUNTERS)) else {
        return;
    };
    // SAFETY: the cgroup's state, live for this program's run.
    unsafe { observe(&raw mut state.latency, waited) };
    if slot.throttled != 0 {
        add_behind(state, behind::THROTTLED, waited);
        return;
    }
    let cpu = slot.cpu;
    let run = if cpu < RUN_CPUS { cpu_run(cpu) } else { None };
    let Some(run) = run else {
        bump(RUNQ_WAIT_UNSPLIT);
        return;
    };
    // What the CPUs it waited on did meanwhile: its cgroup's run there,
    // idle, and the rest (other cgroups); on this one since it waits here
    // (its current run is charged already: this is the switch).
    let here = now.saturating_sub(slot.here_since_ns);
    let own_here = ran_ns(state, cpu).saturating_sub(slot.own_ran_ns).min(here);
    let idle_here = run
        .idle_ns
        .saturating_sub(slot.idle_ns)
        .min(here - own_here);
    let own = (slot.own_before_ns + own_here).min(waited);
    let idle = (slot.idle_before_ns + idle_here).min(waited - own);
    add_behind(state, behind::SAME_CGROUP, own);
    add_behind(state, behind::IDLE, idle);
    add_behind(state, behind::OTHER, waited - own - idle);
}

#[inline(always)]
fn add_behind(state: &mut CgroupRunqueue, index: usize, ns: u64) {
    if ns != 0 && index < behind::COUNT {
        // SAFETY: the cgroup's state, live for this program's run; `index`
        // is within it.
        unsafe { atomic_add(state.waited_behind_ns.as_mut_ptr().add(index), ns) };
    }
}

const STATE_COUNTERS: StateCounters = StateCounters {
    unavailable: RUNQ_STORAGE_UNAVAILABLE,
    unreadable: RUNQ_CGROUP_UNREADABLE,
    set_full: RUNQ_CGROUP_SET_FULL,
};

/// Counts the preemption of `prev` by `next` (`None`: throttled, or the CPU
/// went idle); returns whether it was throttled.
#[inline(always)]
fn record_preemption(ctx: &BtfTracePointContext, prev: KernelPtr, next: Option<KernelPtr>) -> bool {
    let by = match next {
        Some(next) => task_cgroup_id(next),
        None => Some(NOBODY),
    };
    let (Some(victim), Some(by)) = (task_cgroup_id(prev), by) else {
        bump(RUNQ_CGROUP_UNREADABLE);
        return next.is_none();
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
    next.is_none()
}
