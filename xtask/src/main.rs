//! Developer tasks for pressure-probe: `cargo xtask <command>`.
//!
//! `setup` installs what the eBPF build needs; `build`, `run`, `test`, `lint`
//! and `bench` set up as needed, build only what changed, and do their job.

mod bench;
mod build;
mod ci;
mod cmd;
mod cross;
mod hook_bench;
mod image;
mod loadtest;
mod object_check;
mod packages;
mod scale;
mod setup;
mod steps;
mod test;
mod vm;

use std::{process::ExitCode, time::Instant};

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::packages::Requirement;

/// Build, run, test and benchmark pressure-probe.
#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install the eBPF toolchain: nightly rust-src and bpf-linker built
    /// against nightly's own LLVM. Idempotent.
    Setup,
    /// Build the eBPF object and the agent that embeds it.
    Build {
        /// Optimised agent build.
        #[arg(long)]
        release: bool,
        /// Build the agent for this target (x86_64-unknown-linux-gnu or
        /// aarch64-unknown-linux-gnu; another architecture's is
        /// cross-compiled, its linker installed from Debian) into
        /// target/TRIPLE/. The kernel object is the same for every
        /// architecture.
        #[arg(long, value_name = "TRIPLE")]
        target: Option<String>,
    },
    /// Build the container image from the Dockerfile, for amd64 and arm64,
    /// with docker (buildx) or podman; says so where neither runs.
    Image {
        /// The image's name and tag (default
        /// ghcr.io/pressure-probe/pressure-probe:VERSION).
        #[arg(long)]
        tag: Option<String>,
        /// Platforms (default linux/amd64,linux/arm64 when pushing; docker
        /// loads only the host's otherwise).
        #[arg(long)]
        platform: Option<String>,
        /// Push the image (a multi-platform image must be pushed).
        #[arg(long)]
        push: bool,
    },
    /// Set up, build and run the agent (as root, through sudo if needed).
    /// Arguments after `--` go to `pressure-probe`; default `run`.
    Run {
        /// Optimised agent build.
        #[arg(long)]
        release: bool,
        /// Arguments for pressure-probe.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Set up (test packages included), build, and run the unit and
    /// integration tests against the real kernel. Needs root.
    Test {
        /// Extra arguments for the test binaries (a test name filter, ...).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// rustfmt check and clippy with warnings denied, kernel side included.
    Lint,
    /// The landing check (what `.ci/run` runs): lint, `test`, and a guest
    /// smoke on each vm-test kernel (`check` shows every signal, and one
    /// short test per kernel-facing test binary compares its numbers with
    /// the kernel's). Needs root. Ends with the time of every step.
    Ci {
        /// Everything instead: lint, the arm64 agent (run under QEMU user
        /// mode), `test`, `loadtest --quick` and the whole kernel-facing
        /// suite in every guest (`vm-test`). Run it before committing a
        /// change to a kernel program, the loader, the offsets read from
        /// BTF or the guests.
        #[arg(long)]
        full: bool,
    },
    /// Run the kernel-facing integration tests on other kernels (Debian's
    /// 6.1 and 6.12 cloud kernels, 6.12 also in confidentiality lockdown)
    /// under QEMU with software emulation.
    VmTest {
        /// Kernels to test (6.1, 6.12, 6.12-lockdown); default 6.1 and 6.12.
        #[arg(long = "kernel", value_name = "NAME")]
        kernels: Vec<String>,
        /// Test binaries to run (cli, runqueue, syscall, tcp, dependency,
        /// identity, memory, production); default all.
        #[arg(long = "test", value_name = "NAME")]
        tests: Vec<String>,
        /// The guest's vCPUs (more CPUs than a container has threads: its
        /// threads migrate while they wait).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=8))]
        cpus: u32,
        /// Only the guest smoke `ci` runs: `check`, then one short test per
        /// kernel-facing test binary.
        #[arg(long, conflicts_with_all = ["tests", "cpus"])]
        smoke: bool,
    },
    /// Measure each signal's overhead against the bare system and the
    /// empty-hook floor (sched pipe for runq, a getppid loop and a one-byte
    /// read loop for syscall, loopback TCP connections for tcp, loopback
    /// requests and answers for dependency). Needs root.
    Bench {
        /// Only these signals' workloads (repeatable; default: all).
        #[arg(long = "signal", value_name = "SIGNAL")]
        signals: Vec<String>,
        /// Rounds per configuration (the median is reported).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Iterations per round: `perf bench sched pipe` operations, ten
        /// times as many `getppid()` calls and `read()`s, a tenth as many
        /// TCP connections, as many request/answer round trips.
        #[arg(long, default_value_t = 200_000)]
        loops: u64,
        /// Instead: the agent at scale, with this many containers (repeatable;
        /// default 100, 500, 1000 and 5000): series per container, bytes per
        /// scrape, memory and CPU.
        #[arg(long, value_name = "CONTAINERS", num_args = 0..=1, default_missing_value = "0")]
        scale: Vec<usize>,
    },
    /// Load-test baselines with Locust: for each scenario (one bottleneck
    /// each), ramp users in steps against the demo service, find the knee,
    /// and check that the probe names the bottleneck there; reports in
    /// target/loadtest/<scenario>/. Needs root.
    Loadtest {
        /// Scenarios to run (repeatable; default: all): cpu, neighbour,
        /// accept_queue, dependency, storage, memory.
        #[arg(long = "scenario", value_name = "NAME")]
        scenarios: Vec<String>,
        /// Short steps and think times (about a minute per scenario), as CI
        /// runs it.
        #[arg(long)]
        quick: bool,
    },
    /// Compare the TCP fill hook's two ways of attaching, tp_btf/sk_data_ready
    /// and fentry/sock_def_readable, in a Debian 6.12 guest (the host refuses
    /// fentry), counting guest instructions per operation with QEMU -icount.
    HookBench {
        /// Rounds per configuration (the median is reported).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
}

impl Command {
    /// Its name, and the programs it runs (`None`: the caller's own, for
    /// `image`, which uses whichever container engine the host has).
    fn programs(&self) -> Result<Option<(&'static str, Vec<Requirement>)>> {
        let with_build =
            |step, extra: &[Requirement]| Some((step, [packages::BUILD, extra].concat()));
        Ok(match self {
            Command::Setup => with_build("setup", &[]),
            Command::Build { target: None, .. } => with_build("build", &[]),
            Command::Build {
                target: Some(triple),
                ..
            } => with_build("build", &cross::programs(triple)?),
            Command::Image { .. } => None,
            Command::Run { .. } if cmd::is_root() => with_build("run", &[]),
            Command::Run { .. } => with_build("run", &[("sudo", "sudo")]),
            Command::Test { .. } => with_build("test", packages::TEST),
            Command::Lint => with_build("lint", &[]),
            Command::Ci { full: false } => {
                with_build("ci", &[packages::TEST, packages::VM].concat())
            }
            Command::Ci { full: true } => with_build(
                "ci",
                &[
                    packages::TEST,
                    packages::VM,
                    packages::LOADTEST,
                    cross::programs(ci::ARM64)?.as_slice(),
                ]
                .concat(),
            ),
            Command::VmTest { .. } | Command::HookBench { .. } => {
                with_build("vm-test", packages::VM)
            }
            Command::Bench { .. } => with_build("bench", packages::BENCH),
            Command::Loadtest { .. } => with_build("loadtest", packages::LOADTEST),
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let started = Instant::now();
    let provided = cli.command.programs().and_then(|programs| match programs {
        Some((step, programs)) => steps::timed("packages", || packages::provide(step, &programs)),
        None => Ok(()),
    });
    if let Err(err) = provided {
        eprintln!("xtask: error: {err:#}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Setup => setup::setup(),
        Command::Build {
            release,
            target: None,
        } => build::build(release).map(drop),
        Command::Build {
            release,
            target: Some(triple),
        } => cross::build(&triple, release).map(drop),
        Command::Image {
            tag,
            platform,
            push,
        } => image::image(tag.as_deref(), platform.as_deref(), push),
        Command::Run { release, args } => build::run(release, &args),
        Command::Test { args } => test::test(&args),
        Command::Lint => build::lint(),
        Command::Ci { full } => ci::ci(full),
        Command::VmTest {
            kernels,
            smoke: true,
            ..
        } => vm::smoke(&kernels),
        Command::VmTest {
            kernels,
            tests,
            cpus,
            smoke: false,
        } => vm::vm_test(&kernels, &tests, cpus),
        Command::Bench { scale, .. } if !scale.is_empty() => scale::scale(&scale),
        Command::Bench {
            rounds,
            loops,
            signals,
            ..
        } => bench::bench(rounds, loops, &signals),
        Command::HookBench { rounds } => hook_bench::hook_bench(rounds),
        Command::Loadtest { scenarios, quick } => loadtest::loadtest(&scenarios, quick),
    };
    steps::report(started);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
