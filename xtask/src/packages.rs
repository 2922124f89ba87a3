//! Debian packages that tests and benchmarks need, installed through apt-get
//! when running as root on a Debian-like host.

use std::{path::PathBuf, process::Command};

use anyhow::{Result, bail};

use crate::cmd::{self, is_root, on_path, output, workspace_root};

/// Python tools the deployment tests run, pinned.
pub const TEST_PYTHON: &[(&str, &str)] = &[
    ("kubernetes-validate", "1.37.0"),
    ("checkov", "3.3.30"),
    // Validates the autoscaling files against their tools' schemas.
    ("jsonschema", "4.26.0"),
];

/// Python packages the load test runs (Locust) and plots with, pinned.
pub const LOADTEST_PYTHON: &[(&str, &str)] = &[("locust", "2.47.0"), ("matplotlib", "3.10.8")];

/// A command (or, starting with `/`, a file) and the Debian package that
/// provides it.
pub type Requirement = (&'static str, &'static str);

/// Commands the integration tests run.
pub const TEST_COMMANDS: &[Requirement] = &[
    ("setpriv", "util-linux"),
    ("ip", "iproute2"),
    ("ss", "iproute2"),
    ("prometheus", "prometheus"),
    ("promtool", "prometheus"),
    ("python3", "python3-venv"),
    ("systemd-analyze", "systemd"),
    ("tmux", "tmux"),
    // The web configuration's tests: certificates, hashes, an HTTPS client.
    ("openssl", "openssl"),
    ("htpasswd", "apache2-utils"),
    ("curl", "curl"),
    // Renders the Kubernetes install (`kubectl kustomize`).
    ("kubectl", "kubectl"),
    // The slow file system of the storage verdict's test.
    ("/usr/lib/python3/dist-packages/fusepy.py", "python3-fusepy"),
];

/// Commands `vm-test` runs, on the host and (the last three) in the guest.
pub const VM_COMMANDS: &[Requirement] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("busybox", "busybox-static"),
    ("cpio", "cpio"),
    ("xz", "xz-utils"),
    ("objcopy", "binutils"),
    ("ip", "iproute2"),
    ("ss", "iproute2"),
    ("setpriv", "util-linux"),
];

/// Commands (and files) the load test needs.
pub const LOADTEST_COMMANDS: &[Requirement] = &[
    ("prometheus", "prometheus"),
    ("taskset", "util-linux"),
    ("python3", "python3-venv"),
    ("/usr/lib/python3/dist-packages/fusepy.py", "python3-fusepy"),
];

/// Commands the benchmark runs.
pub const BENCH_COMMANDS: &[Requirement] = &[("perf", "linux-perf"), ("taskset", "util-linux")];

/// Installs the packages of any missing command, or explains what to install.
pub fn ensure(requirements: &[Requirement]) -> Result<()> {
    let mut missing: Vec<&str> = requirements
        .iter()
        .filter(|(needed, _)| {
            if needed.starts_with('/') {
                !std::path::Path::new(needed).exists()
            } else {
                !on_path(needed)
            }
        })
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
    apt_update()?;
    cmd::run(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Refreshes the Debian package lists.
pub fn apt_update() -> Result<()> {
    cmd::run(Command::new("apt-get").args(["update", "-q"]))
}

/// A Python virtual environment under `target/` with `packages` ((name,
/// version) from PyPI), made or completed as needed. Returns its `bin`
/// folder.
pub fn ensure_python_tools(packages: &[(&str, &str)]) -> Result<PathBuf> {
    let venv = workspace_root().join("target/xtask/venv");
    let bin = venv.join("bin");
    if !bin.join("pip").is_file() {
        eprintln!(
            "xtask: making a Python virtual environment in {}",
            venv.display()
        );
        cmd::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let missing: Vec<String> = packages
        .iter()
        .filter(|(tool, version)| {
            output(Command::new(bin.join("pip")).args(["show", tool]))
                .is_none_or(|info| !info.lines().any(|l| l == format!("Version: {version}")))
        })
        .map(|(tool, version)| format!("{tool}=={version}"))
        .collect();
    if !missing.is_empty() {
        eprintln!("xtask: installing {} from PyPI", missing.join(" "));
        cmd::run(
            Command::new(bin.join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .args(&missing),
        )?;
    }
    Ok(bin)
}
