//! `cargo xtask test`: unit tests, then the integration tests against the
//! real kernel, one at a time (they measure scheduling, so they must not
//! compete with each other for CPUs).

use std::process::Command;

use anyhow::{Result, bail};

use crate::{
    build::{self, agent_binary, host_cargo},
    cmd::{self, is_root},
    packages,
};

/// Builds everything and runs all tests.
pub fn test(extra: &[String]) -> Result<()> {
    if !is_root() {
        bail!(
            "the integration tests load eBPF programs and make cgroups, so they need root: \
             run `sudo -E cargo xtask test`"
        );
    }
    let python_tools = packages::ensure_python_tools(packages::TEST_PYTHON)?;
    build::build(false)?;
    let mut unit = host_cargo();
    unit.args([
        "test",
        "--workspace",
        "--exclude",
        "integration-tests",
        "--exclude",
        "probe-ebpf",
        "--",
    ])
    .args(extra);
    cmd::run(&mut unit)?;
    let mut integration: Command = host_cargo();
    integration
        .args([
            "test",
            "--package",
            "integration-tests",
            "--",
            "--test-threads=1",
        ])
        .args(extra)
        .env("PRESSURE_PROBE_BIN", agent_binary(false))
        .env("PATH", with_path_prefix(&python_tools)?);
    cmd::run(&mut integration)
}

/// `PATH` with `dir` in front.
fn with_path_prefix(dir: &std::path::Path) -> Result<std::ffi::OsString> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path));
    Ok(std::env::join_paths(dirs)?)
}
