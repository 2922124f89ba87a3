//! What the probe's own programs cost the kernel: their run count and run
//! time, from the kernel's BPF statistics. The agent turns the statistics
//! on for as long as it runs (`BPF_ENABLE_STATS`, which the kernel turns
//! off again when the agent's descriptor closes: no sysctl is left set).
//! And the runs the kernel skipped, which it counts always.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use aya::{
    Ebpf,
    sys::{Stats, enable_stats},
};
use tracing::info;

use crate::kernel::signals::Signal;

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

/// Runs of each signal's programs the kernel skipped (its
/// `recursion_misses`): a program is not run on a CPU where a run of it is
/// under way (tracing programs can be preempted, and interrupted by a
/// softirq that fires their hook again), and its event is lost. Summed per
/// signal, by the signal's name; a program whose count cannot be read adds
/// nothing.
pub fn recursion_misses(ebpf: &Ebpf) -> Vec<(&'static str, u64)> {
    let mut misses: Vec<(&'static str, u64)> = Vec::new();
    for (name, program) in ebpf.programs() {
        let Some(signal) = Signal::of_program(name) else {
            continue;
        };
        let Some(count) = program
            .fd()
            .ok()
            .and_then(|fd| prog_misses(fd.as_fd().as_raw_fd()))
        else {
            continue;
        };
        match misses.iter_mut().find(|(s, _)| *s == signal.name()) {
            Some((_, sum)) => *sum += count,
            None => misses.push((signal.name(), count)),
        }
    }
    misses
}

/// The `recursion_misses` of the program `fd` (`BPF_OBJ_GET_INFO_BY_FD`;
/// aya 0.14 does not expose the field).
fn prog_misses(fd: i32) -> Option<u64> {
    use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_prog_info};
    // SAFETY: plain C types of integers, zero is a valid value of each.
    let (mut info, mut attr): (bpf_prog_info, bpf_attr) = unsafe { std::mem::zeroed() };
    attr.info.bpf_fd = fd as u32;
    attr.info.info_len = std::mem::size_of_val(&info) as u32;
    attr.info.info = (&raw mut info) as u64;
    // SAFETY: bpf(2) reads `attr` and writes at most `info_len` bytes to
    // `info`, both on this stack for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_OBJ_GET_INFO_BY_FD as libc::c_long,
            &raw mut attr,
            std::mem::size_of::<bpf_attr>(),
        )
    };
    (rc == 0).then_some(info.recursion_misses)
}
