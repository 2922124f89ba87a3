//! `cargo xtask vm-test`: the kernel-facing integration tests on other
//! kernels, under QEMU with software emulation.
//!
//! Debian's cloud kernels are downloaded into a cache under `target/` (never
//! installed), and each boots a minimal guest: an initramfs with busybox, the
//! agent, the test binaries, the few host tools the tests run (`ip`, `ss`,
//! `setpriv`) and their shared libraries. The guest's `/init` mounts what
//! the tests need, runs each test binary, prints its exit status on the
//! serial console and powers off; this side reads the statuses back.

use std::{
    collections::BTreeSet,
    fs,
    io::{BufRead, BufReader},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use integration_tests::agent::CheckReport;

use crate::{
    build::{self, agent_binary},
    cmd::{self, output, workspace_root},
    packages,
    steps::{self, timed},
    test,
};

/// A kernel of the matrix.
pub struct Kernel {
    /// Its name on the command line.
    pub name: &'static str,
    /// The Debian package's name, as a pattern.
    pub package: &'static str,
    /// The Debian suite it comes from when not the host's (an apt
    /// configuration of its own under target/, for the download only).
    pub suite: Option<&'static str>,
    /// What the guest's kernel command line adds.
    pub append: &'static str,
    /// Whether it runs when no kernel is named (the landing check's smoke
    /// and the suite): not yet for the lockdown guest, whose production
    /// tests do not yet expect what lockdown takes away.
    pub by_default: bool,
}

/// The kernels of the matrix: Debian's 6.1 and 6.12, and 6.12 again in
/// `confidentiality` lockdown (no `bpf_probe_read_kernel` for any program;
/// run when named); Debian 11's 5.10 (run when named: not every signal has
/// its alternatives there yet).
pub const KERNELS: &[Kernel] = &[
    Kernel {
        name: "5.10",
        package: r"^linux-image-5\.10\.0-[0-9]+-cloud-amd64$",
        suite: Some("bullseye"),
        append: "",
        by_default: false,
    },
    Kernel {
        name: "6.1",
        package: r"^linux-image-6\.1\.0-[0-9]+-cloud-amd64$",
        suite: None,
        append: "",
        by_default: true,
    },
    Kernel {
        name: "6.12",
        package: r"^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64$",
        suite: None,
        append: "",
        by_default: true,
    },
    Kernel {
        name: "6.12-lockdown",
        package: r"^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64$",
        suite: None,
        append: "lockdown=confidentiality",
        by_default: false,
    },
];

/// Integration test binaries that exercise the kernel (the others check
/// deployment files or talk to Prometheus, which do not depend on it).
const KERNEL_TESTS: &[&str] = &[
    "cli",
    "runqueue",
    "syscall",
    "tcp",
    "dependency",
    "identity",
    "memory",
    REQUESTS,
    PRODUCTION,
];

/// The request signal's tests: one of them serves with Python's
/// http.server, so the guest gets the production tests' Python too.
const REQUESTS: &str = "requests";

/// The production-shape tests: real software from Debian (Redis, curl,
/// OpenSSL, Python with its standard library and the h2 package). The
/// whole suite runs them in the guests; the smoke does not (they prove the
/// verdict, not a signal's numbers).
const PRODUCTION: &str = "production";

/// What the production-shape tests run in the guest.
const PRODUCTION_TOOLS: &[&str] = &[
    "/usr/bin/redis-server",
    "/usr/bin/redis-cli",
    "/usr/bin/curl",
    "/usr/bin/openssl",
    "/usr/bin/python3",
];

/// The guest smoke's test of each kernel test binary: a short one that
/// compares its signal's numbers with the kernel's own accounting.
const SMOKE_TESTS: &[(&str, &str)] = &[
    // The programs' run time and count against the kernel's bpf_stats.
    ("cli", "program_cost_matches_the_kernel"),
    // Preemptions against the kernel's involuntary context switches.
    ("runqueue", "preemptions_equal_involuntary_switches"),
    // Calls per class, their sums between the workload's two clocks.
    ("syscall", "reads_are_classed_by_what_they_read"),
    // Accept-queue depth against ss, overflows against ListenOverflows.
    ("tcp", "accept_queue_matches_ss_and_listen_overflows"),
    // Response times between the server's and the client's clocks.
    (
        "dependency",
        "response_times_per_remote_against_the_client_clock",
    ),
    // Real cgroups in the Kubernetes, Docker and systemd layouts, each
    // labelled as made.
    (
        "identity",
        "kubernetes_docker_and_systemd_layouts_are_labelled_exactly",
    ),
    // Reclaim stalls, OOM kills and PSI against memory.events and the
    // cgroup's own pressure files.
    ("memory", "reclaim_oom_kills_and_psi_against_the_kernel"),
    // Queue times against the workload's clocks (the client's send to the
    // worker's read).
    (
        REQUESTS,
        "requests_waiting_for_the_one_worker_queue_as_the_workload_measured",
    ),
];

/// Host tools the tests run inside the guest.
const GUEST_TOOLS: &[&str] = &["/usr/sbin/ip", "/usr/bin/ss", "/usr/bin/setpriv"];

/// How long a guest of the whole suite may run: a hung guest's bound, well
/// above the suite's 26 minutes on a slow machine.
const SUITE_TIMEOUT: Duration = Duration::from_secs(2400);

/// How long a smoke guest may run: a hung guest's bound, well above the
/// smoke's few minutes.
const SMOKE_TIMEOUT: Duration = Duration::from_secs(900);

/// One run of a test binary in the guest: all its tests, or one.
struct GuestRun {
    binary: &'static str,
    only: Option<&'static str>,
}

/// Runs the test binaries `tests` (default: every kernel test) on each of
/// `names` (default: every kernel of the matrix), in guests of `cpus` vCPUs.
pub fn vm_test(names: &[String], tests: &[String], cpus: u32) -> Result<()> {
    let runs = selected_tests(tests)?
        .into_iter()
        .map(|binary| GuestRun { binary, only: None })
        .collect::<Vec<_>>();
    run_guests("vm-test", names, &runs, cpus, SUITE_TIMEOUT)
}

/// The guest smoke: on each of `names` (default: every kernel of the
/// matrix), `check` shows every signal available (or degraded by name) and
/// each kernel test binary's smoke test passes.
pub fn smoke(names: &[String]) -> Result<()> {
    let runs = SMOKE_TESTS
        .iter()
        .map(|&(binary, test)| GuestRun {
            binary,
            only: Some(test),
        })
        .collect::<Vec<_>>();
    run_guests("smoke", names, &runs, 2, SMOKE_TIMEOUT)
}

/// Boots a guest per kernel of `names` (default: all) that runs `runs`,
/// as many at once as the host has CPUs, each a step `STEP KERNEL`.
fn run_guests(
    step: &str,
    names: &[String],
    runs: &[GuestRun],
    cpus: u32,
    timeout: Duration,
) -> Result<()> {
    let kernels = timed("kernel packages", || {
        kernels(names)?
            .into_iter()
            .map(|kernel| Ok((kernel, fetch_kernel(kernel)?)))
            .collect::<Result<Vec<_>>>()
    })?;
    let binaries = test::build_all()?;
    let initrd = timed("initramfs", || {
        let tests = runs
            .iter()
            .map(|run| {
                let binary = binaries
                    .iter()
                    .find(|b| b.is_integration() && b.name == run.binary)
                    .with_context(|| format!("cargo built no test binary {}", run.binary))?;
                Ok((run.binary.to_string(), binary.executable.clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        // One kernel may boot twice (with another command line).
        let mut vmlinuzes: Vec<PathBuf> = kernels.iter().map(|(_, v)| v.clone()).collect();
        vmlinuzes.sort();
        vmlinuzes.dedup();
        build_initramfs(
            &guest_script(runs),
            &tests,
            &vmlinuzes,
            &build::workload_binary(false),
        )
    })?;
    let smp = cpus.to_string();
    let machine = test_machine(&smp);
    // Each guest is one host thread (TCG): as many run at once as the host
    // has CPUs.
    let at_once = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut failed = Vec::new();
    for batch in kernels.chunks(at_once) {
        let results: Vec<Result<bool>> = std::thread::scope(|scope| {
            let guests: Vec<_> = batch
                .iter()
                .map(|(kernel, vmlinuz)| {
                    let (initrd, machine) = (&initrd, &machine);
                    scope.spawn(move || {
                        let started = Instant::now();
                        let passed =
                            run_guest(kernel, vmlinuz, initrd, machine, runs, cpus, timeout);
                        let ok = matches!(passed, Ok(true));
                        steps::record(format!("{step} {}", kernel.name), started.elapsed(), ok);
                        passed
                    })
                })
                .collect();
            guests
                .into_iter()
                .map(|guest| guest.join().expect("a guest's thread panicked"))
                .collect()
        });
        for ((kernel, _), result) in batch.iter().zip(results) {
            if !result? {
                failed.push(kernel.name);
            }
        }
    }
    if !failed.is_empty() {
        bail!("the guest {step} failed on kernel(s) {}", failed.join(", "));
    }
    Ok(())
}

/// Boots the test guest of kernel `name` and reports `check` and each test
/// binary's status as it ends; whether `check` found every signal and all
/// `runs` passed.
fn run_guest(
    kernel: &Kernel,
    vmlinuz: &Path,
    initrd: &Path,
    machine: &[&str],
    runs: &[GuestRun],
    cpus: u32,
    timeout: Duration,
) -> Result<bool> {
    let name = kernel.name;
    let started = Instant::now();
    let mut statuses = Vec::new();
    let mut signals = None;
    let log = boot(vmlinuz, initrd, machine, kernel.append, timeout, |line| {
        if let Some(json) = line.strip_prefix("VMTEST-CHECK ") {
            let found = signals_found(json);
            match &found {
                Ok(summary) => eprintln!("xtask: vm-test: {name}:   check: {summary}"),
                Err(err) => eprintln!("xtask: vm-test: {name}:   check: FAILED: {err}"),
            }
            signals = Some(found.is_ok());
        } else if let Some(rest) = line.strip_prefix("VMTEST-STATUS ") {
            let mut parts = rest.split_whitespace();
            let (test, status) = (parts.next().unwrap_or("?"), parts.next().unwrap_or("?"));
            eprintln!(
                "xtask: vm-test: {name}:   {test}: {}",
                if status == "0" { "ok" } else { "FAILED" }
            );
            statuses.push(status == "0");
        }
    })?;
    let passed = signals == Some(true)
        && log.contains("VMTEST-DONE")
        && statuses.len() == runs.len()
        && statuses.iter().all(|ok| *ok);
    let took = started.elapsed().as_secs();
    let log_file = save_log(name, &log)?;
    if passed {
        eprintln!(
            "xtask: vm-test: kernel {name} ({}, {cpus} vCPUs): PASS in {took} s (guest output: {})",
            vmlinuz.display(),
            log_file.display()
        );
    } else {
        eprintln!("xtask: vm-test: kernel {name}: FAIL in {took} s; the guest's output:\n{log}");
    }
    Ok(passed)
}

/// What `check --format json` said of the signals: every signal available,
/// some perhaps degraded (named, with what they lose); an error names any
/// signal that is unavailable, or says why the probe cannot run.
fn signals_found(json: &str) -> Result<String> {
    let report = CheckReport::parse(json).map_err(anyhow::Error::msg)?;
    if !report.can_run {
        bail!("the probe cannot run: {json}");
    }
    let (mut available, mut degraded, mut unavailable) = (Vec::new(), Vec::new(), Vec::new());
    for (item, verdict, detail) in &report.checks {
        let Some(signal) = item.strip_prefix("signal ") else {
            continue;
        };
        match verdict.as_str() {
            "ok" => available.push(signal),
            _ if detail.starts_with("degraded") => degraded.push(format!("{signal} ({detail})")),
            _ => unavailable.push(format!("{signal} ({detail})")),
        }
    }
    if !unavailable.is_empty() || available.is_empty() {
        bail!(
            "signals unavailable: {}; available: {}",
            unavailable.join(", "),
            available.join(", ")
        );
    }
    let mut summary = format!("every signal available: {}", available.join(", "));
    if !degraded.is_empty() {
        summary.push_str(&format!("; degraded: {}", degraded.join(", ")));
    }
    Ok(summary)
}

/// The guest's test run: `check`, then each of `runs`, with its exit status.
fn guest_script(runs: &[GuestRun]) -> String {
    let mut script =
        String::from("echo \"VMTEST-CHECK $(/bin/pressure-probe check --format json)\"\n");
    for GuestRun { binary, only } in runs {
        let only = only
            .map(|test| format!(" --exact {test}"))
            .unwrap_or_default();
        script.push_str(&format!(
            "echo \"VMTEST-RUN {binary}\"\ndeps/{binary} --test-threads=1{only}\n\
             echo \"VMTEST-STATUS {binary} $?\"\n"
        ));
    }
    script.push_str("echo VMTEST-DONE\n");
    script
}

/// The kernel test binaries called `names` (default: all of them).
fn selected_tests(names: &[String]) -> Result<Vec<&'static str>> {
    if names.is_empty() {
        return Ok(KERNEL_TESTS.to_vec());
    }
    names
        .iter()
        .map(|name| {
            KERNEL_TESTS
                .iter()
                .find(|t| **t == name)
                .copied()
                .with_context(|| {
                    format!(
                        "unknown kernel test {name}; known: {}",
                        KERNEL_TESTS.join(", ")
                    )
                })
        })
        .collect()
}

/// Looks up kernels of the matrix by name (default: those run by default).
fn kernels(names: &[String]) -> Result<Vec<&'static Kernel>> {
    if names.is_empty() {
        return Ok(KERNELS.iter().filter(|k| k.by_default).collect());
    }
    names.iter().map(|name| kernel(name)).collect()
}

/// The kernel of the matrix called `name`.
pub fn kernel(name: &str) -> Result<&'static Kernel> {
    KERNELS.iter().find(|k| k.name == name).with_context(|| {
        let known: Vec<&str> = KERNELS.iter().map(|k| k.name).collect();
        format!("unknown kernel {name}; known: {}", known.join(", "))
    })
}

/// Keeps a guest's console output under the cache; returns the file.
pub fn save_log(name: &str, log: &str) -> Result<PathBuf> {
    let file = cache().join(format!("guest-{name}.log"));
    fs::write(&file, log)?;
    Ok(file)
}

fn cache() -> PathBuf {
    workspace_root().join("target/xtask/vm")
}

/// Downloads and unpacks the newest package of `kernel`; returns its vmlinuz.
pub fn fetch_kernel(kernel: &Kernel) -> Result<PathBuf> {
    let apt = Apt::of(kernel.suite)?;
    let newest = || {
        let list =
            output(
                apt.command("apt-cache")
                    .args(["search", "--names-only", kernel.package]),
            )?;
        list.lines()
            .filter_map(|l| l.split_whitespace().next())
            .max_by(|a, b| version_key(a).cmp(&version_key(b)))
            .map(str::to_string)
    };
    let package = match newest() {
        Some(package) => package,
        None => {
            // The package lists may be missing or old.
            apt.update()?;
            newest().with_context(|| format!("no kernel package matches {}", kernel.package))?
        }
    };
    let dir = cmd::download_cache().join("kernels").join(&package);
    let boot = dir.join("boot");
    if !boot.is_dir() {
        let downloads = cmd::download_cache().join("kernels/downloads");
        fs::create_dir_all(&downloads)?;
        eprintln!("xtask: vm-test: downloading {package}");
        let download = || {
            cmd::run(
                apt.command("apt-get")
                    .args(["download", &package])
                    .current_dir(&downloads),
            )
        };
        if download().is_err() {
            // An old package list can name a version the archive no longer has.
            apt.update()?;
            download()?;
        }
        let deb = find_file(&downloads, &format!("{package}_"))?;
        cmd::run(
            packages::package_manager("dpkg")
                .arg("-x")
                .arg(&deb)
                .arg(&dir),
        )?;
    }
    find_file(&boot, "vmlinuz-")
}

/// apt, for the host's suites or, with a configuration of its own under
/// target/ (its sources, lists and cache; the host's left alone), for
/// another Debian suite.
struct Apt {
    /// `-o` options of the suite's own configuration (none for the host's).
    options: Vec<String>,
}

impl Apt {
    /// apt for `suite` (`None`: the host's).
    fn of(suite: Option<&str>) -> Result<Apt> {
        let Some(suite) = suite else {
            return Ok(Apt {
                options: Vec::new(),
            });
        };
        let root = cache().join("apt").join(suite);
        for dir in ["lists/partial", "archives/partial"] {
            fs::create_dir_all(root.join(dir))?;
        }
        let sources = root.join("sources.list");
        fs::write(
            &sources,
            format!(
                "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] \
                 http://deb.debian.org/debian {suite} main\n"
            ),
        )?;
        let status = root.join("status");
        if !status.exists() {
            fs::write(&status, "")?;
        }
        let path = |p: PathBuf| p.display().to_string();
        Ok(Apt {
            options: [
                ("Dir::Etc::sourcelist", path(sources)),
                ("Dir::Etc::sourceparts", "-".to_string()),
                ("Dir::State", path(root.clone())),
                ("Dir::State::status", path(status)),
                ("Dir::Cache", path(root)),
                ("Debug::NoLocking", "1".to_string()),
            ]
            .iter()
            .flat_map(|(key, value)| ["-o".to_string(), format!("{key}={value}")])
            .collect(),
        })
    }

    /// `program` (apt-get, apt-cache) with this configuration.
    fn command(&self, program: &str) -> Command {
        let mut command = packages::package_manager(program);
        command.args(&self.options);
        command
    }

    /// Reads the package lists again.
    fn update(&self) -> Result<()> {
        if self.options.is_empty() {
            return packages::apt_update();
        }
        cmd::run(self.command("apt-get").args(["update", "-q"]))
    }
}

/// The first file in `dir` whose name starts with `prefix`.
fn find_file(dir: &Path, prefix: &str) -> Result<PathBuf> {
    fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .with_context(|| format!("no {prefix}* in {}", dir.display()))
}

/// Numeric parts of a package name, for picking the newest.
fn version_key(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Copies `from` to `root/to`, without debug info for our own binaries.
fn install(from: &Path, root: &Path, to: &str, strip: bool) -> Result<()> {
    let dest = root.join(to.trim_start_matches('/'));
    fs::create_dir_all(dest.parent().unwrap())?;
    if strip {
        cmd::run(
            Command::new("objcopy")
                .arg("--strip-debug")
                .arg(from)
                .arg(&dest),
        )?;
    } else {
        fs::copy(from, &dest).with_context(|| format!("cannot copy {}", from.display()))?;
    }
    Ok(())
}

/// The shared libraries `binary` loads, the dynamic loader included.
fn shared_libraries(binary: &Path) -> Result<BTreeSet<PathBuf>> {
    let listing = output(Command::new("ldd").arg(binary)).unwrap_or_default();
    Ok(listing
        .lines()
        .filter_map(|line| {
            let path = line.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// Builds the guest's initramfs, with the agent, the workload and `tests`
/// (name, binary) under `/t/deps`, and the RAM-disk module of each of
/// `kernels` (their vmlinuz, as `fetch_kernel` unpacked them); its `/init`
/// sets the guest up and runs `script` (busybox sh) from `/t`. The
/// workload is the binary `workload`.
pub fn build_initramfs(
    script: &str,
    tests: &[(String, PathBuf)],
    kernels: &[PathBuf],
    workload: &Path,
) -> Result<PathBuf> {
    let root = cache().join("initramfs");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    let mut libraries = BTreeSet::new();
    install(&agent_binary(false), &root, "/bin/pressure-probe", true)?;
    install(workload, &root, "/t/pp-workload", true)?;
    libraries.extend(shared_libraries(workload)?);
    libraries.extend(shared_libraries(&agent_binary(false))?);
    for (name, exe) in tests {
        libraries.extend(shared_libraries(exe)?);
        install(exe, &root, &format!("/t/deps/{name}"), true)?;
    }
    if tests
        .iter()
        .any(|(name, _)| name == PRODUCTION || name == REQUESTS)
    {
        libraries.extend(install_production_software(&root)?);
    }
    for tool in GUEST_TOOLS {
        libraries.extend(shared_libraries(Path::new(tool))?);
        install(
            Path::new(tool),
            &root,
            &format!(
                "/usr/bin/{}",
                Path::new(tool).file_name().unwrap().to_string_lossy()
            ),
            false,
        )?;
    }
    for library in &libraries {
        let resolved = fs::canonicalize(library)?;
        install(&resolved, &root, &library.to_string_lossy(), false)?;
    }
    for vmlinuz in kernels {
        install_guest_modules(vmlinuz, &root)?;
    }
    install(Path::new("/bin/busybox"), &root, "/bin/busybox", false)?;
    for (path, text) in [("init", GUEST_INIT), ("t/run", script)] {
        let file = root.join(path);
        fs::write(&file, text)?;
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755))?;
    }
    let initrd = cache().join("initramfs.cpio.gz");
    pack_initramfs(&root, &initrd)?;
    Ok(initrd)
}

/// Copies into `root` what the production-shape tests run: the programs of
/// [`PRODUCTION_TOOLS`], Python's standard library (its tests left out),
/// the h2 package from the tests' virtual environment, OpenSSL's
/// configuration and the tests' Python scripts (at the path the test
/// binaries were built with). Returns the shared libraries they load.
fn install_production_software(root: &Path) -> Result<BTreeSet<PathBuf>> {
    let mut libraries = BTreeSet::new();
    for tool in PRODUCTION_TOOLS {
        libraries.extend(shared_libraries(Path::new(tool))?);
        install(Path::new(tool), root, tool, false)?;
    }
    // The standard library of the python3 copied, not whichever
    // /usr/lib/python3.* a directory listing gives first.
    let stdlib = PathBuf::from(
        output(Command::new("/usr/bin/python3").args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('stdlib'))",
        ]))
        .context("python3 does not say where its standard library is")?
        .trim(),
    );
    copy_tree(&stdlib, root)?;
    let _ = fs::remove_dir_all(root.join(stdlib.strip_prefix("/")?).join("test"));
    for module in fs::read_dir(stdlib.join("lib-dynload"))? {
        libraries.extend(shared_libraries(&module?.path())?);
    }
    let python_tools = packages::ensure_python_tools(packages::TEST_PYTHON)?;
    let site = python_tools
        .parent()
        .context("the virtual environment has no root")?
        .join("lib")
        .join(stdlib.file_name().context("no Python version")?)
        .join("site-packages");
    let dist = root.join("usr/lib/python3/dist-packages");
    fs::create_dir_all(&dist)?;
    for package in ["h2", "hpack", "hyperframe"] {
        cmd::run(
            Command::new("cp")
                .arg("-a")
                .arg(site.join(package))
                .arg(&dist),
        )?;
    }
    copy_tree(Path::new("/usr/lib/ssl"), root)?;
    install(
        Path::new("/etc/ssl/openssl.cnf"),
        root,
        "/etc/ssl/openssl.cnf",
        false,
    )?;
    copy_tree(&workspace_root().join("tests/python"), root)?;
    Ok(libraries)
}

/// Copies the folder `from` to the same path below `root`.
fn copy_tree(from: &Path, root: &Path) -> Result<()> {
    let to = root.join(from.strip_prefix("/")?);
    fs::create_dir_all(to.parent().context("a folder without a parent")?)?;
    cmd::run(Command::new("cp").arg("-a").arg(from).arg(&to))
}

/// The kernel modules the guest loads, in this order (path below the
/// release's `kernel/`): `brd`, a RAM disk the guest makes an ext2 file
/// system on for `/var/tmp` (a disk whose page cache reclaim can take
/// back, which tmpfs, the rest of the guest, is not); `inet_diag` and
/// `tcp_diag`, the sockets' view `ss` reads (class ids, for one).
const GUEST_MODULES: [&str; 3] = [
    "drivers/block/brd",
    "net/ipv4/inet_diag",
    "net/ipv4/tcp_diag",
];

/// Copies [`GUEST_MODULES`] of the kernel of `vmlinuz` to
/// `root/lib/modules/<release>/<name>.ko`, uncompressed (busybox `insmod`
/// reads plain modules).
fn install_guest_modules(vmlinuz: &Path, root: &Path) -> Result<()> {
    let package = vmlinuz
        .parent()
        .and_then(Path::parent)
        .with_context(|| format!("{} is not in an unpacked package", vmlinuz.display()))?;
    let modules = find_file(&package.join("lib/modules"), "")?;
    let release = modules.file_name().unwrap().to_string_lossy().into_owned();
    for module in GUEST_MODULES {
        let name = Path::new(module).file_name().unwrap().to_string_lossy();
        let dest = root.join(format!("lib/modules/{release}/{name}.ko"));
        fs::create_dir_all(dest.parent().unwrap())?;
        let plain = modules.join(format!("kernel/{module}.ko"));
        if plain.is_file() {
            fs::copy(&plain, &dest).with_context(|| format!("cannot copy {}", plain.display()))?;
            continue;
        }
        let compressed = modules.join(format!("kernel/{module}.ko.xz"));
        let xz = Command::new("xz")
            .arg("-dc")
            .arg(&compressed)
            .output()
            .context("cannot start xz")?;
        if !xz.status.success() {
            bail!(
                "cannot uncompress {}: {}",
                compressed.display(),
                String::from_utf8_lossy(&xz.stderr)
            );
        }
        fs::write(&dest, xz.stdout)?;
    }
    Ok(())
}

/// Packs the tree at `root` into the gzipped cpio archive `out` (the
/// initramfs format): `find . | cpio -o -H newc | gzip`, piped without a
/// shell, so that no path is ever parsed as shell words.
fn pack_initramfs(root: &Path, out: &Path) -> Result<()> {
    let archive =
        fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut find = Command::new("find")
        .arg(".")
        .current_dir(root)
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start find")?;
    let mut cpio = Command::new("cpio")
        .args(["--quiet", "-o", "-H", "newc"])
        .current_dir(root)
        .stdin(find.stdout.take().expect("piped"))
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start cpio")?;
    let mut gzip = Command::new("gzip")
        .arg("-1")
        .stdin(cpio.stdout.take().expect("piped"))
        .stdout(archive)
        .spawn()
        .context("cannot start gzip")?;
    for (name, child) in [
        ("find", &mut find),
        ("cpio", &mut cpio),
        ("gzip", &mut gzip),
    ] {
        let status = child.wait()?;
        if !status.success() {
            bail!("{name} failed ({status}) packing {}", root.display());
        }
    }
    Ok(())
}

/// The guest's `/init`: mounts what the tests need, runs `/t/run`, powers off.
const GUEST_INIT: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/sbin /proc /sys /dev /tmp /run /root
/bin/busybox --install -s
export PATH=/usr/bin:/usr/sbin:/bin:/sbin HOME=/root PRESSURE_PROBE_BIN=/bin/pressure-probe RUST_BACKTRACE=1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mkdir -p /var/tmp
if insmod /lib/modules/$(uname -r)/brd.ko rd_nr=1 rd_size=524288 && mke2fs -q /dev/ram0 &&
    mount -t ext2 /dev/ram0 /var/tmp; then
    echo "VMTEST-DISK /var/tmp is ext2 on a 512 MiB RAM disk"
else
    echo "VMTEST-DISK no RAM disk: /var/tmp is the initramfs (tests that need page cache fail)"
fi
insmod /lib/modules/$(uname -r)/inet_diag.ko && insmod /lib/modules/$(uname -r)/tcp_diag.ko ||
    echo "VMTEST-DIAG no inet_diag: ss cannot show class ids"
ip link set lo up
echo "VMTEST-KERNEL $(uname -r)"
cd /t
/bin/busybox sh /t/run
poweroff -f
"#;

/// The test guest: `cpus` vCPUs on one host thread (multi-threaded TCG
/// lets a vCPU run kernel text another is patching, tracepoint static
/// keys, which crashed guests here).
fn test_machine(cpus: &str) -> [&str; 4] {
    ["-accel", "tcg,thread=single", "-smp", cpus]
}

/// Boots `vmlinuz` with `initrd` on `machine` (QEMU options), `append`
/// added to its command line, handing each console line to `on_line`;
/// returns the console output.
pub fn boot(
    vmlinuz: &Path,
    initrd: &Path,
    machine: &[&str],
    append: &str,
    timeout: Duration,
    mut on_line: impl FnMut(&str),
) -> Result<String> {
    let mut child = Command::new("qemu-system-x86_64")
        .args(machine)
        .args(["-cpu", "max", "-m", "2048"])
        .args([
            "-nographic",
            "-no-reboot",
            "-serial",
            "stdio",
            "-monitor",
            "none",
        ])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(format!("console=ttyS0 panic=-1 quiet {append}").trim_end())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start qemu-system-x86_64")?;
    Ok(console(&mut child, timeout, &mut on_line))
}

/// Reads `child`'s standard output line by line, handing each to `on_line`,
/// until it ends or `timeout` passes (then the child is killed, even if it
/// prints nothing at all); returns what it printed.
fn console(child: &mut Child, timeout: Duration, on_line: &mut impl FnMut(&str)) -> String {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut log = String::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                on_line(line.trim());
                log.push_str(&line);
                log.push('\n');
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                log.push_str("(timed out)\n");
                break;
            }
        }
    }
    let _ = child.wait();
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_guest_times_out() {
        let mut child = Command::new("sh")
            .args(["-c", "echo booting; exec sleep 60"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut lines = Vec::new();
        let log = console(&mut child, Duration::from_secs(1), &mut |l| {
            lines.push(l.to_string())
        });
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(lines, ["booting"]);
        assert!(log.ends_with("(timed out)\n"), "{log}");
    }

    #[test]
    fn the_smoke_runs_one_test_per_kernel_binary() {
        let smoke: Vec<&str> = SMOKE_TESTS.iter().map(|(binary, _)| *binary).collect();
        let kernel: Vec<&str> = KERNEL_TESTS
            .iter()
            .copied()
            .filter(|t| *t != PRODUCTION)
            .collect();
        assert_eq!(smoke, kernel);
        let runs = [
            GuestRun {
                binary: "tcp",
                only: Some("accept_queue_matches_ss_and_listen_overflows"),
            },
            GuestRun {
                binary: "cli",
                only: None,
            },
        ];
        let script = guest_script(&runs);
        assert!(script.starts_with("echo \"VMTEST-CHECK $(/bin/pressure-probe check"));
        assert!(script.contains(
            "deps/tcp --test-threads=1 --exact accept_queue_matches_ss_and_listen_overflows\n"
        ));
        assert!(script.contains("deps/cli --test-threads=1\necho \"VMTEST-STATUS cli $?\""));
        assert!(script.ends_with("echo VMTEST-DONE\n"));
        // Test names reach the shell unquoted.
        for (_, test) in SMOKE_TESTS {
            assert!(test.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }

    #[test]
    fn check_must_show_every_signal() {
        let check = |checks: &str| format!(r#"{{"can_run": true, "checks": [{checks}]}}"#);
        let ok = r#"{"item": "signal runq", "verdict": "ok", "detail": "available"}"#;
        let degraded = r#"{"item": "signal tcp", "verdict": "info", "detail": "degraded: no fill"}, {"item": "signal tcp", "verdict": "ok", "detail": "available"}"#;
        let missing =
            r#"{"item": "signal memory", "verdict": "info", "detail": "unavailable: no hook"}"#;
        assert_eq!(
            signals_found(&check(ok)).unwrap(),
            "every signal available: runq"
        );
        assert_eq!(
            signals_found(&check(&format!("{ok}, {degraded}"))).unwrap(),
            "every signal available: runq, tcp; degraded: tcp (degraded: no fill)"
        );
        let err = signals_found(&check(&format!("{ok}, {missing}"))).unwrap_err();
        assert!(
            err.to_string().contains("memory (unavailable: no hook)"),
            "{err}"
        );
        assert!(signals_found(r#"{"can_run": false, "checks": []}"#).is_err());
        assert!(signals_found(&check("")).is_err());
        assert!(signals_found("not json").is_err());
    }

    #[test]
    fn initramfs_paths_are_not_shell_words() {
        let base =
            std::env::temp_dir().join(format!("pp initramfs; echo $HOME {}", std::process::id()));
        let root = base.join("root $(true)");
        fs::create_dir_all(root.join("t")).unwrap();
        fs::write(root.join("t/run"), "echo hi").unwrap();
        let out = base.join("out put.cpio.gz");
        pack_initramfs(&root, &out).unwrap();
        let listing = Command::new("sh")
            .arg("-c")
            .arg("gzip -dc | cpio -t --quiet")
            .stdin(fs::File::open(&out).unwrap())
            .output()
            .unwrap();
        let names = String::from_utf8_lossy(&listing.stdout).into_owned();
        fs::remove_dir_all(&base).unwrap();
        assert!(names.lines().any(|l| l == "t/run"), "{names}");
    }
}
