//! `cargo xtask test`: every unit and integration test, the integration
//! tests against the real kernel one at a time (they measure scheduling, so
//! they must not compete with each other for CPUs).
//!
//! Every test binary is built by one cargo invocation, with the agent and
//! the workload, and then run by this program, each as a timed step; a
//! failing binary does not stop the others, so one run names every failure.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::{
    build::{self, agent_binary, host_cargo},
    cmd::{self, is_root},
    packages, setup,
    steps::timed,
};

/// The package of the integration tests (run one test at a time).
const INTEGRATION: &str = "integration-tests";

/// A test binary cargo built.
#[derive(Debug, Clone)]
pub struct TestBinary {
    /// Its package.
    pub package: String,
    /// Its target's name (`faults`, `probe_user`, ...).
    pub name: String,
    /// Its target's kind (`lib`, `bin`, `test`).
    pub kind: String,
    /// The executable.
    pub executable: PathBuf,
    /// Its package's folder: `cargo test` runs a test binary there.
    pub dir: PathBuf,
}

impl TestBinary {
    /// Whether it is one of the integration tests against the kernel.
    pub fn is_integration(&self) -> bool {
        self.package == INTEGRATION && self.kind == "test"
    }

    /// Its step's name.
    fn step(&self) -> String {
        if self.is_integration() {
            format!("test {}", self.name)
        } else {
            format!("unit {} {} {}", self.package, self.kind, self.name)
        }
    }
}

/// Builds everything and runs all tests; `extra` goes to every test binary
/// (a test name filter, ...).
pub fn test(extra: &[String]) -> Result<()> {
    if !is_root() {
        bail!(
            "the integration tests load eBPF programs and make cgroups, so they need root: \
             run `sudo -E cargo xtask test`"
        );
    }
    let python_tools = timed("python tools", || {
        packages::ensure_python_tools(packages::TEST_PYTHON)
    })?;
    let binaries = build_all()?;
    run_all(&binaries, extra, &python_tools)
}

/// Sets up the toolchain, builds the kernel objects, then in one cargo
/// invocation the agent, the workload and every test binary of the
/// workspace; returns the test binaries, in cargo's order.
pub fn build_all() -> Result<Vec<TestBinary>> {
    timed("toolchain", setup::setup)?;
    timed("kernel objects", build::build_ebpf)?;
    timed("agent, workload and test binaries", || {
        let json = cmd::run_for_output(host_cargo().args([
            "build",
            "--workspace",
            "--exclude",
            "probe-ebpf",
            "--bin",
            "pressure-probe",
            "--bin",
            "pp-workload",
            "--tests",
            "--message-format=json-render-diagnostics",
        ]))?;
        test_binaries(&json)
    })
}

/// The test binaries among cargo's JSON messages.
fn test_binaries(json: &str) -> Result<Vec<TestBinary>> {
    let mut found = Vec::new();
    for line in json.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(executable), true) = (
            message["executable"].as_str(),
            message["profile"]["test"] == true,
        ) else {
            continue;
        };
        let manifest = message["manifest_path"]
            .as_str()
            .context("cargo named an artifact without its manifest")?;
        let name = message["target"]["name"].as_str().unwrap_or_default();
        found.push(TestBinary {
            package: package_name(message["package_id"].as_str().unwrap_or_default(), name),
            name: name.to_string(),
            kind: message["target"]["kind"][0]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            executable: PathBuf::from(executable),
            dir: Path::new(manifest)
                .parent()
                .context("a manifest has no folder")?
                .to_path_buf(),
        });
    }
    if !found.iter().any(TestBinary::is_integration) {
        bail!("cargo built no integration test binary");
    }
    Ok(found)
}

/// A package's name from its cargo package id: `path+file:///…/tests#integration-tests@0.1.0`
/// (or, for a package whose folder has its name, `…/xtask#0.1.0`).
fn package_name(id: &str, fallback: &str) -> String {
    let (path, rest) = id.rsplit_once('#').unwrap_or((id, ""));
    match rest.split_once('@') {
        Some((name, _)) => name.to_string(),
        None => path
            .rsplit('/')
            .next()
            .filter(|name| !name.is_empty())
            .unwrap_or(fallback)
            .to_string(),
    }
}

/// Runs the unit test binaries, then the integration test binaries, each a
/// step, in the order of their names; fails naming every binary that
/// failed.
fn run_all(binaries: &[TestBinary], extra: &[String], python_tools: &Path) -> Result<()> {
    let path = with_path_prefix(python_tools)?;
    let mut binaries: Vec<&TestBinary> = binaries.iter().collect();
    binaries.sort_by_key(|binary| (binary.is_integration(), binary.step()));
    let (integration, unit): (Vec<_>, Vec<_>) = binaries
        .into_iter()
        .partition(|binary| binary.is_integration());
    let mut failed = Vec::new();
    for binary in unit.into_iter().chain(integration) {
        let mut command = Command::new(&binary.executable);
        command
            .current_dir(&binary.dir)
            .env("PRESSURE_PROBE_BIN", agent_binary(false))
            .env("PATH", &path);
        if binary.package == INTEGRATION {
            command.arg("--test-threads=1");
        }
        if timed(binary.step(), || cmd::run(command.args(extra))).is_err() {
            failed.push(binary.step());
        }
    }
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}

/// `PATH` with `dir` in front.
fn with_path_prefix(dir: &Path) -> Result<std::ffi::OsString> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path));
    Ok(std::env::join_paths(dirs)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_come_from_their_ids() {
        assert_eq!(
            package_name("path+file:///w/tests#integration-tests@0.1.0", "x"),
            "integration-tests"
        );
        assert_eq!(package_name("path+file:///w/xtask#0.1.0", "x"), "xtask");
        assert_eq!(package_name("", "fallback"), "fallback");
    }

    #[test]
    fn test_artifacts_are_found_with_their_folders() {
        let json = [
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/tests#integration-tests@0.1.0","manifest_path":"/w/tests/Cargo.toml","target":{"kind":["test"],"name":"faults"},"profile":{"test":true},"executable":"/w/target/debug/deps/faults-1"}"#,
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/probe-user#0.1.0","manifest_path":"/w/probe-user/Cargo.toml","target":{"kind":["bin"],"name":"pressure-probe"},"profile":{"test":false},"executable":"/w/target/debug/pressure-probe"}"#,
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/probe-user#0.1.0","manifest_path":"/w/probe-user/Cargo.toml","target":{"kind":["lib"],"name":"probe_user"},"profile":{"test":true},"executable":"/w/target/debug/deps/probe_user-2"}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        let found = test_binaries(&json).unwrap();
        assert_eq!(found.len(), 2);
        assert!(found[0].is_integration());
        assert_eq!(found[0].dir, Path::new("/w/tests"));
        assert_eq!(found[0].step(), "test faults");
        assert_eq!(found[1].step(), "unit probe-user lib probe_user");
        assert!(!found[1].is_integration());
    }
}
