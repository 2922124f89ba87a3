//! Points `PRESSURE_PROBE_EBPF_OBJ` at the kernel object that `cargo xtask build`
//! produced, so the agent embeds it.

use std::{env, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=PRESSURE_PROBE_EBPF_OBJ");
    let object = match env::var_os("PRESSURE_PROBE_EBPF_OBJ") {
        Some(path) => PathBuf::from(path),
        None => {
            let target = env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
            target.join("bpfel-unknown-none/release/probe-ebpf")
        }
    };
    if !object.is_file() {
        panic!(
            "the eBPF object {} does not exist: build the agent with `cargo xtask build`, \
             which builds the kernel programs first",
            object.display()
        );
    }
    println!("cargo:rerun-if-changed={}", object.display());
    println!(
        "cargo:rustc-env=PRESSURE_PROBE_EBPF_OBJ={}",
        object.display()
    );
}
