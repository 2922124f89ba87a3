//! The kernel hooks each signal attaches to, and whether this kernel has them.

use std::fmt;

use HookKind::{BtfTracepoint, Fentry, Fexit, RawTracepoint};

use probe_common::programs::{self, floor};

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
    /// Return of a kernel function (`fexit/<function>`), as `Fentry`.
    Fexit,
}

impl HookKind {
    /// Whether it goes through a BPF trampoline, which only a load tells
    /// whether the kernel allows.
    pub fn is_trampoline(self) -> bool {
        matches!(self, HookKind::Fentry | HookKind::Fexit)
    }
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
}

/// What a signal needs from the kernel: one hook, or the first of several
/// alternatives that this kernel allows.
#[derive(Debug, Clone, Copy)]
pub struct Need {
    /// The hooks that serve it, preferred first.
    pub hooks: &'static [Hook],
    /// For a need the signal can do without: what is lost without it.
    pub without: Option<&'static str>,
}

/// A hook of `kind` on `tracepoint` (or function), whose programs read
/// `min_args` arguments.
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
    }
}

/// An iterator over `target` (e.g. `task_file`). It runs at scrape time, not
/// on a hot path, so it has no floor program of its own.
const fn iter(target: &'static str, program: &'static str) -> Hook {
    hook(HookKind::Iterator, target, 0, program, program)
}

/// A hook that fires rarely, off any hot path: no floor program of its own.
const fn rare(
    kind: HookKind,
    tracepoint: &'static str,
    min_args: usize,
    program: &'static str,
) -> Hook {
    hook(kind, tracepoint, min_args, program, program)
}

/// A need the signal cannot do without.
const fn required(hooks: &'static [Hook]) -> Need {
    Need {
        hooks,
        without: None,
    }
}

/// Hooks of the run-queue signal.
pub const RUNQ_NEEDS: &[Need] = &[
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

/// Hooks of the syscall signal.
pub const SYSCALL_NEEDS: &[Need] = &[
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

/// Hooks of the TCP accept-queue signal: the listener iterator, and the
/// queue-fill histogram on `sock:sk_data_ready` (Linux 6.10 and later) or,
/// where that tracepoint is missing, `fentry/sock_def_readable` (the
/// function it sits in) where the kernel allows fentry.
pub const TCP_NEEDS: &[Need] = &[
    required(&[iter("task_file", programs::TCP_LISTENERS)]),
    Need {
        hooks: &[
            hook(
                BtfTracepoint,
                "sk_data_ready",
                1,
                programs::TCP_ACCEPT_QUEUED,
                floor::SK_DATA_READY,
            ),
            hook(
                Fentry,
                "sock_def_readable",
                1,
                programs::TCP_ACCEPT_QUEUED_FENTRY,
                floor::SOCK_DEF_READABLE,
            ),
        ],
        without: Some("no accept-queue fill histogram (depth, limit and overflows still work)"),
    },
    Need {
        hooks: &[rare(
            Fentry,
            "tcp_conn_request",
            3,
            programs::TCP_SYN_ARRIVES,
        )],
        without: Some(WITHOUT_LISTEN_DROPS),
    },
    Need {
        hooks: &[rare(
            Fexit,
            "tcp_conn_request",
            3,
            programs::TCP_SYN_HANDLED,
        )],
        without: Some(WITHOUT_LISTEN_DROPS),
    },
    Need {
        hooks: &[rare(
            Fentry,
            "tcp_syn_flood_action",
            1,
            programs::TCP_SYN_QUEUE_FULL,
        )],
        without: Some("no SYN-queue drops (a kernel that inlines tcp_syn_flood_action)"),
    },
    Need {
        hooks: &[rare(
            Fentry,
            "tcp_v4_syn_recv_sock",
            1,
            programs::TCP_V4_HANDSHAKE_DONE,
        )],
        without: Some(WITHOUT_LISTEN_DROPS),
    },
    Need {
        hooks: &[rare(
            Fentry,
            "tcp_v6_syn_recv_sock",
            1,
            programs::TCP_V6_HANDSHAKE_DONE,
        )],
        without: Some(WITHOUT_LISTEN_DROPS),
    },
];

/// What the TCP signal loses without one of the hooks that count overflows
/// at each listener (the agent uses them only when all are attached:
/// [`OVERFLOW_PROGRAMS`]).
const WITHOUT_LISTEN_DROPS: &str = "no SYN-queue drops, and a namespace's listen overflows are \
     split between its listeners in proportion to their drop counts";

/// The programs that count accept-queue overflows at each listener, at
/// the SYN and at the final ACK (`programs::TCP_SYN_QUEUE_FULL` counts
/// SYN-queue drops beside them).
pub const OVERFLOW_PROGRAMS: [&str; 4] = [
    programs::TCP_SYN_ARRIVES,
    programs::TCP_SYN_HANDLED,
    programs::TCP_V4_HANDSHAKE_DONE,
    programs::TCP_V6_HANDSHAKE_DONE,
];

/// Whether `plans` would attach `program` (this kernel has its hook and the
/// operator did not disable it).
pub fn planned(plans: &[Planned], program: &str) -> bool {
    plans
        .iter()
        .any(|plan| plan.candidates.iter().any(|hook| hook.program == program))
}

/// Hooks of the dependency signal: connection states (`sock:inet_sock_set_state`,
/// every kernel this probe runs on), sends and arrivals for response
/// times (tracepoints on Linux 6.9/6.10 and later, fentry before), and
/// retransmissions.
pub const DEPENDENCY_NEEDS: &[Need] = &[
    required(&[hook(
        BtfTracepoint,
        "inet_sock_set_state",
        3,
        programs::DEPENDENCY_STATE,
        floor::INET_SOCK_SET_STATE,
    )]),
    Need {
        hooks: &[
            hook(
                BtfTracepoint,
                "tcp_sendmsg_locked",
                1,
                programs::DEPENDENCY_SEND,
                floor::TCP_SENDMSG_LOCKED,
            ),
            hook(
                Fentry,
                "tcp_sendmsg_locked",
                1,
                programs::DEPENDENCY_SEND_FENTRY,
                floor::TCP_SENDMSG_LOCKED_FENTRY,
            ),
        ],
        without: Some(
            "no response times (connect times, failures, retransmits and connections still work)",
        ),
    },
    Need {
        hooks: &[
            hook(
                BtfTracepoint,
                "sk_data_ready",
                1,
                programs::DEPENDENCY_DATA_READY,
                floor::DEPENDENCY_SK_DATA_READY,
            ),
            hook(
                Fentry,
                "sock_def_readable",
                1,
                programs::DEPENDENCY_DATA_READY_FENTRY,
                floor::DEPENDENCY_SOCK_DEF_READABLE,
            ),
        ],
        without: Some(
            "no response times (connect times, failures, retransmits and connections still work)",
        ),
    },
    Need {
        hooks: &[iter("task_file", programs::DEPENDENCY_FOLLOW)],
        without: Some("connections established before the agent started are not followed"),
    },
    Need {
        hooks: &[hook(
            BtfTracepoint,
            "tcp_retransmit_skb",
            1,
            programs::DEPENDENCY_RETRANSMIT,
            floor::TCP_RETRANSMIT_SKB,
        )],
        without: Some("no retransmit counts"),
    },
];

/// Hooks of the memory signal: the four reclaim tracepoints (`tp_btf`, or
/// raw where that does not load), the ends first (the loader attaches in
/// this order: a reclaim that began once its begin hook was attached but
/// before its end hook was would leave its thread's slot open, and every
/// later reclaim of that thread would look nested in it), and the OOM
/// killer's choice, from `oom:mark_victim` where it passes the task (Linux
/// 6.8 and later; it passes only a pid before) or else
/// `fentry/mark_oom_victim`. They run rarely, off any hot path: no floor
/// programs of their own.
pub const MEMORY_NEEDS: &[Need] = &[
    required(&[
        rare(
            BtfTracepoint,
            "mm_vmscan_direct_reclaim_end",
            1,
            programs::MEMORY_DIRECT_RECLAIM_END,
        ),
        rare(
            RawTracepoint,
            "mm_vmscan_direct_reclaim_end",
            0,
            programs::MEMORY_DIRECT_RECLAIM_END_RAW,
        ),
    ]),
    required(&[
        rare(
            BtfTracepoint,
            "mm_vmscan_memcg_reclaim_end",
            1,
            programs::MEMORY_MEMCG_RECLAIM_END,
        ),
        rare(
            RawTracepoint,
            "mm_vmscan_memcg_reclaim_end",
            0,
            programs::MEMORY_MEMCG_RECLAIM_END_RAW,
        ),
    ]),
    required(&[
        rare(
            BtfTracepoint,
            "mm_vmscan_direct_reclaim_begin",
            1,
            programs::MEMORY_DIRECT_RECLAIM_BEGIN,
        ),
        rare(
            RawTracepoint,
            "mm_vmscan_direct_reclaim_begin",
            0,
            programs::MEMORY_DIRECT_RECLAIM_BEGIN_RAW,
        ),
    ]),
    required(&[
        rare(
            BtfTracepoint,
            "mm_vmscan_memcg_reclaim_begin",
            1,
            programs::MEMORY_MEMCG_RECLAIM_BEGIN,
        ),
        rare(
            RawTracepoint,
            "mm_vmscan_memcg_reclaim_begin",
            0,
            programs::MEMORY_MEMCG_RECLAIM_BEGIN_RAW,
        ),
    ]),
    Need {
        hooks: &[
            rare(BtfTracepoint, "mark_victim", 2, programs::MEMORY_OOM_VICTIM),
            rare(
                Fentry,
                "mark_oom_victim",
                1,
                programs::MEMORY_OOM_VICTIM_FENTRY,
            ),
        ],
        without: Some("no OOM-kill counts (reclaim stalls still work)"),
    },
];

/// One need, planned for this kernel: its hooks that this kernel has and
/// the operator did not disable, preferred first. The loader attaches the
/// first that loads; `check` reports them the same way.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The need.
    pub need: &'static Need,
    /// Its usable hooks, preferred first (empty: none is).
    pub candidates: Vec<&'static Hook>,
}

/// Plans `needs` on this kernel; the error says why a need the signal
/// cannot do without has no usable hook.
pub fn plan(needs: &'static [Need], support: &HookSupport) -> Result<Vec<Planned>, String> {
    needs
        .iter()
        .map(|need| {
            let candidates: Vec<&'static Hook> = need
                .hooks
                .iter()
                .filter(|hook| support.status(hook) == HookStatus::Available)
                .collect();
            if candidates.is_empty() && need.without.is_none() {
                let reasons: Vec<String> = need
                    .hooks
                    .iter()
                    .map(|hook| format!("kernel hook {hook} is {}", support.status(hook)))
                    .collect();
                return Err(reasons.join("; "));
            }
            Ok(Planned { need, candidates })
        })
        .collect()
}

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
            HookKind::Fentry | HookKind::Fexit => Some(self.btf.has_function(hook.tracepoint)),
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
            HookKind::Fexit => "fexit",
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The loader attaches needs in order: each reclaim end before its begin.
    #[test]
    fn reclaim_ends_attach_before_their_begins() {
        let position = |tracepoint: &str| {
            MEMORY_NEEDS
                .iter()
                .position(|need| need.hooks.iter().any(|h| h.tracepoint == tracepoint))
                .unwrap_or_else(|| panic!("no need of {tracepoint}"))
        };
        for reclaim in ["direct", "memcg"] {
            assert!(
                position(&format!("mm_vmscan_{reclaim}_reclaim_end"))
                    < position(&format!("mm_vmscan_{reclaim}_reclaim_begin")),
                "{reclaim} reclaim's begin attaches before its end"
            );
        }
    }
}
