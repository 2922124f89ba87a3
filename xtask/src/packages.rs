//! Debian packages that tests and benchmarks need, installed through apt-get
//! when running as root on a Debian-like host.

use std::process::Command;

use anyhow::{Result, bail};

use crate::cmd::{self, is_root, on_path};

/// A command and the Debian package that provides it.
pub type Requirement = (&'static str, &'static str);

/// Commands the integration tests run.
pub const TEST_COMMANDS: &[Requirement] = &[("setpriv", "util-linux")];

/// Commands the benchmark runs.
pub const BENCH_COMMANDS: &[Requirement] = &[("perf", "linux-perf"), ("taskset", "util-linux")];

/// Installs the packages of any missing command, or explains what to install.
pub fn ensure(requirements: &[Requirement]) -> Result<()> {
    let mut missing: Vec<&str> = requirements
        .iter()
        .filter(|(command, _)| !on_path(command))
        .map(|(_, package)| *package)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() || !on_path("apt-get") {
        bail!(
            "missing packages: {}; install them (e.g. `sudo apt-get install {}`) and retry",
            missing.join(", "),
            missing.join(" ")
        );
    }
    eprintln!("xtask: installing Debian packages: {}", missing.join(" "));
    cmd::run(Command::new("apt-get").args(["update", "-q"]))?;
    cmd::run(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}
