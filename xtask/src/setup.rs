//! `cargo xtask setup`: the eBPF toolchain, installed once.
//!
//! The kernel programs build with nightly Rust (`-Z build-std=core` for the
//! `bpfel-unknown-none` target, which needs `rust-src`) and link with
//! bpf-linker. bpf-linker must use the same LLVM as nightly rustc, so it is
//! built from the crate registry against nightly's own `libLLVM`.

use std::{fs, os::unix::fs::symlink, path::PathBuf, process::Command};

use anyhow::{Context, Result, bail};

use crate::cmd::{self, on_path, output};

/// bpf-linker release known to build against nightly's LLVM here.
const BPF_LINKER_VERSION: &str = "0.13.0";

/// Installs whatever of the eBPF toolchain is missing.
pub fn setup() -> Result<()> {
    if !on_path("rustup") {
        bail!("rustup is not on PATH: install Rust with rustup (https://rustup.rs) first");
    }
    ensure_nightly_rust_src()?;
    ensure_bpf_linker()?;
    eprintln!("xtask: setup complete: nightly rust-src and bpf-linker are ready");
    Ok(())
}

fn ensure_nightly_rust_src() -> Result<()> {
    let installed = output(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed",
    ]));
    match installed {
        Some(list) if list.lines().any(|l| l.starts_with("rust-src")) => {
            eprintln!("xtask: nightly toolchain with rust-src: present");
            Ok(())
        }
        Some(_) => {
            eprintln!("xtask: adding rust-src to the nightly toolchain (needed by -Z build-std)");
            cmd::run(Command::new("rustup").args([
                "component",
                "add",
                "rust-src",
                "--toolchain",
                "nightly",
            ]))
        }
        None => {
            eprintln!(
                "xtask: installing the nightly toolchain with rust-src (builds the eBPF programs)"
            );
            cmd::run(Command::new("rustup").args([
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
                "--component",
                "rust-src",
            ]))
        }
    }
}

fn bpf_linker_works() -> bool {
    output(Command::new("bpf-linker").arg("--version")).is_some()
}

fn ensure_bpf_linker() -> Result<()> {
    if bpf_linker_works() {
        eprintln!("xtask: bpf-linker: present");
        return Ok(());
    }
    let version = output(Command::new("rustc").args(["+nightly", "-vV"]))
        .context("cannot run `rustc +nightly -vV`")?;
    let llvm_major = version
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .context("`rustc +nightly -vV` does not say its LLVM version")?
        .to_string();
    let sysroot = output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))
        .context("cannot run `rustc +nightly --print sysroot`")?;
    let lib_dir = PathBuf::from(sysroot.trim()).join("lib");
    let libllvm = fs::read_dir(&lib_dir)
        .with_context(|| format!("cannot list {}", lib_dir.display()))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with("libLLVM.so."))
        .with_context(|| {
            format!(
                "nightly's libLLVM.so.* is missing from {}",
                lib_dir.display()
            )
        })?;

    // bpf-linker's build looks for LLVM_PREFIX/lib/libLLVM.so.
    let prefix = cmd::workspace_root().join("target/xtask/llvm");
    let prefix_lib = prefix.join("lib");
    fs::create_dir_all(&prefix_lib)?;
    for link in ["libLLVM.so", libllvm.as_str()] {
        let path = prefix_lib.join(link);
        let _ = fs::remove_file(&path);
        symlink(lib_dir.join(&libllvm), &path)
            .with_context(|| format!("cannot link {}", path.display()))?;
    }
    eprintln!(
        "xtask: building bpf-linker {BPF_LINKER_VERSION} against nightly's LLVM {llvm_major} \
         ({libllvm}); this takes a minute"
    );
    cmd::run(
        Command::new("cargo")
            .args([
                "+nightly",
                "install",
                "bpf-linker",
                "--locked",
                "--version",
                BPF_LINKER_VERSION,
            ])
            .args([
                "--no-default-features",
                "--features",
                &format!("llvm-{llvm_major}"),
            ])
            .env("LLVM_PREFIX", &prefix),
    )?;
    if !bpf_linker_works() {
        bail!("bpf-linker was installed but does not run: is ~/.cargo/bin on PATH?");
    }
    Ok(())
}
