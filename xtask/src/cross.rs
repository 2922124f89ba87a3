//! The agent for another architecture (`cargo xtask build --target TRIPLE`):
//! the kernel object is BPF bytecode, the same for every architecture, so
//! only the agent is cross-compiled, with Debian's cross GCC as its linker
//! (and C compiler, for ring's assembly). The binary is then run under
//! QEMU's user-mode emulation: its `--version`, and its `rules`, which must
//! print the committed rule file exactly.

use std::{
    fs::File,
    io::Read,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};

use crate::{
    build::{agent_cargo, build_ebpf, profile},
    cmd::{self, workspace_root},
    packages::Requirement,
    setup,
};

/// A Linux target the agent builds for.
struct Target {
    triple: &'static str,
    /// The cross GCC: linker and C compiler.
    gcc: &'static str,
    /// What provides it, its archiver and the target's C library.
    packages: &'static [Requirement],
    /// The ELF `e_machine` of its binaries.
    elf_machine: u16,
    /// Its name in container platforms.
    arch: &'static str,
    /// QEMU's user-mode emulator of it.
    qemu: &'static str,
    /// Where its C library lives for the emulator.
    sysroot: &'static str,
}

/// The targets the agent is built for.
static TARGETS: [Target; 2] = [
    Target {
        triple: "x86_64-unknown-linux-gnu",
        gcc: "x86_64-linux-gnu-gcc",
        packages: &[
            ("x86_64-linux-gnu-gcc", "gcc-x86-64-linux-gnu"),
            // The archiver of ring's assembly.
            ("x86_64-linux-gnu-ar", "binutils-x86-64-linux-gnu"),
            (
                "/usr/x86_64-linux-gnu/include/stdio.h",
                "libc6-dev-amd64-cross",
            ),
        ],
        elf_machine: 62,
        arch: "amd64",
        qemu: "qemu-x86_64",
        sysroot: "/usr/x86_64-linux-gnu",
    },
    Target {
        triple: "aarch64-unknown-linux-gnu",
        gcc: "aarch64-linux-gnu-gcc",
        packages: &[
            ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
            ("aarch64-linux-gnu-ar", "binutils-aarch64-linux-gnu"),
            (
                "/usr/aarch64-linux-gnu/include/stdio.h",
                "libc6-dev-arm64-cross",
            ),
        ],
        elf_machine: 183,
        arch: "arm64",
        qemu: "qemu-aarch64",
        sysroot: "/usr/aarch64-linux-gnu",
    },
];

/// The target triples `--target` takes.
pub fn triples() -> Vec<&'static str> {
    TARGETS.iter().map(|t| t.triple).collect()
}

/// The target called `triple`.
fn target(triple: &str) -> Result<&'static Target> {
    TARGETS
        .iter()
        .find(|t| t.triple == triple)
        .with_context(|| {
            format!(
                "--target {triple}: the agent builds for {}",
                triples().join(" and ")
            )
        })
}

/// Whether `target` is this machine's own.
fn is_native(target: &Target) -> bool {
    target.triple.starts_with(std::env::consts::ARCH)
}

/// What building for `triple` runs besides the native build's programs:
/// for another architecture, its cross GCC and QEMU's user-mode emulator.
pub fn programs(triple: &str) -> Result<Vec<Requirement>> {
    let target = target(triple)?;
    if is_native(target) {
        return Ok(Vec::new());
    }
    Ok([target.packages, &[(target.qemu, "qemu-user")]].concat())
}

/// Sets up, builds the kernel object and the agent for `triple`; checks
/// that the binary is for that architecture and returns it.
pub fn build(triple: &str, release: bool) -> Result<PathBuf> {
    let target = target(triple)?;
    setup::setup()?;
    let native = is_native(target);
    cmd::run(std::process::Command::new("rustup").args(["target", "add", triple]))?;
    build_ebpf()?;
    let mut command = agent_cargo(release);
    command.args(["--target", triple]);
    if !native {
        let env_triple = triple.replace('-', "_");
        command
            .env(
                format!("CARGO_TARGET_{}_LINKER", env_triple.to_uppercase()),
                target.gcc,
            )
            .env(format!("CC_{env_triple}"), target.gcc);
    }
    cmd::run(&mut command)?;
    let binary = workspace_root()
        .join("target")
        .join(triple)
        .join(profile(release))
        .join("pressure-probe");
    let machine = elf_machine(&binary)?;
    if machine != target.elf_machine {
        bail!(
            "{} is for ELF machine {machine}, not {} ({})",
            binary.display(),
            target.elf_machine,
            target.arch
        );
    }
    if !native {
        emulated_smoke_test(target, &binary)?;
    }
    eprintln!("xtask: built {} (ELF {})", binary.display(), target.arch);
    Ok(binary)
}

/// Runs the binary under QEMU: `--version`, and `rules`, which must print
/// the committed `deploy/prometheus/rules.yml`.
fn emulated_smoke_test(target: &Target, binary: &Path) -> Result<()> {
    let run = |args: &[&str]| {
        let mut command = std::process::Command::new(target.qemu);
        command.args(["-L", target.sysroot]).arg(binary).args(args);
        eprintln!("xtask: running {} under {}", args.join(" "), target.qemu);
        cmd::output(&mut command).with_context(|| {
            format!(
                "{} {} failed under {}",
                binary.display(),
                args.join(" "),
                target.qemu
            )
        })
    };
    eprintln!("xtask: {}", run(&["--version"])?.trim());
    let rules = run(&["rules"])?;
    let committed = std::fs::read_to_string(workspace_root().join("deploy/prometheus/rules.yml"))?;
    if rules != committed {
        bail!(
            "the {} agent's `rules` differ from deploy/prometheus/rules.yml",
            target.arch
        );
    }
    Ok(())
}

/// The `e_machine` field of an ELF file.
fn elf_machine(path: &Path) -> Result<u16> {
    let mut bytes = [0; 20];
    File::open(path)
        .and_then(|mut file| file.read_exact(&mut bytes))
        .with_context(|| format!("cannot read {}", path.display()))?;
    if &bytes[..4] != b"\x7fELF" {
        bail!("{} is not an ELF file", path.display());
    }
    Ok(u16::from_le_bytes([bytes[18], bytes[19]]))
}
