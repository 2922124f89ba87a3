//! What the probe's own programs cost the kernel: their run count and run
//! time, from the kernel's BPF statistics. The agent turns the statistics
//! on for as long as it runs (`BPF_ENABLE_STATS`, which the kernel turns
//! off again when the agent's descriptor closes: no sysctl is left set).

use std::os::fd::OwnedFd;

use aya::{
    Ebpf,
    sys::{Stats, enable_stats},
};
use tracing::info;

/// One program's cost so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramCost {
    /// The program's name in the object.
    pub program: String,
    /// Times it ran.
    pub runs: u64,
    /// Time it ran, in nanoseconds.
    pub run_ns: u64,
}

/// Keeps the kernel's BPF run statistics on while it lives.
pub struct ProgramStats {
    _enabled: OwnedFd,
}

impl ProgramStats {
    /// Turns the statistics on; `None` (said once in the log) where the
    /// kernel cannot (before Linux 5.8).
    pub fn enable() -> Option<ProgramStats> {
        match enable_stats(Stats::RunTime) {
            Ok(fd) => Some(ProgramStats { _enabled: fd }),
            Err(err) => {
                info!(%err, "the kernel keeps no BPF run statistics: the programs' own cost is not exported");
                None
            }
        }
    }

    /// The cost of every loaded program of `ebpf`, by name.
    pub fn read(&self, ebpf: &Ebpf) -> Vec<ProgramCost> {
        let mut costs: Vec<ProgramCost> = ebpf
            .programs()
            .filter_map(|(name, program)| {
                let info = program.info().ok()?;
                Some(ProgramCost {
                    program: name.to_string(),
                    runs: info.run_count(),
                    run_ns: info.run_time().as_nanos() as u64,
                })
            })
            .collect();
        costs.sort_by(|a, b| a.program.cmp(&b.program));
        costs
    }
}
