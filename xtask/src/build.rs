//! `cargo xtask build`, `run` and `lint`.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Result;

use crate::{
    cmd::{self, is_root, on_path, workspace_root},
    setup,
};

/// Target triple of the kernel programs.
const BPF_TARGET: &str = "bpfel-unknown-none";

/// Where the kernel object lands.
pub fn ebpf_object() -> PathBuf {
    workspace_root()
        .join("target")
        .join(BPF_TARGET)
        .join("release/probe-ebpf")
}

/// Where the agent binary lands.
pub fn agent_binary(release: bool) -> PathBuf {
    let profile = if release { "release" } else { "debug" };
    workspace_root()
        .join("target")
        .join(profile)
        .join("pressure-probe")
}

/// A `cargo +nightly` command for the BPF target, free of host flags.
fn nightly_bpf_cargo(subcommand: &str) -> Command {
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
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    command
}

/// Builds the kernel object (cargo rebuilds only what changed).
pub fn build_ebpf() -> Result<PathBuf> {
    cmd::run(&mut nightly_bpf_cargo("build"))?;
    Ok(ebpf_object())
}

/// A host `cargo` command that embeds the kernel object.
pub fn host_cargo(object: &Path) -> Command {
    let mut command = Command::new("cargo");
    command
        .current_dir(workspace_root())
        .env("PRESSURE_PROBE_EBPF_OBJ", object);
    command
}

/// Sets up, builds the kernel object and the agent; returns the agent binary.
pub fn build(release: bool) -> Result<PathBuf> {
    setup::setup()?;
    let object = build_ebpf()?;
    let mut command = host_cargo(&object);
    command.args(["build", "--package", "probe-user"]);
    if release {
        command.arg("--release");
    }
    cmd::run(&mut command)?;
    Ok(agent_binary(release))
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
    cmd::run(nightly_bpf_cargo("clippy").args(["--", "-D", "warnings"]))?;
    let object = build_ebpf()?;
    cmd::run(host_cargo(&object).args([
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
