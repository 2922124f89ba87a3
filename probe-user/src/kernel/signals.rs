//! The probe's signals: which hooks and maps each needs, and which ones run.

use std::fmt;

use anyhow::{Result, bail};
use probe_common::{dependency, memory, requests, runqueue, syscall, tcp};

use crate::kernel::{
    hooks::{self, HookSupport, Need, Planned},
    offsets::{DependencyOffsets, TcpOffsets},
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
    /// Response and connect times, failures, retransmits and connections
    /// of the remote endpoints each container connects to.
    Dependency,
    /// Memory reclaim stalls and OOM kills.
    Memory,
    /// The server side of inbound connections, per listening port:
    /// response and queue times, requests waiting, connections, errors.
    Requests,
    /// The kernel's pressure stall information of each cgroup (read from
    /// cgroupfs, no kernel program).
    Psi,
}

impl Signal {
    /// Every signal.
    pub const ALL: [Signal; 7] = [
        Signal::Runq,
        Signal::Syscall,
        Signal::Tcp,
        Signal::Dependency,
        Signal::Memory,
        Signal::Requests,
        Signal::Psi,
    ];

    /// Its name, as in `--signals` and the `signal` label.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Runq => "runq",
            Signal::Syscall => "syscall",
            Signal::Tcp => "tcp",
            Signal::Dependency => "dependency",
            Signal::Memory => "memory",
            Signal::Requests => "requests",
            Signal::Psi => "psi",
        }
    }

    /// The signal whose hooks run `program`, if any does.
    pub fn of_program(program: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|signal| {
            signal
                .needs()
                .iter()
                .flat_map(|need| need.hooks)
                .any(|hook| hook.program == program)
        })
    }

    /// What it needs from the kernel.
    pub fn needs(self) -> &'static [Need] {
        match self {
            Signal::Runq => crate::signals::runqueue::hooks::NEEDS,
            Signal::Syscall => crate::signals::syscall::hooks::NEEDS,
            Signal::Tcp => crate::signals::tcp::hooks::NEEDS,
            Signal::Dependency => crate::signals::dependency::hooks::NEEDS,
            Signal::Memory => crate::signals::memory::hooks::NEEDS,
            Signal::Requests => crate::signals::requests::hooks::NEEDS,
            Signal::Psi => &[],
        }
    }

    /// Its sized maps: shrunk to one entry when the signal is off, so that a
    /// disabled signal costs no memory either.
    pub fn sized_maps(self) -> &'static [&'static str] {
        match self {
            Signal::Runq => &[runqueue::WAKEUPS_MAP, runqueue::PREEMPTIONS_MAP],
            Signal::Syscall => &[syscall::SLOTS_MAP],
            Signal::Tcp => &[tcp::FILL_MAP, tcp::DROPS_MAP],
            Signal::Dependency => &[
                dependency::REMOTES_MAP,
                dependency::PENDING_MAP,
                dependency::PENDING_PER_CGROUP_MAP,
                dependency::PAIRS_MADE_MAP,
                dependency::PAIRS_DROPPED_MAP,
            ],
            Signal::Memory => &[memory::OOM_VICTIMS_MAP],
            Signal::Requests => &[requests::PORTS_MAP],
            Signal::Psi => &[],
        }
    }

    /// Whether it only adds to what the other signals track (PSI is read for
    /// the cgroups they found): it cannot run alone.
    pub fn companion(self) -> bool {
        self == Signal::Psi
    }

    /// Its plan on this kernel (see [`hooks::plan`]), or why it cannot run.
    pub fn plan(self, support: &HookSupport) -> Result<Vec<Planned>, String> {
        if self == Signal::Syscall && syscall::host_arch().is_none() {
            return Err("no syscall table for this architecture".into());
        }
        if matches!(self, Signal::Tcp | Signal::Dependency | Signal::Requests)
            && let Err(err) = TcpOffsets::resolve(support.btf)
        {
            return Err(format!("{err:#}"));
        }
        if self == Signal::Dependency
            && let Err(err) = DependencyOffsets::resolve(support.btf)
        {
            return Err(format!("{err:#}"));
        }
        if self == Signal::Psi {
            psi_available()?;
        }
        hooks::plan(self.needs(), support)
    }
}

/// Where the kernel publishes system-wide PSI.
const PROC_PRESSURE_CPU: &str = "/proc/pressure/cpu";

/// Whether this kernel keeps PSI; the error says why not.
pub fn psi_available() -> Result<(), String> {
    std::fs::read_to_string(PROC_PRESSURE_CPU)
        .map(drop)
        .map_err(|err| {
            format!(
                "{PROC_PRESSURE_CPU} cannot be read ({err}): this kernel was built without \
                 CONFIG_PSI or booted with psi=0"
            )
        })
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Decides which signals run: those asked for (each must be able to), or
/// by default every one that can (at least one); returns each with its plan.
pub fn choose(requested: &[Signal], support: &HookSupport) -> Result<Vec<(Signal, Vec<Planned>)>> {
    let mut chosen = Vec::new();
    if requested.is_empty() {
        let mut unavailable = Vec::new();
        for signal in Signal::ALL {
            match signal.plan(support) {
                Ok(plan) => chosen.push((signal, plan)),
                Err(reason) => unavailable.push(format!("{signal}: {reason}")),
            }
        }
        if chosen.iter().all(|(signal, _)| signal.companion()) {
            bail!(
                "no signal can run on this kernel ({}); run `pressure-probe check` for details",
                unavailable.join("; ")
            );
        }
        for reason in unavailable {
            tracing::warn!("signal unavailable, not attached: {reason}");
        }
    } else {
        for &signal in requested {
            let plan = signal.plan(support).map_err(|reason| {
                anyhow::anyhow!(
                    "signal {signal} cannot run on this kernel: {reason} \
                     (run `pressure-probe check` for details)"
                )
            })?;
            if !chosen.iter().any(|(s, _)| *s == signal) {
                chosen.push((signal, plan));
            }
        }
        if chosen.iter().all(|(signal, _)| signal.companion()) {
            bail!(
                "psi reads the pressure of the cgroups the other signals track: name one of \
                 them too, such as --signals runq,psi"
            );
        }
    }
    chosen.sort_by_key(|(signal, _)| *signal);
    for (signal, plan) in &chosen {
        for planned in plan {
            let Some(loss) = planned.need.without else {
                continue;
            };
            let preferred = &planned.need.hooks[0];
            match planned.candidates.first() {
                Some(first) if first.program == preferred.program => {}
                Some(first) => tracing::info!(
                    %signal,
                    "kernel hook {preferred} is {}: trying {first} instead",
                    support.status(preferred)
                ),
                None => tracing::warn!(%signal, "no usable kernel hook: {loss}"),
            }
        }
    }
    Ok(chosen)
}
