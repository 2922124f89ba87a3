//! Points the agent at the kernel objects that `cargo xtask build` produced,
//! so that it embeds them: `PRESSURE_PROBE_EBPF_OBJ` (per-cgroup state in
//! cgroup local storage) and `PRESSURE_PROBE_EBPF_HASH_STATE_OBJ` (in hash
//! maps, for kernels before 6.2).

use std::{env, path::PathBuf};

fn main() {
    let target = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    for (var, default) in [
        (
            "PRESSURE_PROBE_EBPF_OBJ",
            target.join("bpfel-unknown-none/release/probe-ebpf"),
        ),
        (
            "PRESSURE_PROBE_EBPF_HASH_STATE_OBJ",
            target.join("ebpf-hash-state/bpfel-unknown-none/release/probe-ebpf"),
        ),
    ] {
        println!("cargo:rerun-if-env-changed={var}");
        let object = env::var_os(var).map(PathBuf::from).unwrap_or(default);
        if !object.is_file() {
            panic!(
                "the eBPF object {} does not exist: build the agent with `cargo xtask build`, \
                 which builds the kernel programs first",
                object.display()
            );
        }
        println!("cargo:rerun-if-changed={}", object.display());
        println!("cargo:rustc-env={var}={}", object.display());
    }
}
