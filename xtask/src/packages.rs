//! What each step runs, in one place: the programs (and the Debian packages
//! that provide them) that a step or the tests it runs start.
//!
//! [`provide`] installs what is missing (through apt-get, as root on a
//! Debian-like host), then confines the step's `PATH` to exactly its
//! programs and the Rust toolchain's folder. A program that a step or a test
//! runs without its being listed here then fails on every machine, the one
//! where everything ran before included, as it would on a fresh one.

use std::{
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use anyhow::{Context, Result, bail};

use crate::cmd::{self, is_root, on_path, output, workspace_root};

/// Python tools the deployment tests run, pinned.
pub const TEST_PYTHON: &[(&str, &str)] = &[
    ("kubernetes-validate", "1.37.0"),
    ("checkov", "3.3.30"),
    // Validates the autoscaling files against their tools' schemas.
    ("jsonschema", "4.26.0"),
    // The HTTP/2 server of the dependency tests.
    ("h2", "4.3.0"),
];

/// Python packages the load test runs (Locust) and plots with, pinned.
pub const LOADTEST_PYTHON: &[(&str, &str)] = &[("locust", "2.47.0"), ("matplotlib", "3.10.8")];

/// A program a step runs (a command looked up on `PATH`, or an absolute
/// path, which is a file that must exist) and the Debian package that
/// provides it.
pub type Requirement = (&'static str, &'static str);

/// What every build runs besides the Rust toolchain itself (rustup's
/// folder, which `setup` completes with nightly and bpf-linker).
pub const BUILD: &[Requirement] = &[
    // rustc's linker driver; the C compiler, assembler and archiver of
    // ring's assembly.
    ("cc", "gcc"),
    ("as", "binutils"),
    ("ar", "binutils"),
    // The agent's version names its commit.
    ("git", "git"),
];

/// What `cargo xtask test` runs: the integration tests' commands and
/// xtask's own unit tests'.
pub const TEST: &[Requirement] = &[
    ("sh", "dash"),
    ("cat", "coreutils"),
    ("sleep", "coreutils"),
    ("/bin/true", "coreutils"),
    ("mount", "mount"),
    ("umount", "mount"),
    ("setpriv", "util-linux"),
    ("ip", "iproute2"),
    ("ss", "iproute2"),
    ("prometheus", "prometheus"),
    ("promtool", "prometheus"),
    // Makes the virtual environment of the deployment tests' tools.
    ("python3", "python3-venv"),
    ("systemd-analyze", "systemd"),
    ("tmux", "tmux"),
    // The web configuration's tests: certificates (and their dates read
    // as Unix time), hashes, an HTTPS client.
    ("openssl", "openssl"),
    ("date", "coreutils"),
    ("htpasswd", "apache2-utils"),
    ("curl", "curl"),
    // Renders the Kubernetes install (`kubectl kustomize`).
    ("kubectl", "kubectl"),
    // The slow file system of the storage verdict's test.
    ("/usr/bin/python3", "python3"),
    ("/usr/lib/python3/dist-packages/fusepy.py", "python3-fusepy"),
    // The long-poll consumer of the production-shape tests.
    ("redis-server", "redis-server"),
    ("redis-cli", "redis-tools"),
    // xtask's unit tests make an initramfs and read it back.
    ("find", "findutils"),
    ("gzip", "gzip"),
    ("cpio", "cpio"),
];

/// What `vm-test` and `hook-bench` run on the host: the kernels' download,
/// the initramfs, QEMU; and the host tools copied into the guest.
pub const VM: &[Requirement] = &[
    ("sh", "dash"),
    ("find", "findutils"),
    ("gzip", "gzip"),
    ("cpio", "cpio"),
    ("xz", "xz-utils"),
    ("objcopy", "binutils"),
    ("ldd", "libc-bin"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("/bin/busybox", "busybox-static"),
    ("/usr/sbin/ip", "iproute2"),
    ("/usr/bin/ss", "iproute2"),
    ("/usr/bin/setpriv", "util-linux"),
    // The production-shape tests' software, copied into the guest.
    ("cp", "coreutils"),
    ("/usr/bin/redis-server", "redis-server"),
    ("/usr/bin/redis-cli", "redis-tools"),
    ("/usr/bin/curl", "curl"),
    ("/usr/bin/openssl", "openssl"),
    ("/usr/bin/python3", "python3"),
];

/// What the load test runs.
pub const LOADTEST: &[Requirement] = &[
    ("sh", "dash"),
    ("umount", "mount"),
    ("prometheus", "prometheus"),
    ("taskset", "util-linux"),
    ("python3", "python3-venv"),
    ("/usr/bin/python3", "python3"),
    ("/usr/lib/python3/dist-packages/fusepy.py", "python3-fusepy"),
];

/// What the benchmark runs.
pub const BENCH: &[Requirement] = &[("perf", "linux-perf"), ("taskset", "util-linux")];

/// Folders where Debian's packages put programs; a step's programs are
/// taken from these, whatever else the caller's `PATH` holds.
const SYSTEM_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The caller's `PATH`, kept for the package manager (which is not one of
/// a step's programs: it installs them).
static CALLER_PATH: OnceLock<OsString> = OnceLock::new();

/// Installs the packages of `step`'s missing programs, then confines this
/// process's `PATH` (and so that of everything it starts) to those programs
/// and the Rust toolchain's folder. Call it once, first, before any thread
/// starts.
pub fn provide(step: &str, requirements: &[Requirement]) -> Result<()> {
    let caller = CALLER_PATH
        .get_or_init(|| std::env::var_os("PATH").unwrap_or_default())
        .clone();
    ensure(requirements)?;
    let toolbox = workspace_root().join("target/xtask/path").join(step);
    if toolbox.exists() {
        fs::remove_dir_all(&toolbox)?;
    }
    fs::create_dir_all(&toolbox)?;
    for (program, package) in requirements.iter().filter(|(p, _)| !p.starts_with('/')) {
        let found = system_program(program)
            .with_context(|| format!("{package} is installed but {program} is not in it"))?;
        let link = toolbox.join(program);
        if !link.exists() {
            std::os::unix::fs::symlink(&found, &link)?;
        }
    }
    let rust = rust_toolchain_dir(&caller)?;
    let path = std::env::join_paths([toolbox, rust])?;
    // SAFETY: called first in the step, while this process has one thread.
    unsafe { std::env::set_var("PATH", &path) };
    Ok(())
}

/// A command for the package manager, with the caller's `PATH`.
pub fn package_manager(program: &str) -> Command {
    let mut command = Command::new(program);
    if let Some(path) = CALLER_PATH.get() {
        command.env("PATH", path);
    }
    command
}

/// The folder of rustup's proxies (`cargo`, `rustc`, `rustup`) on `path`.
fn rust_toolchain_dir(path: &OsString) -> Result<PathBuf> {
    std::env::split_paths(path)
        .find(|dir| dir.join("rustup").is_file() && dir.join("cargo").is_file())
        .context("rustup is not on PATH: install Rust with rustup (https://rustup.rs) first")
}

/// Where `program` is in the system's folders.
fn system_program(program: &str) -> Option<PathBuf> {
    SYSTEM_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

/// Whether `program` is there: an absolute path exists, a command is in
/// the system's folders.
fn present(program: &str) -> bool {
    if program.starts_with('/') {
        Path::new(program).exists()
    } else {
        system_program(program).is_some()
    }
}

/// The packages of `requirements` that are not installed: on a host with
/// dpkg, those dpkg does not list as installed (a program of the same name
/// from elsewhere does not stand in for a package); elsewhere, those whose
/// program is missing.
fn missing(requirements: &[Requirement]) -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = requirements.iter().map(|(_, p)| *p).collect();
    packages.sort_unstable();
    packages.dedup();
    if on_path("dpkg-query") {
        // It lists the installed and known ones, and fails for the unknown.
        let listing = package_manager("dpkg-query")
            .args([
                "--show",
                "--showformat",
                "${Package} ${db:Status-Status}\\n",
            ])
            .args(&packages)
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_default();
        return packages
            .into_iter()
            .filter(|p| !listing.lines().any(|l| l == format!("{p} installed")))
            .collect();
    }
    packages
        .into_iter()
        .filter(|package| {
            requirements
                .iter()
                .any(|(program, p)| p == package && !present(program))
        })
        .collect()
}

/// Installs the packages of `requirements` that are missing, or explains
/// what to install.
fn ensure(requirements: &[Requirement]) -> Result<()> {
    let missing = missing(requirements);
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
        package_manager("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if let Some((program, package)) = requirements.iter().find(|(p, _)| !present(p)) {
        bail!("{package} was installed but provides no {program}");
    }
    Ok(())
}

/// Refreshes the Debian package lists.
pub fn apt_update() -> Result<()> {
    cmd::run(package_manager("apt-get").args(["update", "-q"]))
}

/// A Python virtual environment in the download cache (kept across clones,
/// like the Debian packages) with `packages` ((name, version) from PyPI),
/// made or completed as needed. Returns its `bin` folder.
pub fn ensure_python_tools(packages: &[(&str, &str)]) -> Result<PathBuf> {
    let venv = cmd::download_cache().join("venv");
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
