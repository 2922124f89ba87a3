//! `cargo xtask build`, `run` and `lint`.

use std::{path::PathBuf, process::Command};

use anyhow::Result;

use crate::{
    cmd::{self, is_root, on_path, workspace_root},
    object_check, setup,
};

/// Target triple of the kernel programs.
const BPF_TARGET: &str = "bpfel-unknown-none";

/// The two builds of the kernel object.
#[derive(Clone, Copy)]
pub enum Flavour {
    /// Per-cgroup state in cgroup local storage (Linux 6.2+).
    Storage,
    /// Per-cgroup state in hash maps (older kernels).
    HashState,
}

impl Flavour {
    const ALL: [Flavour; 2] = [Flavour::Storage, Flavour::HashState];

    fn target_dir(self) -> PathBuf {
        match self {
            Flavour::Storage => workspace_root().join("target"),
            Flavour::HashState => workspace_root().join("target/ebpf-hash-state"),
        }
    }

    /// The environment variable that tells the agent's build where it is.
    fn env(self) -> &'static str {
        match self {
            Flavour::Storage => "PRESSURE_PROBE_EBPF_OBJ",
            Flavour::HashState => "PRESSURE_PROBE_EBPF_HASH_STATE_OBJ",
        }
    }

    /// Where the kernel object lands.
    fn object(self) -> PathBuf {
        self.target_dir()
            .join(BPF_TARGET)
            .join("release/probe-ebpf")
    }
}

/// Where the agent binary lands.
pub fn agent_binary(release: bool) -> PathBuf {
    host_binary("pressure-probe", release)
}

/// Where a host binary of the workspace lands.
fn host_binary(name: &str, release: bool) -> PathBuf {
    let profile = if release { "release" } else { "debug" };
    workspace_root().join("target").join(profile).join(name)
}

/// A `cargo +nightly` command for the BPF target, free of host flags.
fn nightly_bpf_cargo(subcommand: &str, flavour: Flavour) -> Command {
    let mut command = Command::new("cargo");
    command
        .current_dir(workspace_root())
        .args([
            "+nightly",
            subcommand,
            "--package",
            "probe-ebpf",
            "--release",
        ])
        .args(["--target", BPF_TARGET, "-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(flavour.target_dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    if let Flavour::HashState = flavour {
        command.args(["--features", "hash-state"]);
    }
    command
}

/// Builds both kernel objects (cargo rebuilds only what changed) and checks
/// that their code only ever loads from the globals the agent sets.
pub fn build_ebpf() -> Result<()> {
    for flavour in Flavour::ALL {
        cmd::run(&mut nightly_bpf_cargo("build", flavour))?;
        object_check::check_object(&flavour.object())?;
    }
    Ok(())
}

/// A host `cargo` command that embeds the kernel objects.
pub fn host_cargo() -> Command {
    let mut command = Command::new("cargo");
    command.current_dir(workspace_root());
    for flavour in Flavour::ALL {
        command.env(flavour.env(), flavour.object());
    }
    command
}

/// Sets up, builds the kernel object and the agent; returns the agent binary.
pub fn build(release: bool) -> Result<PathBuf> {
    setup::setup()?;
    build_ebpf()?;
    let mut command = host_cargo();
    command.args(["build", "--package", "probe-user"]);
    if release {
        command.arg("--release");
    }
    cmd::run(&mut command)?;
    Ok(agent_binary(release))
}

/// Builds the test workload, `pp-workload`; returns the binary.
pub fn workload(release: bool) -> Result<PathBuf> {
    let mut command = host_cargo();
    command.args([
        "build",
        "--package",
        "integration-tests",
        "--bin",
        "pp-workload",
    ]);
    if release {
        command.arg("--release");
    }
    cmd::run(&mut command)?;
    Ok(workload_binary(release))
}

/// Where `pp-workload` lands.
pub fn workload_binary(release: bool) -> PathBuf {
    host_binary("pp-workload", release)
}

/// Builds and runs the agent with `args` (default: `run`), as root.
pub fn run(release: bool, args: &[String]) -> Result<()> {
    let binary = build(release)?;
    let args: Vec<String> = if args.is_empty() {
        vec!["run".into()]
    } else {
        args.to_vec()
    };
    let mut command = if is_root() || !on_path("sudo") {
        Command::new(&binary)
    } else {
        eprintln!("xtask: pressure-probe needs root; running it through sudo");
        let mut sudo = Command::new("sudo");
        sudo.arg(&binary);
        sudo
    };
    cmd::run(command.args(&args))
}

/// Formatting and clippy, kernel side included.
pub fn lint() -> Result<()> {
    setup::setup()?;
    cmd::run(
        Command::new("cargo")
            .current_dir(workspace_root())
            .args(["fmt", "--all", "--check"]),
    )?;
    for flavour in Flavour::ALL {
        cmd::run(nightly_bpf_cargo("clippy", flavour).args(["--", "-D", "warnings"]))?;
    }
    build_ebpf()?;
    cmd::run(host_cargo().args([
        "clippy",
        "--workspace",
        "--exclude",
        "probe-ebpf",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))
}
