//! `cargo xtask build`, `run` and `lint`.

use std::{path::PathBuf, process::Command};

use anyhow::Result;
use probe_common::objects::{self, Build};

use crate::{
    cmd::{self, is_root, on_path, workspace_root},
    object_check, setup,
    steps::timed,
};

/// Target triple of the kernel programs.
const BPF_TARGET: &str = "bpfel-unknown-none";

/// The target folder of a build of the kernel object.
fn target_dir(build: Build) -> PathBuf {
    workspace_root().join("target").join(build.target_subdir)
}

/// Where a build of the kernel object lands.
fn object(build: Build) -> PathBuf {
    target_dir(build).join(objects::OBJECT_IN_TARGET)
}

/// Where the agent binary lands.
pub fn agent_binary(release: bool) -> PathBuf {
    host_binary("pressure-probe", release)
}

/// Where a host binary of the workspace lands.
fn host_binary(name: &str, release: bool) -> PathBuf {
    workspace_root()
        .join("target")
        .join(profile(release))
        .join(name)
}

/// The cargo profile's folder name.
pub fn profile(release: bool) -> &'static str {
    if release { "release" } else { "debug" }
}

/// A `cargo +nightly` command for the BPF target, free of host flags.
fn nightly_bpf_cargo(subcommand: &str, build: Build) -> Command {
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
        .arg(target_dir(build))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    if let Some(feature) = build.feature {
        command.args(["--features", feature]);
    }
    command
}

/// Builds both kernel objects (cargo rebuilds only what changed) and checks
/// that their code only ever loads from the globals the agent sets.
pub fn build_ebpf() -> Result<()> {
    for build in objects::BUILDS {
        cmd::run(&mut nightly_bpf_cargo("build", build))?;
        object_check::check_object(&object(build))?;
    }
    Ok(())
}

/// A host `cargo` command that embeds the kernel objects.
pub fn host_cargo() -> Command {
    let mut command = Command::new("cargo");
    command.current_dir(workspace_root());
    for build in objects::BUILDS {
        command.env(build.env, object(build));
    }
    command
}

/// Sets up, builds the kernel object and the agent; returns the agent binary.
pub fn build(release: bool) -> Result<PathBuf> {
    setup::setup()?;
    build_ebpf()?;
    cmd::run(&mut agent_cargo(release))?;
    Ok(agent_binary(release))
}

/// The `cargo build` of the agent, embedding the kernel objects.
pub fn agent_cargo(release: bool) -> Command {
    let mut command = host_cargo();
    command.args(["build", "--package", "probe-user"]);
    if release {
        command.arg("--release");
    }
    command
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

/// Builds the load test's demo service, `pp-demo`; returns the binary.
pub fn demo() -> Result<PathBuf> {
    cmd::run(host_cargo().args(["build", "--package", "loadtest-service", "--bin", "pp-demo"]))?;
    Ok(host_binary("pp-demo", false))
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

/// Formatting and clippy, kernel side included; the user side is checked
/// as on a fresh clone, without kernel objects (rust-analyzer's case: it
/// must build, with a warning); and the kernel objects' own check.
pub fn lint() -> Result<()> {
    timed("toolchain", setup::setup)?;
    timed("lint: rustfmt", || {
        cmd::run(
            Command::new("cargo")
                .current_dir(workspace_root())
                .args(["fmt", "--all", "--check"]),
        )
    })?;
    timed("lint: clippy, kernel side", || {
        for build in objects::BUILDS {
            cmd::run(nightly_bpf_cargo("clippy", build).args(["--", "-D", "warnings"]))?;
        }
        Ok(())
    })?;
    timed("kernel objects", build_ebpf)?;
    timed("lint: clippy, user side, without kernel objects", || {
        let mut clippy = Command::new("cargo");
        clippy.current_dir(workspace_root()).args([
            "clippy",
            "--workspace",
            "--exclude",
            "probe-ebpf",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]);
        for build in objects::BUILDS {
            clippy.env(build.env, "/nonexistent/probe-ebpf");
        }
        cmd::run(&mut clippy)
    })
}
