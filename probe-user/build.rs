//! Points the agent at the kernel objects that `cargo xtask build` produced,
//! so that it embeds them (`probe_common::objects`: one build per place the
//! kernel keeps per-cgroup state).
//!
//! Without them (a fresh clone under `cargo check`, `cargo build` or
//! rust-analyzer) the agent builds with empty objects and a warning, and a
//! binary built that way says so when it runs; `cargo xtask build` builds
//! the kernel programs first.
//!
//! It also stamps the git revision into `--version`
//! (`PRESSURE_PROBE_REVISION`: `unknown` outside a git checkout).

use std::{env, path::PathBuf, process::Command};

use probe_common::objects::{BUILDS, OBJECT_IN_TARGET};

fn main() {
    stamp_revision();
    let target = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for build in BUILDS {
        println!("cargo:rerun-if-env-changed={}", build.env);
        let object = env::var_os(build.env)
            .map(PathBuf::from)
            .unwrap_or_else(|| target.join(build.target_subdir).join(OBJECT_IN_TARGET));
        println!("cargo:rerun-if-changed={}", object.display());
        let embedded = if object.is_file() {
            object
        } else {
            println!(
                "cargo:warning=the eBPF object {} does not exist: this agent is built without its \
                 kernel programs and cannot run; build it with `cargo xtask build`",
                object.display()
            );
            let empty = out.join(format!("{}.empty", build.env));
            std::fs::write(&empty, b"").expect("cannot write to OUT_DIR");
            empty
        };
        println!("cargo:rustc-env={}={}", build.env, embedded.display());
    }
}

/// Sets `PRESSURE_PROBE_REVISION` to the checkout's commit (`-dirty` with
/// uncommitted changes to tracked files), rebuilding when it moves.
fn stamp_revision() {
    println!("cargo:rerun-if-env-changed=PRESSURE_PROBE_REVISION");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(["-C", env!("CARGO_MANIFEST_DIR")])
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let revision = env::var("PRESSURE_PROBE_REVISION").ok().or_else(|| {
        let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
        for watched in ["HEAD", "index"] {
            if let Some(path) = git(&["rev-parse", "--git-path", watched]) {
                let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"])
            && let Some(path) = git(&["rev-parse", "--git-path", &reference])
        {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
            println!("cargo:rerun-if-changed={}", path.display());
        }
        let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|status| !status.is_empty());
        Some(if dirty {
            format!("{commit}-dirty")
        } else {
            commit
        })
    });
    println!(
        "cargo:rustc-env=PRESSURE_PROBE_REVISION={}",
        revision.as_deref().unwrap_or("unknown")
    );
}
