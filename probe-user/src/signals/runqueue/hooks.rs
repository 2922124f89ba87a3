//! The run queue's kernel hooks.

use probe_common::programs::{self, floor};

use crate::kernel::hooks::{HookKind::BtfTracepoint, Need, hook, required};

/// Hooks of the run-queue signal.
pub const NEEDS: &[Need] = &[
    required(&[hook(
        BtfTracepoint,
        "sched_wakeup",
        1,
        programs::RUNQ_SCHED_WAKEUP,
        floor::SCHED_WAKEUP,
    )]),
    required(&[hook(
        BtfTracepoint,
        "sched_wakeup_new",
        1,
        programs::RUNQ_SCHED_WAKEUP_NEW,
        floor::SCHED_WAKEUP_NEW,
    )]),
    required(&[hook(
        BtfTracepoint,
        "sched_switch",
        4,
        programs::RUNQ_SCHED_SWITCH,
        floor::SCHED_SWITCH,
    )]),
    Need {
        hooks: &[hook(
            BtfTracepoint,
            "sched_migrate_task",
            2,
            programs::RUNQ_SCHED_MIGRATE,
            floor::SCHED_MIGRATE_TASK,
        )],
        without: Some("a wait that moves to another CPU is split by what the CPU it began on did"),
    },
];
