//! Syscall latency per cgroup and class.
//!
//! `sys_enter` notes, per thread, the syscall's class and when it started;
//! `sys_exit` adds the duration to the histogram of that class in the
//! cgroup's local storage and counts an error return. Entries live in a
//! direct-mapped array indexed by thread id (an inlined lookup, no hashing).
//! A thread whose slot holds another thread's syscall keeps its entry in its
//! own storage instead (`TaskStorage`, a helper call, on that path only), so
//! no syscall evicts another however many threads share a slot: a long
//! futex or fsync is never lost to a busy neighbour. Nothing is left behind:
//! syscalls that never return (`exit`, `exit_group`) keep no entry, a thread that dies inside a syscall (killed,
//! or another thread exits the process) has its entry cleared on
//! `sched_process_exit`, and a thread that becomes the leader in `execve`
//! has its entry moved to its new id on `sched_process_exec`.

use aya_ebpf::{
    macros::{btf_map, btf_tracepoint, map, raw_tracepoint},
    maps::Array,
    programs::{BtfTracePointContext, RawTracePointContext},
};
use probe_common::{
    counters::{
        SYSCALL_CGROUP_SET_FULL, SYSCALL_CGROUP_UNREADABLE, SYSCALL_SLOT_UNAVAILABLE,
        SYSCALL_STORAGE_UNAVAILABLE, SYSCALL_TOO_LONG,
    },
    histogram::MAX_NS,
    programs,
    syscall::{
        BY_FD, CLASSES, NO_RETURN, SLOTS, SyscallClass, SyscallSlot, TABLE_SIZE, class_of_mode,
        not_an_error,
    },
};

use crate::{
    atomic::atomic_add,
    cgroup_state::{self, StateCounters},
    counters::bump,
    globals::load_time_globals,
    kernel::{KernelPtr, ktime_ns, offsets, probe_read, task_cgroup, task_tid},
    names::named,
    observe::observe,
    task_storage::TaskStorage,
};

/// Syscall number -> class (or `NO_RETURN`), for this machine's
/// architecture; set by the agent before load, read one entry at a time
/// (its own section: see `globals`).
#[unsafe(no_mangle)]
#[unsafe(link_section = ".rodata")]
static SYSCALL_CLASSES: [u8; TABLE_SIZE] = [SyscallClass::Other as u8; TABLE_SIZE];

/// Per class, the duration (ns) above which a call counts in `slow`
/// (`u64::MAX`: never); set by the agent before load.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".rodata")]
static SYSCALL_SLOW_NS: [u64; CLASSES] = [u64::MAX; CLASSES];

load_time_globals! {
    SYSCALL_SLOT_MASK: u32 = SLOTS - 1;
    /// Bits of the `u32` at `SYSCALL_COMPAT_OFFSET` of a task that say its
    /// syscall is a 32-bit compat one (0: none on this machine).
    SYSCALL_COMPAT_MASK: u32 = 0;
}

// The path from a syscall's registers and task to the mode of the inode
// its first argument, a file descriptor, refers to; and the task's compat
// flags.
offsets!(
    SYSCALL_ARG0_OFFSET,
    SYSCALL_COMPAT_OFFSET,
    TASK_FILES_OFFSET,
    FILES_FDT_OFFSET,
    FDTABLE_MAX_FDS_OFFSET,
    FDTABLE_FD_OFFSET,
    SYSCALL_FILE_INODE_OFFSET,
    INODE_MODE_OFFSET,
);

#[map]
static SYSCALL_SLOTS: Array<SyscallSlot> = Array::with_max_entries(SLOTS, 0);

/// The entry of a thread whose slot held another thread's syscall.
#[btf_map]
static SYSCALL_SPILL: TaskStorage<SyscallSlot> = TaskStorage::new();

named!(SYSCALL_CLASSES, probe_common::globals::SYSCALL_CLASSES);
named!(SYSCALL_SLOW_NS, probe_common::globals::SYSCALL_SLOW_NS);
named!(SYSCALL_SLOTS, probe_common::syscall::SLOTS_MAP);
named!(SYSCALL_SPILL, probe_common::syscall::SPILL_MAP);
named!(syscall_enter, programs::SYSCALL_ENTER);
named!(syscall_exit, programs::SYSCALL_EXIT);
named!(syscall_thread_exit, programs::SYSCALL_THREAD_EXIT);
named!(syscall_thread_exec, programs::SYSCALL_THREAD_EXEC);

/// `sys_enter(struct pt_regs *regs, long id)`
#[btf_tracepoint(function = "sys_enter")]
pub fn syscall_enter(ctx: BtfTracePointContext) -> i32 {
    on_enter(KernelPtr::tracepoint_arg(&ctx, 0), ctx.arg::<u64>(1));
    0
}

/// `sys_exit(struct pt_regs *regs, long ret)`
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn syscall_exit(ctx: RawTracePointContext) -> i32 {
    on_exit(&ctx, ctx.arg::<i64>(1));
    0
}

/// `sched_process_exit(struct task_struct *p, bool group_dead)`: the thread
/// is gone, whatever syscall it was in.
#[btf_tracepoint(function = "sched_process_exit")]
pub fn syscall_thread_exit(ctx: BtfTracePointContext) -> i32 {
    let tid = task_tid(KernelPtr::tracepoint_arg(&ctx, 0));
    if let Some(slot) = slot_of(tid) {
        // SAFETY: a slot of the entry array, live for this program's run.
        let slot = unsafe { &mut *slot };
        if slot.tid == tid {
            slot.entered_ns = 0;
        }
    }
    0
}

/// `sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)`:
/// a non-leader thread that execs takes the leader's id; its `execve` returns under it.
#[btf_tracepoint(function = "sched_process_exec")]
pub fn syscall_thread_exec(ctx: BtfTracePointContext) -> i32 {
    let new_tid = task_tid(KernelPtr::tracepoint_arg(&ctx, 0));
    let old_tid = ctx.arg::<u64>(1) as u32;
    if new_tid == old_tid {
        return 0;
    }
    // The two ids may share a slot: one reference at a time, never two.
    let Some(old) = slot_of(old_tid) else {
        return 0;
    };
    // SAFETY: a slot of the entry array, live for this program's run; the
    // copy ends the borrow before the new slot is touched.
    let entry = unsafe { *old };
    if entry.tid != old_tid || entry.entered_ns == 0 {
        return 0;
    }
    let mask = SYSCALL_SLOT_MASK.load();
    let same_slot = old_tid & mask == new_tid & mask;
    if !same_slot {
        // SAFETY: as above; no other reference to the slot is live.
        unsafe { (*old).entered_ns = 0 };
    }
    let Some(new) = slot_of(new_tid) else {
        return 0;
    };
    let moved = SyscallSlot {
        tid: new_tid,
        ..entry
    };
    // SAFETY: as above (if the slot is the old one, this overwrites it whole).
    let taken = unsafe { (*new).entered_ns != 0 && (*new).tid != new_tid };
    if same_slot || !taken {
        // SAFETY: as above.
        unsafe { *new = moved };
    } else if let Some(spill) = SYSCALL_SPILL.get_or_create(KernelPtr::current_task()) {
        // Another thread's syscall holds the new slot: the entry goes to
        // the thread's own storage (it is the task that execs).
        // SAFETY: the thread's own storage, live for this program's run.
        unsafe { *spill = moved };
    } else {
        bump(SYSCALL_SLOT_UNAVAILABLE);
    }
    0
}

const STATE_COUNTERS: StateCounters = StateCounters {
    unavailable: SYSCALL_STORAGE_UNAVAILABLE,
    unreadable: SYSCALL_CGROUP_UNREADABLE,
    set_full: SYSCALL_CGROUP_SET_FULL,
};

#[inline(always)]
fn slot_of(tid: u32) -> Option<*mut SyscallSlot> {
    SYSCALL_SLOTS.get_ptr_mut(tid & SYSCALL_SLOT_MASK.load())
}

/// The class (or `NO_RETURN`) of syscall `nr`.
#[inline(always)]
fn class_of(nr: u64) -> u8 {
    if nr >= TABLE_SIZE as u64 {
        return SyscallClass::Other as u8;
    }
    // SAFETY: nr is below the table's length; a read of the load-time global.
    unsafe { core::ptr::read_volatile(SYSCALL_CLASSES.as_ptr().add(nr as usize)) }
}

/// The class of a read or write on file descriptor `fd` of `task`: what
/// the descriptor's inode is (`other` if it cannot be read).
#[inline(always)]
fn class_of_fd(task: KernelPtr, fd: u64) -> u8 {
    let mode = (|| {
        let fdt = task
            .read_ptr(TASK_FILES_OFFSET.load())?
            .read_ptr(FILES_FDT_OFFSET.load())?;
        if fd >= u64::from(fdt.read::<u32>(FDTABLE_MAX_FDS_OFFSET.load())) {
            return None;
        }
        // `fdt->fd` is an array of pointers: its elements are read by address.
        let files = fdt.read::<u64>(FDTABLE_FD_OFFSET.load());
        let file = probe_read::<u64>(files.wrapping_add(fd * 8)).filter(|f| *f != 0)?;
        let inode = probe_read::<u64>(file.wrapping_add(SYSCALL_FILE_INODE_OFFSET.load()))
            .filter(|i| *i != 0)?;
        probe_read::<u16>(inode.wrapping_add(INODE_MODE_OFFSET.load()))
    })();
    mode.map_or(SyscallClass::Other, class_of_mode) as u8
}

#[inline(always)]
fn on_enter(regs: KernelPtr, nr: u64) {
    let task = KernelPtr::current_task();
    let tid = task_tid(task);
    let Some(slot) = slot_of(tid) else { return };
    // SAFETY: a slot of the entry array, live for this program's run.
    let slot = unsafe { &mut *slot };
    let compat = task.read::<u32>(SYSCALL_COMPAT_OFFSET.load()) & SYSCALL_COMPAT_MASK.load() != 0;
    let class = match class_of(nr) {
        // Numbered in the compat table, which this one is not.
        _ if compat => SyscallClass::Other as u8,
        BY_FD if regs.is_null() => SyscallClass::Other as u8,
        // The kernel takes a descriptor's low 32 bits (`unsigned int fd`).
        BY_FD => class_of_fd(
            task,
            u64::from(regs.read::<u64>(SYSCALL_ARG0_OFFSET.load()) as u32),
        ),
        class => class,
    };
    if class == NO_RETURN {
        if slot.tid == tid {
            slot.entered_ns = 0;
        }
        if let Some(spill) = SYSCALL_SPILL.get(task) {
            // SAFETY: the thread's own storage, live for this program's run
            // (only this thread's programs reach it, one at a time).
            unsafe { (*spill).entered_ns = 0 };
        }
        return;
    }
    let entry = if slot.entered_ns == 0 || slot.tid == tid {
        slot
    } else {
        // Another thread's syscall holds the slot: this one's entry goes
        // to the thread's own storage.
        let Some(spill) = SYSCALL_SPILL.get_or_create(task) else {
            bump(SYSCALL_SLOT_UNAVAILABLE);
            return;
        };
        // SAFETY: as above.
        unsafe { &mut *spill }
    };
    entry.tid = tid;
    entry.class = u32::from(class);
    entry.entered_ns = ktime_ns();
}

#[inline(always)]
fn on_exit(ctx: &RawTracePointContext, ret: i64) {
    let task = KernelPtr::current_task();
    let tid = task_tid(task);
    let Some(slot) = slot_of(tid) else { return };
    // SAFETY: a slot of the entry array, live for this program's run.
    let mut slot = unsafe { &mut *slot };
    if slot.tid != tid || slot.entered_ns == 0 {
        // Its entry, if any, is in the thread's own storage.
        let Some(spill) = SYSCALL_SPILL.get(task) else {
            return;
        };
        // SAFETY: the thread's own storage, live for this program's run.
        slot = unsafe { &mut *spill };
        if slot.entered_ns == 0 {
            return;
        }
    }
    let took = ktime_ns().wrapping_sub(slot.entered_ns);
    slot.entered_ns = 0;
    let class = slot.class as usize;
    if class >= CLASSES {
        return;
    }
    if took >= MAX_NS {
        bump(SYSCALL_TOO_LONG);
        return;
    }
    let Some(cgroup) = task_cgroup(task) else {
        bump(SYSCALL_CGROUP_UNREADABLE);
        return;
    };
    let Some(state) = cgroup_state::syscalls(ctx, cgroup, &STATE_COUNTERS) else {
        return;
    };
    // SAFETY: `class` is below CLASSES, and the cgroup's state is live for
    // this program's run.
    unsafe { observe(state.latency.as_mut_ptr().add(class), took) };
    // SAFETY: `class` is below CLASSES; a read of the load-time global.
    if took > unsafe { core::ptr::read_volatile(SYSCALL_SLOW_NS.as_ptr().add(class)) } {
        // SAFETY: as above.
        unsafe { atomic_add(state.slow.as_mut_ptr().add(class), 1) };
    }
    // Errors are -MAX_ERRNO..=-1; other negative values (mmap addresses
    // above the sign bit, lseek offsets) are not errors, nor is EAGAIN (a
    // nonblocking call with nothing to do: an event loop's normal case),
    // nor the kernel's restart codes (a call a signal interrupted, to be
    // restarted or to return EINTR).
    if (-4095..0).contains(&ret) && !not_an_error(ret) {
        // SAFETY: as above.
        unsafe { atomic_add(state.errors.as_mut_ptr().add(class), 1) };
    }
}
