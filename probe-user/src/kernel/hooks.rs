//! The kernel hooks of a signal, and whether this kernel has them; each
//! signal lists its own (`signals/<signal>/hooks.rs`).

use std::fmt;

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
pub const fn hook(
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
pub const fn iter(target: &'static str, program: &'static str) -> Hook {
    hook(HookKind::Iterator, target, 0, program, program)
}

/// A hook that fires rarely, off any hot path: no floor program of its own.
pub const fn rare(
    kind: HookKind,
    tracepoint: &'static str,
    min_args: usize,
    program: &'static str,
) -> Hook {
    hook(kind, tracepoint, min_args, program, program)
}

/// A need the signal cannot do without.
pub const fn required(hooks: &'static [Hook]) -> Need {
    Need {
        hooks,
        without: None,
    }
}

/// Whether `plans` would attach `program` (this kernel has its hook and the
/// operator did not disable it).
pub fn planned(plans: &[Planned], program: &str) -> bool {
    plans
        .iter()
        .any(|plan| plan.candidates.iter().any(|hook| hook.program == program))
}

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
