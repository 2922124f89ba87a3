//! The kernel hooks each signal attaches to, and whether this kernel has them.

use std::fmt;

use crate::kernel_btf::KernelBtf;

/// A BTF-enabled tracepoint and the programs that attach to it.
#[derive(Debug, Clone, Copy)]
pub struct Hook {
    /// Tracepoint name, e.g. `sched_switch`.
    pub tracepoint: &'static str,
    /// Number of `TP_PROTO` arguments the program reads.
    pub arity: usize,
    /// The measuring program.
    pub program: &'static str,
    /// The empty program on the same hook (benchmark floor).
    pub floor_program: &'static str,
}

/// Hooks of the run-queue signal.
pub const RUNQ_HOOKS: [Hook; 3] = [
    Hook {
        tracepoint: "sched_wakeup",
        arity: 1,
        program: "runq_sched_wakeup",
        floor_program: "floor_sched_wakeup",
    },
    Hook {
        tracepoint: "sched_wakeup_new",
        arity: 1,
        program: "runq_sched_wakeup_new",
        floor_program: "floor_sched_wakeup_new",
    },
    Hook {
        tracepoint: "sched_switch",
        arity: 4,
        program: "runq_sched_switch",
        floor_program: "floor_sched_switch",
    },
];

/// Whether a hook can be used on this kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookStatus {
    /// Present with the expected prototype.
    Available,
    /// Not present in the kernel's BTF.
    Missing,
    /// Present, with a prototype the programs do not understand.
    UnexpectedPrototype {
        /// Arguments this kernel passes.
        found: usize,
    },
}

impl Hook {
    /// Checks the hook against the kernel's BTF.
    pub fn status(&self, btf: &KernelBtf) -> HookStatus {
        match btf.tracepoint_arity(self.tracepoint) {
            None => HookStatus::Missing,
            Some(found) if found == self.arity => HookStatus::Available,
            Some(found) => HookStatus::UnexpectedPrototype { found },
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tp_btf/{}", self.tracepoint)
    }
}

impl fmt::Display for HookStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookStatus::Available => f.write_str("available"),
            HookStatus::Missing => f.write_str("missing: the kernel has no such BTF tracepoint"),
            HookStatus::UnexpectedPrototype { found } => {
                write!(f, "unsupported: this kernel passes {found} arguments")
            }
        }
    }
}
