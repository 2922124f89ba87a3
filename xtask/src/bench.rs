//! `cargo xtask bench`: what each signal's programs cost on their hot path,
//! measured bare, with empty programs on the same hooks (the floor every
//! probe pays), and with the probe, interleaved round by round so that drift
//! on a noisy machine hits all three alike.
//!
//! - run queue: `perf bench sched pipe` pinned to one CPU, two wakeups and
//!   two context switches per operation, µs per operation;
//! - syscalls: a `getppid()` loop pinned to one CPU, ns per call, and a
//!   loop of one-byte `read()`s from `/dev/zero` (a syscall on a file
//!   descriptor: its class comes from what the fd is);
//! - TCP: loopback connections, each accepted and closed, pinned to one CPU
//!   (`pp-workload handshakes`), ns per connection;
//! - dependency: one-byte requests and answers over one loopback
//!   connection, pinned to one CPU (`pp-workload roundtrips`), ns per
//!   round trip (two sends, two arrivals, one response time);
//! - requests: the same round trips, seen from the server side (its
//!   accepted socket: an arrival, a read and a send per round trip, one
//!   queue and one response time).

use std::{path::Path, process::Command};

use anyhow::{Context, Result, bail};
use integration_tests::agent::Agent;

use crate::{
    build,
    cmd::{is_root, output},
};

/// A configuration to measure.
#[derive(Clone, Copy)]
enum Config {
    Bare,
    Floor,
    Probe,
}

impl Config {
    const ALL: [Config; 3] = [Config::Bare, Config::Floor, Config::Probe];

    fn name(self) -> &'static str {
        match self {
            Config::Bare => "bare",
            Config::Floor => "empty hooks (floor)",
            Config::Probe => "probe",
        }
    }

    fn programs_flag(self) -> Option<&'static str> {
        match self {
            Config::Bare => None,
            Config::Floor => Some("empty"),
            Config::Probe => Some("probe"),
        }
    }
}

/// One workload: what it runs, its unit, and which signal it exercises.
struct Workload {
    title: &'static str,
    unit: &'static str,
    signal: &'static str,
    goal: Option<f64>,
    measure: fn(usize, u64) -> Result<f64>,
}

const WORKLOADS: [Workload; 6] = [
    Workload {
        title: "sched pipe (2 wakeups + 2 switches per op)",
        unit: "µs/op",
        signal: "runq",
        goal: Some(2.0),
        measure: sched_pipe_usecs,
    },
    Workload {
        title: "getppid() loop",
        unit: "ns/call",
        signal: "syscall",
        goal: Some(1.5),
        measure: getppid_nanos,
    },
    Workload {
        title: "read() of one byte from /dev/zero (its class from the fd's inode)",
        unit: "ns/call",
        signal: "syscall",
        goal: None,
        measure: read_nanos,
    },
    Workload {
        title: "TCP connect + accept + close on loopback (one accept-queue fill observation each)",
        unit: "ns/connection",
        signal: "tcp",
        goal: None,
        measure: handshake_nanos,
    },
    Workload {
        title: "TCP request/response on one loopback connection (one response time each)",
        unit: "ns/round trip",
        signal: "dependency",
        goal: Some(1.5),
        measure: roundtrip_nanos,
    },
    Workload {
        title: "the same, seen from the server (one response and one queue time each)",
        unit: "ns/round trip",
        signal: "requests",
        goal: Some(1.5),
        measure: roundtrip_nanos,
    },
];

/// Runs the benchmark and prints medians and ratios.
///
/// Runs the workloads of `signals` (all when empty).
pub fn bench(rounds: usize, loops: u64, signals: &[String]) -> Result<()> {
    if !is_root() {
        bail!(
            "the benchmark attaches eBPF programs and needs root: run `sudo -E cargo xtask bench`"
        );
    }
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let known: Vec<&str> = WORKLOADS.iter().map(|w| w.signal).collect();
    if let Some(unknown) = signals.iter().find(|s| !known.contains(&s.as_str())) {
        bail!(
            "--signal {unknown}: no workload for it; known: {}",
            known.join(", ")
        );
    }
    let agent = build::build(true)?;
    build::workload(true)?;
    let cpu = std::thread::available_parallelism().map_or(1, |n| n.get()) - 1;
    let mut reports = Vec::new();
    for workload in WORKLOADS
        .iter()
        .filter(|w| signals.is_empty() || signals.iter().any(|s| s == w.signal))
    {
        eprintln!(
            "xtask: bench: {} on CPU {cpu}, {loops} iterations, {rounds} rounds, configurations interleaved",
            workload.title
        );
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); Config::ALL.len()];
        for round in 1..=rounds {
            for (i, config) in Config::ALL.iter().enumerate() {
                let running = config
                    .programs_flag()
                    .map(|p| start_agent(&agent, workload.signal, p))
                    .transpose()?;
                let result = (workload.measure)(cpu, loops);
                if let Some(child) = running {
                    stop_agent(child)?;
                }
                let value = result?;
                eprintln!(
                    "xtask: bench: round {round}: {:<20} {value:.3} {}",
                    config.name(),
                    workload.unit
                );
                samples[i].push(value);
            }
        }
        reports.push((
            workload,
            samples.iter_mut().map(|s| median(s)).collect::<Vec<f64>>(),
        ));
    }
    for (workload, medians) in reports {
        print_report(workload, &medians, rounds);
    }
    Ok(())
}

fn print_report(workload: &Workload, medians: &[f64], rounds: usize) {
    let (bare, floor, probe) = (medians[0], medians[1], medians[2]);
    println!();
    println!(
        "{} ({} signal), {}, median of {rounds}:",
        workload.title, workload.signal, workload.unit
    );
    for (config, value) in Config::ALL.iter().zip(medians) {
        println!(
            "  {:<20} {value:>9.3}   ({:+.3} over bare)",
            config.name(),
            value - bare
        );
    }
    println!("  probe / bare                     {:.3}", probe / bare);
    println!("  floor / bare                     {:.3}", floor / bare);
    let floor_added = floor - bare;
    if floor_added > 0.0 {
        let goal = workload
            .goal
            .map(|goal| format!("   (goal: <= {goal})"))
            .unwrap_or_default();
        println!(
            "  probe added cost / floor added   {:.2}{goal}",
            (probe - bare) / floor_added,
        );
    } else {
        println!("  the floor added no measurable cost this run; ratio not meaningful");
    }
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Pins this thread to `cpu`.
fn pin(cpu: usize) -> Result<()> {
    // SAFETY: an all-zero cpu_set_t is a valid, empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of the set it is given.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: sched_setaffinity reads the set, of the size given.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) } != 0 {
        bail!("cannot pin the benchmark to CPU {cpu}");
    }
    Ok(())
}

/// ns per one-byte `read()` from `/dev/zero`, ten times `loops` of them in
/// a loop pinned to `cpu`, run in this process.
fn read_nanos(cpu: usize, loops: u64) -> Result<f64> {
    use std::os::fd::AsRawFd;
    pin(cpu)?;
    let zero = std::fs::File::open("/dev/zero").context("cannot open /dev/zero")?;
    let mut byte = [1u8; 1];
    let calls = loops * 10;
    let started = std::time::Instant::now();
    for _ in 0..calls {
        // SAFETY: reads at most one byte into a one-byte buffer.
        let read = unsafe { libc::read(zero.as_raw_fd(), byte.as_mut_ptr().cast(), 1) };
        std::hint::black_box(read);
    }
    let elapsed = started.elapsed();
    if byte[0] != 0 {
        bail!("read() from /dev/zero did not read");
    }
    Ok(elapsed.as_nanos() as f64 / calls as f64)
}

/// ns per `getppid()` syscall, in a loop pinned to `cpu`, run in this process.
fn getppid_nanos(cpu: usize, loops: u64) -> Result<f64> {
    pin(cpu)?;
    let calls = loops * 10;
    let started = std::time::Instant::now();
    for _ in 0..calls {
        // SAFETY: getppid has no arguments and cannot fail; the raw syscall
        // bypasses any libc caching.
        std::hint::black_box(unsafe { libc::syscall(libc::SYS_getppid) });
    }
    Ok(started.elapsed().as_nanos() as f64 / calls as f64)
}

/// ns per loopback TCP connection (connect, accept, close), a tenth of
/// `loops` of them, by `pp-workload handshakes` pinned to `cpu`.
fn handshake_nanos(cpu: usize, loops: u64) -> Result<f64> {
    workload_ns_per_op("handshakes", cpu, (loops / 10).max(1))
}

/// ns per request and answer over one loopback connection, `loops` of
/// them, by `pp-workload roundtrips` pinned to `cpu`.
fn roundtrip_nanos(cpu: usize, loops: u64) -> Result<f64> {
    workload_ns_per_op("roundtrips", cpu, loops)
}

/// What `pp-workload MODE - COUNT`, pinned to `cpu`, says one operation took.
fn workload_ns_per_op(mode: &str, cpu: usize, count: u64) -> Result<f64> {
    let text = output(
        Command::new("taskset")
            .args(["-c", &cpu.to_string()])
            .arg(build::workload_binary(true))
            .args([mode, "-", &count.to_string()]),
    )
    .with_context(|| format!("pp-workload {mode} failed"))?;
    text.trim()
        .strip_prefix("ns_per_op ")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no ns_per_op in pp-workload output: {text}"))
}

fn sched_pipe_usecs(cpu: usize, loops: u64) -> Result<f64> {
    let text = output(
        Command::new("taskset")
            .args([
                "-c",
                &cpu.to_string(),
                "perf",
                "bench",
                "sched",
                "pipe",
                "-l",
            ])
            .arg(loops.to_string()),
    )
    .context("`perf bench sched pipe` failed")?;
    text.lines()
        .find_map(|line| line.trim().strip_suffix("usecs/op")?.trim().parse().ok())
        .with_context(|| format!("no usecs/op in perf output:\n{text}"))
}

/// Starts the agent with one signal's `programs` and waits until it serves
/// (the test suite's own helper: readiness through `NOTIFY_SOCKET`).
fn start_agent(binary: &Path, signal: &str, programs: &str) -> Result<Agent> {
    // The hot paths are what is measured: the sampler reads the kernel once
    // a minute here (`bench --scale` measures sampling).
    Agent::start_binary(
        binary,
        &[
            "--signals",
            signal,
            "--programs",
            programs,
            "--interval",
            "60",
        ],
    )
    .map_err(|err| anyhow::anyhow!("{err}; run `cargo xtask run -- check`"))
}

/// Stops the agent; it must detach and exit 0.
fn stop_agent(agent: Agent) -> Result<()> {
    let (status, _) = agent.stop_with(libc::SIGTERM);
    if !status.success() {
        bail!("the agent exited with {status}");
    }
    Ok(())
}
