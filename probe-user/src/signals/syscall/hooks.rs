//! The syscall signal's kernel hooks.

use probe_common::programs::{self, floor};

use crate::kernel::hooks::{
    HookKind::{BtfTracepoint, RawTracepoint},
    Need, hook, required,
};

/// Hooks of the syscall signal.
pub const NEEDS: &[Need] = &[
    required(&[hook(
        BtfTracepoint,
        "sys_enter",
        2,
        programs::SYSCALL_ENTER,
        floor::SYS_ENTER,
    )]),
    required(&[hook(
        RawTracepoint,
        "sys_exit",
        2,
        programs::SYSCALL_EXIT,
        floor::SYS_EXIT,
    )]),
    required(&[hook(
        BtfTracepoint,
        "sched_process_exit",
        1,
        programs::SYSCALL_THREAD_EXIT,
        floor::SCHED_PROCESS_EXIT,
    )]),
    required(&[hook(
        BtfTracepoint,
        "sched_process_exec",
        2,
        programs::SYSCALL_THREAD_EXEC,
        floor::SCHED_PROCESS_EXEC,
    )]),
];
