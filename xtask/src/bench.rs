//! `cargo xtask bench`: the run-queue programs' cost on the scheduler's hot
//! path. `perf bench sched pipe` pinned to one CPU does two wakeups and two
//! context switches per operation; it runs bare, with empty programs on the
//! same hooks (the floor every probe pays), and with the probe, interleaved
//! round by round so that drift on a noisy machine hits all three alike.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

use anyhow::{Context, Result, bail};

use crate::{
    build,
    cmd::{is_root, output},
    packages,
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

    fn programs(self) -> Option<&'static str> {
        match self {
            Config::Bare => None,
            Config::Floor => Some("empty"),
            Config::Probe => Some("probe"),
        }
    }
}

/// Runs the benchmark and prints medians and ratios.
pub fn bench(rounds: usize, loops: u64) -> Result<()> {
    if !is_root() {
        bail!(
            "the benchmark attaches eBPF programs and needs root: run `sudo -E cargo xtask bench`"
        );
    }
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    packages::ensure(packages::BENCH_COMMANDS)?;
    let agent = build::build(true)?;
    let cpu = std::thread::available_parallelism().map_or(1, |n| n.get()) - 1;
    eprintln!(
        "xtask: bench: `taskset -c {cpu} perf bench sched pipe -l {loops}`, {rounds} rounds, \
         configurations interleaved"
    );
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); Config::ALL.len()];
    for round in 1..=rounds {
        for (i, config) in Config::ALL.iter().enumerate() {
            let running = config
                .programs()
                .map(|p| start_agent(&agent, p))
                .transpose()?;
            let result = sched_pipe_usecs(cpu, loops);
            if let Some(child) = running {
                stop_agent(child)?;
            }
            let usecs = result?;
            eprintln!(
                "xtask: bench: round {round}: {:<20} {usecs:.3} µs/op",
                config.name()
            );
            samples[i].push(usecs);
        }
    }
    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    let (bare, floor, probe) = (medians[0], medians[1], medians[2]);
    println!();
    println!("sched pipe, µs per operation (2 wakeups + 2 switches), median of {rounds}:");
    for (config, value) in Config::ALL.iter().zip(&medians) {
        println!(
            "  {:<20} {value:>8.3}   (+{:.3} over bare)",
            config.name(),
            value - bare
        );
    }
    let floor_added = floor - bare;
    let probe_added = probe - bare;
    println!();
    println!("  probe / bare                     {:.3}", probe / bare);
    println!("  floor / bare                     {:.3}", floor / bare);
    if floor_added > 0.0 {
        println!(
            "  probe added cost / floor added   {:.2}   (goal: <= 2)",
            probe_added / floor_added
        );
    } else {
        println!("  the floor added no measurable cost this run; ratio not meaningful");
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
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

/// Starts the agent with `programs` and waits until it serves.
fn start_agent(binary: &Path, programs: &str) -> Result<Child> {
    let mut child = Command::new(binary)
        .args(["run", "--listen", "127.0.0.1:0", "--programs", programs])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line?;
        if line.contains("serving /metrics") {
            // Keep draining the log so the agent never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok(child);
        }
    }
    let status = child.wait()?;
    bail!("the agent exited ({status}) before serving; run `cargo xtask run -- check`")
}

fn stop_agent(child: Child) -> Result<()> {
    // SIGTERM makes the agent detach and exit 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    if !status.success() {
        bail!("cannot signal the agent");
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("the agent exited with {}", out.status);
    }
    Ok(())
}
