//! Helpers for pressure-probe's integration tests: the agent as a process,
//! real cgroups that clean up after themselves, workloads, and a parser for
//! the Prometheus text format. Tests panic with context instead of returning
//! errors, so a failure says where and why.

pub mod agent;
pub mod autoscaling;
pub mod cgroup;
pub mod exposition;
pub mod http;
pub mod kernel_maps;
pub mod kubelet;
pub mod netns;
pub mod operator;
pub mod process;
pub mod prometheus;
pub mod services;
pub mod slowfs;
pub mod tls;
pub mod workload;

use std::process::Command;

/// Runs `command`; panics with its output unless it succeeds. Returns stdout.
pub fn run_ok(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| {
        panic!("cannot run {command:?} (installed by `cargo xtask test`): {e}")
    });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The median of `values` (the lower one of an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() - 1) / 2]
}
