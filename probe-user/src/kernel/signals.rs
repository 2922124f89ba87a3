//! The probe's signals: which hooks and maps each needs, and which ones run.

use std::fmt;

use anyhow::{Result, bail};
use probe_common::{runqueue, syscall, tcp};

use crate::kernel::{
    hooks::{Hook, HookStatus, HookSupport, RUNQ_HOOKS, SYSCALL_HOOKS, TCP_HOOKS},
    offsets::TcpOffsets,
};

/// A pressure signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Run-queue latency and preemptions.
    Runq,
    /// Syscall latency and errors by class.
    Syscall,
    /// TCP accept-queue depth, limit, fill and overflows.
    Tcp,
}

impl Signal {
    /// Every signal.
    pub const ALL: [Signal; 3] = [Signal::Runq, Signal::Syscall, Signal::Tcp];

    /// Its name, as in `--signals` and the `signal` label.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Runq => "runq",
            Signal::Syscall => "syscall",
            Signal::Tcp => "tcp",
        }
    }

    /// The hooks it attaches to.
    pub fn hooks(self) -> &'static [Hook] {
        match self {
            Signal::Runq => RUNQ_HOOKS,
            Signal::Syscall => SYSCALL_HOOKS,
            Signal::Tcp => TCP_HOOKS,
        }
    }

    /// Its sized maps: shrunk to one entry when the signal is off, so that a
    /// disabled signal costs no memory either.
    pub fn sized_maps(self) -> &'static [&'static str] {
        match self {
            Signal::Runq => &[runqueue::WAKEUPS_MAP, runqueue::PREEMPTIONS_MAP],
            Signal::Syscall => &[syscall::SLOTS_MAP],
            Signal::Tcp => &[tcp::FILL_MAP],
        }
    }

    /// Why it cannot run on this kernel, if it cannot.
    pub fn unavailable_because(self, support: &HookSupport) -> Option<String> {
        if self == Signal::Syscall && syscall::host_arch().is_none() {
            return Some("no syscall table for this architecture".into());
        }
        if self == Signal::Tcp
            && let Err(err) = TcpOffsets::resolve(support.btf)
        {
            return Some(format!("{err:#}"));
        }
        self.hooks()
            .iter()
            .filter(|hook| hook.optional.is_none())
            .find_map(|hook| match support.status(hook) {
                HookStatus::Available => None,
                status => Some(format!("kernel hook {hook} is {status}")),
            })
    }

    /// The hooks to try on this kernel: every required one, and the optional
    /// ones its BTF has and the operator did not disable, in order (the
    /// loader keeps the first of each group of alternatives that loads).
    pub fn usable_hooks<'a>(
        self,
        support: &'a HookSupport,
    ) -> impl Iterator<Item = &'static Hook> + 'a {
        self.hooks()
            .iter()
            .filter(|hook| hook.optional.is_none() || support.status(hook) == HookStatus::Available)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Decides which signals run: those asked for (each must be available), or
/// by default every available one (at least one).
pub fn choose(requested: &[Signal], support: &HookSupport) -> Result<Vec<Signal>> {
    let mut chosen = Vec::new();
    if requested.is_empty() {
        let mut unavailable = Vec::new();
        for signal in Signal::ALL {
            match signal.unavailable_because(support) {
                None => chosen.push(signal),
                Some(reason) => unavailable.push((signal, reason)),
            }
        }
        if chosen.is_empty() {
            let reasons: Vec<String> = unavailable
                .iter()
                .map(|(signal, reason)| format!("{signal}: {reason}"))
                .collect();
            bail!(
                "no signal can run on this kernel ({}); run `pressure-probe check` for details",
                reasons.join("; ")
            );
        }
        for (signal, reason) in unavailable {
            tracing::warn!(%signal, "signal unavailable, not attached: {reason}");
        }
    } else {
        for &signal in requested {
            if let Some(reason) = signal.unavailable_because(support) {
                bail!(
                    "signal {signal} cannot run on this kernel: {reason} \
                     (run `pressure-probe check` for details)"
                );
            }
            if !chosen.contains(&signal) {
                chosen.push(signal);
            }
        }
    }
    chosen.sort();
    for signal in &chosen {
        for hook in signal.hooks() {
            let status = support.status(hook);
            if let Some(loss) = hook.optional
                && status != HookStatus::Available
            {
                let alternative = signal.hooks().iter().find(|h| {
                    h.optional == Some(loss) && support.status(h) == HookStatus::Available
                });
                match alternative {
                    Some(alternative) => tracing::info!(
                        %signal,
                        "kernel hook {hook} is {status}: trying {alternative} instead"
                    ),
                    None => {
                        tracing::warn!(%signal, "optional kernel hook {hook} is {status}: {loss}")
                    }
                }
            }
        }
    }
    Ok(chosen)
}
