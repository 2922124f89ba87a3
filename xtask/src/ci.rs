//! `cargo xtask ci`: the landing check, what `.ci/run` runs; and
//! `cargo xtask ci --full`, everything there is to run.

use anyhow::{Result, bail};

use crate::{build, cross, loadtest, steps::timed, test, vm};

/// The arm64 agent `--full` cross-builds and runs under QEMU user mode.
pub const ARM64: &str = "aarch64-unknown-linux-gnu";

/// Lint, every unit and integration test on this kernel, and the guest
/// smoke on each kernel of the matrix; with `full`, also the arm64 agent,
/// the load-test baselines and the whole kernel-facing suite in every
/// guest in place of the smoke. Every part runs even if an earlier one
/// failed, so that one run names every failure.
pub fn ci(full: bool) -> Result<()> {
    let mut failed = Vec::new();
    let mut part = |name: &str, run: &dyn Fn() -> Result<()>| {
        if let Err(err) = timed(name, run) {
            eprintln!("xtask: ci: {name} failed: {err:#}");
            failed.push(name.to_string());
        }
    };
    part("lint", &build::lint);
    if full {
        part("arm64 agent", &|| cross::build(ARM64, true).map(drop));
    }
    part("test", &|| test::test(&[]));
    if full {
        part("loadtest --quick", &|| loadtest::loadtest(&[], true));
        part("vm-test", &|| vm::vm_test(&[], &[], 2));
    } else {
        part("guest smoke", &|| vm::smoke(&[]));
    }
    if !failed.is_empty() {
        bail!("ci failed: {}", failed.join(", "));
    }
    Ok(())
}
