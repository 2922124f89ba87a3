//! `cargo xtask bench --scale`: the agent with many containers, as a fleet
//! node would have them. A benchmark, not a test: it reports, it asserts
//! nothing.
//!
//! For each count: that many cgroups with a small process each (it writes a
//! line and waits in pause(), so every container has run-queue, file and
//! wait series), the release agent sampling every second with its default
//! `--max-cgroups` (1,000: past it, cgroups are folded into `other`), then:
//! series per container with series of its own in the text format (classic
//! buckets) and in the protobuf format (a native histogram is one series),
//! how many were folded, bytes per scrape plain and gzipped, the agent's
//! resident memory after ten scrapes, and its CPU while it samples.

use std::{io::Read, time::Duration};

use anyhow::{Context, Result, bail};
use integration_tests::{
    agent::{Agent, http_get_with},
    cgroup::TestCgroup,
    workload::Workload,
};

use crate::{build, cmd::is_root};

/// Containers measured when no count is given.
const DEFAULT_COUNTS: [usize; 4] = [100, 500, 1000, 5000];
/// Seconds of sampling over which CPU is measured.
const CPU_WINDOW: Duration = Duration::from_secs(10);

/// What one count of containers cost.
struct Row {
    containers: usize,
    series_classic: f64,
    series_native: f64,
    folded: f64,
    plain_bytes: usize,
    gzip_bytes: usize,
    protobuf_bytes: usize,
    rss_kib: u64,
    cpu_percent: f64,
    sample_ms: f64,
}

/// Measures every count in `counts` (0: the defaults) and prints a table.
pub fn scale(counts: &[usize]) -> Result<()> {
    if !is_root() {
        bail!("the scale benchmark makes cgroups and loads eBPF programs: run it as root");
    }
    let counts: Vec<usize> = if counts.iter().all(|&c| c == 0) {
        DEFAULT_COUNTS.to_vec()
    } else {
        counts.iter().copied().filter(|&c| c > 0).collect()
    };
    let agent_binary = build::build(true)?;
    let workload = build::workload(true)?;
    // The test helpers find pp-workload through this variable.
    // SAFETY: set before any other thread of this process starts.
    unsafe { std::env::set_var("PP_WORKLOAD_BIN", &workload) };
    let mut rows = Vec::new();
    for &containers in &counts {
        eprintln!("xtask: bench --scale: {containers} containers");
        rows.push(measure(&agent_binary, containers)?);
    }
    println!("{}", table(&rows));
    Ok(())
}

fn measure(agent_binary: &std::path::Path, containers: usize) -> Result<Row> {
    let agent = Agent::start_binary(agent_binary, &[]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cgroups: Vec<TestCgroup> = (0..containers)
        .map(|i| TestCgroup::create(&format!("pp-scale-bench-{i}")))
        .collect();
    let workloads: Vec<Workload> = cgroups.iter().map(|c| Workload::blocked(c.dir())).collect();
    // A few samples with every container in them.
    std::thread::sleep(Duration::from_secs(3));
    let addr = agent.addr();
    for _ in 0..10 {
        http_get_with(addr, "/metrics", &[]);
    }
    let plain = http_get_with(addr, "/metrics", &[]);
    let gzip = http_get_with(addr, "/metrics", &[("Accept-Encoding", "gzip")]);
    let protobuf = http_get_with(
        addr,
        "/metrics",
        &[(
            "Accept",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
        )],
    );
    let text = String::from_utf8_lossy(&plain.body);
    let mine = |line: &&str| line.contains("cgroup=\"/pp-scale-bench-");
    let classic = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(mine)
        .count();
    // In the protobuf format a histogram is one series: every classic
    // histogram line but its `_count` goes.
    let histogram_lines = text
        .lines()
        .filter(mine)
        .filter(|l| l.contains("_bucket{") || l.contains("_sum{"))
        .count();
    let native = classic - histogram_lines;
    let own: std::collections::HashSet<&str> = text
        .lines()
        .filter(mine)
        .filter_map(|l| l.split("cgroup=\"").nth(1)?.split('"').next())
        .collect();
    let gauge = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    let sample_ms = gauge("pressure_probe_sample_duration_seconds") * 1e3;
    let folded = gauge("pressure_probe_cgroups_folded");
    let rss_kib = status_field(agent.pid(), "VmRSS:")?;
    let cpu_before = cpu_ticks(agent.pid())?;
    std::thread::sleep(CPU_WINDOW);
    let cpu_after = cpu_ticks(agent.pid())?;
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu_percent =
        100.0 * (cpu_after - cpu_before) as f64 / ticks_per_second / CPU_WINDOW.as_secs_f64();
    let mut gzip_check = Vec::new();
    flate2::read::GzDecoder::new(&gzip.body[..])
        .read_to_end(&mut gzip_check)
        .context("the gzipped exposition does not decode")?;
    for workload in workloads {
        workload.kill();
    }
    drop(cgroups);
    drop(agent);
    Ok(Row {
        containers,
        series_classic: classic as f64 / own.len() as f64,
        series_native: native as f64 / own.len() as f64,
        folded,
        plain_bytes: plain.body.len(),
        gzip_bytes: gzip.body.len(),
        protobuf_bytes: protobuf.body.len(),
        rss_kib,
        cpu_percent,
        sample_ms,
    })
}

fn status_field(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} for process {pid}"))
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .context("malformed stat")?
        .1
        .split_whitespace()
        .collect();
    // Fields 14 and 15 of stat, counted from the state (field 3).
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| containers | folded into `other` | series per container, text (classic) | series per container, protobuf (native) | bytes per scrape | gzipped | protobuf | agent RSS | agent CPU (sampling every 1 s) | one sample |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.1} MB | {:.2} MB | {:.1} MB | {:.0} MiB | {:.1}% of a core | {:.0} ms |\n",
            r.containers,
            r.folded,
            r.series_classic,
            r.series_native,
            r.plain_bytes as f64 / 1e6,
            r.gzip_bytes as f64 / 1e6,
            r.protobuf_bytes as f64 / 1e6,
            r.rss_kib as f64 / 1024.0,
            r.cpu_percent,
            r.sample_ms,
        ));
    }
    out
}
