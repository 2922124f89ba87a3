//! Points the agent at the kernel objects that `cargo xtask build` produced,
//! so that it embeds them (`probe_common::objects`: one build per place the
//! kernel keeps per-cgroup state).
//!
//! Without them (a fresh clone under `cargo check`, `cargo build` or
//! rust-analyzer) the agent builds with empty objects and a warning, and a
//! binary built that way says so when it runs; `cargo xtask build` builds
//! the kernel programs first.

use std::{env, path::PathBuf};

use probe_common::objects::{BUILDS, OBJECT_IN_TARGET};

fn main() {
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
