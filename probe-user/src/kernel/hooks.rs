//! The kernel hooks each signal attaches to, and whether this kernel has them.

use std::fmt;

use HookKind::{BtfTracepoint, Fentry, RawTracepoint};

use crate::kernel::btf::KernelBtf;

/// How a program attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// BTF-enabled tracepoint (`tp_btf`): typed arguments.
    BtfTracepoint,
    /// Raw tracepoint: untyped arguments.
    RawTracepoint,
    /// BPF iterator (`iter/<target>`): loaded, and run on demand by the agent.
    Iterator,
    /// Entry of a kernel function (`fentry/<function>`), through a BPF
    /// trampoline; some kernels refuse it (lockdown, no trampolines), which
    /// only a load tells.
    Fentry,
}

/// A tracepoint and the programs that attach to it.
#[derive(Debug, Clone, Copy)]
pub struct Hook {
    /// How the programs attach.
    pub kind: HookKind,
    /// Tracepoint name, e.g. `sched_switch`.
    pub tracepoint: &'static str,
    /// `TP_PROTO` arguments the program reads: the kernel must pass at least these.
    pub min_args: usize,
    /// The measuring program.
    pub program: &'static str,
    /// The empty program on the same hook (benchmark floor).
    pub floor_program: &'static str,
    /// For a hook the signal can do without: what is lost without it.
    pub optional: Option<&'static str>,
}

/// A required hook of `kind` on `tracepoint` (or function), whose programs
/// read `min_args` arguments.
const fn hook(
    kind: HookKind,
    tracepoint: &'static str,
    min_args: usize,
    program: &'static str,
    floor_program: &'static str,
) -> Hook {
    Hook {
        kind,
        tracepoint,
        min_args,
        program,
        floor_program,
        optional: None,
    }
}

/// An iterator over `target` (e.g. `task_file`). It runs at scrape time, not
/// on a hot path, so it has no floor program of its own.
const fn iter(target: &'static str, program: &'static str) -> Hook {
    hook(HookKind::Iterator, target, 0, program, program)
}

/// Marks a hook the signal can do without, saying what is lost without it.
const fn optional(hook: Hook, loss: &'static str) -> Hook {
    Hook {
        optional: Some(loss),
        ..hook
    }
}

/// Hooks of the run-queue signal.
pub const RUNQ_HOOKS: &[Hook] = &[
    hook(
        BtfTracepoint,
        "sched_wakeup",
        1,
        "runq_sched_wakeup",
        "floor_sched_wakeup",
    ),
    hook(
        BtfTracepoint,
        "sched_wakeup_new",
        1,
        "runq_sched_wakeup_new",
        "floor_sched_wakeup_new",
    ),
    hook(
        BtfTracepoint,
        "sched_switch",
        4,
        "runq_sched_switch",
        "floor_sched_switch",
    ),
];

/// Hooks of the syscall signal.
pub const SYSCALL_HOOKS: &[Hook] = &[
    hook(
        RawTracepoint,
        "sys_enter",
        2,
        "syscall_enter",
        "floor_sys_enter",
    ),
    hook(
        RawTracepoint,
        "sys_exit",
        2,
        "syscall_exit",
        "floor_sys_exit",
    ),
    hook(
        BtfTracepoint,
        "sched_process_exit",
        1,
        "syscall_thread_exit",
        "floor_sched_process_exit",
    ),
    hook(
        BtfTracepoint,
        "sched_process_exec",
        2,
        "syscall_thread_exec",
        "floor_sched_process_exec",
    ),
];

/// What the TCP signal loses without either queue-fill hook.
const NO_FILL: &str = "no accept-queue fill histogram (depth, limit and overflows still work)";

/// Hooks of the TCP accept-queue signal: the listener iterator, and the
/// queue-fill histogram on `sock:sk_data_ready` (Linux 6.10 and later) or,
/// where that tracepoint is missing, `fentry/sock_def_readable` (the
/// function it sits in) where the kernel allows fentry. Optional hooks with
/// the same loss are alternatives: the first that loads is used.
pub const TCP_HOOKS: &[Hook] = &[
    iter("task_file", "tcp_listeners"),
    optional(
        hook(
            BtfTracepoint,
            "sk_data_ready",
            1,
            "tcp_accept_queued",
            "floor_sk_data_ready",
        ),
        NO_FILL,
    ),
    optional(
        hook(
            Fentry,
            "sock_def_readable",
            1,
            "tcp_accept_queued_fentry",
            "floor_sock_def_readable",
        ),
        NO_FILL,
    ),
];

/// Whether a hook can be used on this kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookStatus {
    /// Present with the expected prototype.
    Available,
    /// Not present in the kernel's BTF.
    Missing,
    /// Present, with fewer arguments than the programs read.
    UnexpectedPrototype {
        /// Arguments this kernel passes.
        found: usize,
    },
    /// Turned off with `--disable-hook`.
    Disabled,
}

/// Decides which hooks this run may use: those the kernel's BTF has with the
/// expected prototype, less those the operator disabled (`--disable-hook`).
pub struct HookSupport<'a> {
    /// The running kernel's BTF.
    pub btf: &'a KernelBtf,
    /// Hooks not to use, as `kind/name` (e.g. `tp_btf/sk_data_ready`).
    pub disabled: &'a [String],
}

impl HookSupport<'_> {
    /// Whether `hook` can be used (every tracepoint, raw ones included, has a
    /// `btf_trace_<name>` prototype in the BTF).
    pub fn status(&self, hook: &Hook) -> HookStatus {
        if self.disabled.contains(&hook.to_string()) {
            return HookStatus::Disabled;
        }
        let present = match hook.kind {
            HookKind::Iterator => Some(
                self.btf
                    .has_struct(&format!("bpf_iter__{}", hook.tracepoint)),
            ),
            HookKind::Fentry => Some(self.btf.has_function(hook.tracepoint)),
            _ => None,
        };
        if let Some(present) = present {
            return if present {
                HookStatus::Available
            } else {
                HookStatus::Missing
            };
        }
        match self.btf.tracepoint_arity(hook.tracepoint) {
            None => HookStatus::Missing,
            Some(found) if found >= hook.min_args => HookStatus::Available,
            Some(found) => HookStatus::UnexpectedPrototype { found },
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.kind {
            HookKind::BtfTracepoint => "tp_btf",
            HookKind::RawTracepoint => "raw_tp",
            HookKind::Iterator => "iter",
            HookKind::Fentry => "fentry",
        };
        write!(f, "{prefix}/{}", self.tracepoint)
    }
}

impl fmt::Display for HookStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookStatus::Available => f.write_str("available"),
            HookStatus::Missing => f.write_str("missing: the kernel has no such hook"),
            HookStatus::UnexpectedPrototype { found } => {
                write!(f, "unsupported: this kernel passes {found} arguments")
            }
            HookStatus::Disabled => f.write_str("disabled by --disable-hook"),
        }
    }
}
