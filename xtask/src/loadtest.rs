//! `cargo xtask loadtest`: repeatable load-test baselines, as the seed asks.
//!
//! For each scenario, the demo service (`pp-demo`, `loadtest/service`) runs
//! in a cgroup of its own with the one knob that makes the scenario's
//! bottleneck (its database, its neighbour and its slow file system in
//! cgroups of their own), the agent watches, a real Prometheus scrapes the
//! agent, and Locust (`loadtest/locustfile.py`, the seed's `ApiUser`) ramps
//! users in steps. Per step: Locust's p50/p95 latency, requests per second
//! and failures (from every request it made), the probe's signals for the
//! service's container (PromQL over the step) and its verdict (the API, at
//! read just after the step's end, over a window of the whole step). The knee is the first step
//! whose p95 is more than twice the first step's (and 25 ms more), or
//! whose failures pass 1%. `target/loadtest/<scenario>/report.md` says it,
//! with plots, and the verdict at the knee: the bottleneck, and whether
//! more replicas would help.

use std::{
    fs,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, bail};
use integration_tests::{
    agent::Agent,
    cgroup::{CpuControl, MemoryLimit, TestCgroup},
    prometheus::Prometheus,
    slowfs::SlowFs,
};
use serde_json::{Value, json};

use crate::{
    build,
    cmd::{is_root, workspace_root},
    packages,
};

/// The CPU the service (and a neighbour) run on; Locust runs on the other.
const SERVICE_CPU: usize = 1;
const LOCUST_CPU: usize = 0;

/// One scenario: its bottleneck and how to make it.
struct Scenario {
    name: &'static str,
    /// The verdict the probe must give at the knee.
    bottleneck: &'static str,
    description: &'static str,
    /// Users per step in `--quick` runs (a full run has four times as many,
    /// with the seed's think time).
    quick_steps: &'static [u32],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "cpu",
        bottleneck: "cpu",
        description: "10 ms of CPU per dashboard, the service's cgroup at a quota of 40% of a CPU",
        quick_steps: &[4, 12, 32, 64],
    },
    Scenario {
        name: "neighbour",
        bottleneck: "cpu_neighbour",
        description: "10 ms of CPU per dashboard on one worker thread, another container's two \
                      busy threads on the same CPU",
        quick_steps: &[4, 12, 24, 48],
    },
    Scenario {
        name: "accept_queue",
        bottleneck: "accept_queue",
        description: "a listen backlog of 2, one acceptor taking 25 ms per connection, a \
                      connection per request",
        quick_steps: &[4, 12, 24, 48],
    },
    Scenario {
        name: "dependency",
        bottleneck: "dependency",
        description: "each dashboard queries a database that answers after 150 ms, through a \
                      pool of 2 connections",
        quick_steps: &[4, 12, 24, 48],
    },
    Scenario {
        name: "storage",
        bottleneck: "storage",
        description: "each event is fsynced, one at a time, on a file system whose fsync takes \
                      80 ms",
        quick_steps: &[4, 12, 24, 48],
    },
    Scenario {
        name: "workers",
        bottleneck: "workers",
        description: "a fixed pool of 2 worker threads over keep-alive connections, each \
                      request holding one for 25 ms without the CPU (80 requests a second at \
                      most)",
        quick_steps: &[8, 24, 64, 128],
    },
    Scenario {
        name: "memory",
        bottleneck: "memory",
        description: "each dashboard adds to a cache that never evicts (256 KiB in 10-second \
                      steps, less in longer ones), the service's cgroup limited to 48 MiB",
        quick_steps: &[4, 12, 24, 48],
    },
];

/// How long, think time and users.
struct Plan {
    step_seconds: u64,
    think_scale: f64,
    users_scale: u32,
}

impl Plan {
    /// Locust's ramp for `scenario`, and a minute for starting and stopping.
    fn ramp(&self, scenario: &Scenario) -> Duration {
        Duration::from_secs(self.step_seconds * scenario.quick_steps.len() as u64 + 60)
    }
}

/// Runs `names` (default: all scenarios); fails unless each finds its knee
/// and the probe names the scenario's bottleneck there.
pub fn loadtest(names: &[String], quick: bool) -> Result<()> {
    if !is_root() {
        bail!(
            "the load test makes cgroups and loads eBPF programs: run `sudo -E cargo xtask loadtest`"
        );
    }
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        bail!(
            "the load test needs two CPUs (one for the service, one for Locust); this host has {cpus}"
        );
    }
    let scenarios: Vec<&Scenario> = if names.is_empty() {
        SCENARIOS.iter().collect()
    } else {
        names
            .iter()
            .map(|name| {
                SCENARIOS.iter().find(|s| s.name == name).with_context(|| {
                    let known: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
                    format!("unknown scenario {name}; known: {}", known.join(", "))
                })
            })
            .collect::<Result<_>>()?
    };
    let python = packages::ensure_python_tools(packages::LOADTEST_PYTHON)?;
    let agent = build::build(false)?;
    let demo = build::demo()?;
    let workload = build::workload(false)?;
    let plan = if quick {
        Plan {
            step_seconds: 10,
            think_scale: 0.25,
            users_scale: 1,
        }
    } else {
        Plan {
            step_seconds: 30,
            think_scale: 1.0,
            users_scale: 4,
        }
    };
    let mut failures = Vec::new();
    let started = Instant::now();
    let count = scenarios.len();
    for scenario in scenarios {
        let out = workspace_root().join("target/loadtest").join(scenario.name);
        let _ = fs::remove_dir_all(&out);
        fs::create_dir_all(&out)?;
        eprintln!(
            "xtask: loadtest: {}: {} ({} steps of {} s)",
            scenario.name,
            scenario.description,
            scenario.quick_steps.len(),
            plan.step_seconds
        );
        let tools = Tools {
            agent: &agent,
            demo: &demo,
            workload: &workload,
            python: &python,
        };
        match run_scenario(scenario, &plan, &tools, &out) {
            Ok(Outcome::Found {
                knee_users,
                verdict,
            }) if verdict == scenario.bottleneck => {
                eprintln!(
                    "xtask: loadtest: {}: knee at {knee_users} users, verdict {verdict}: ok ({})",
                    scenario.name,
                    out.join("report.md").display()
                );
            }
            Ok(Outcome::Found {
                knee_users,
                verdict,
            }) => failures.push(format!(
                "{}: the verdict at the knee ({knee_users} users) is {verdict}, not {}",
                scenario.name, scenario.bottleneck
            )),
            Ok(Outcome::NoKnee) => {
                failures.push(format!("{}: no knee within the ramp", scenario.name))
            }
            Err(err) => failures.push(format!("{}: {err:#}", scenario.name)),
        }
    }
    // Reported, not enforced (a time is no test): --quick is meant to take
    // at most 6 minutes for the six scenarios on a 2-CPU machine.
    let took = started.elapsed().as_secs();
    eprintln!(
        "xtask: loadtest: {count} scenarios in {} min {} s (builds and installs before them not counted)",
        took / 60,
        took % 60
    );
    if !failures.is_empty() {
        bail!("load test: {}", failures.join("; "));
    }
    Ok(())
}

/// The binaries a scenario runs.
struct Tools<'a> {
    agent: &'a Path,
    demo: &'a Path,
    workload: &'a Path,
    python: &'a Path,
}

/// What a scenario found.
enum Outcome {
    Found { knee_users: u32, verdict: String },
    NoKnee,
}

/// A child process, killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program args` in `cgroups` (their `cgroup.procs`, the v2 cgroup
/// and any v1 controller's), pinned to `cpu`, its output piped.
fn spawn_in(cgroups: &[String], cpu: usize, program: &Path, args: &[&str]) -> Result<Running> {
    // A shell moves itself, then becomes the program: no code runs between
    // fork and exec, and no path is ever parsed as shell words.
    let child = Command::new("sh")
        .arg("-c")
        .arg(
            r#"while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 1; shift; done; shift; exec "$@""#,
        )
        .arg("sh")
        .args(cgroups)
        .arg("--")
        .args(["taskset", "-c", &cpu.to_string()])
        .arg(program)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    Ok(Running(child))
}

/// The first line `process` prints (a server's `listening ADDR`).
fn first_line(process: &mut Running) -> Result<String> {
    let mut first = String::new();
    if let Some(stdout) = process.0.stdout.take() {
        BufReader::new(stdout).read_line(&mut first)?;
    }
    if first.is_empty() {
        bail!("a process ended before saying anything");
    }
    Ok(first.trim().to_string())
}

/// The address in a `listening ADDR` line.
fn listening(line: &str) -> Result<SocketAddr> {
    line.strip_prefix("listening ")
        .and_then(|a| a.parse().ok())
        .with_context(|| format!("expected `listening ADDR`, got {line:?}"))
}

/// What keeps a scenario's setup alive (dropped after the run, in order).
#[derive(Default)]
struct Setup {
    processes: Vec<Running>,
    quota: Option<CpuControl>,
    memory: Option<MemoryLimit>,
    slow: Option<SlowFs>,
    cgroups: Vec<TestCgroup>,
}

/// Starts the scenario's service (and what it needs, for the ramp);
/// returns its address.
fn start_service(
    scenario: &Scenario,
    plan: &Plan,
    tools: &Tools<'_>,
    service: &TestCgroup,
    setup: &mut Setup,
) -> Result<SocketAddr> {
    let dir = service.dir().display().to_string();
    let mut cgroups = vec![dir];
    let mut args: Vec<String> = vec!["service".into()];
    match scenario.name {
        "cpu" => {
            let quota = CpuControl::quota(service, 40_000, 100_000);
            if quota.v1_dir() != "-" {
                cgroups.push(quota.v1_dir());
            }
            setup.quota = Some(quota);
            args.extend(["--cpu-work-ms", "10", "--workers", "2"].map(String::from));
        }
        "neighbour" => {
            let neighbour = TestCgroup::create("pp-loadtest-noisy");
            // Busy for the whole ramp; it says nothing until it ends.
            let busy = spawn_in(
                &[neighbour.dir().display().to_string()],
                SERVICE_CPU,
                tools.workload,
                &[
                    "spin",
                    "-",
                    &SERVICE_CPU.to_string(),
                    "2",
                    &plan.ramp(scenario).as_millis().to_string(),
                ],
            )?;
            setup.processes.push(busy);
            setup.cgroups.push(neighbour);
            args.extend(["--cpu-work-ms", "10", "--workers", "1"].map(String::from));
        }
        "accept_queue" => {
            args.extend(
                [
                    "--backlog",
                    "2",
                    "--acceptors",
                    "1",
                    "--accept-delay-ms",
                    "25",
                    "--close-connections",
                ]
                .map(String::from),
            );
        }
        "dependency" => {
            let database = TestCgroup::create("pp-loadtest-database");
            let mut db = spawn_in(
                &[database.dir().display().to_string()],
                LOCUST_CPU,
                tools.demo,
                &["database", "--delay-ms", "150"],
            )?;
            let addr = listening(&first_line(&mut db)?)?;
            setup.processes.push(db);
            setup.cgroups.push(database);
            args.extend([
                "--db".into(),
                addr.to_string(),
                "--db-pool".into(),
                "2".into(),
            ]);
        }
        "storage" => {
            let slow = SlowFs::mount(Duration::from_millis(80));
            args.extend(["--events-dir".into(), slow.dir().display().to_string()]);
            setup.slow = Some(slow);
        }
        "memory" => {
            let limit = MemoryLimit::set(service, 40 << 20, 48 << 20);
            if limit.v1_dir() != "-" {
                cgroups.push(limit.v1_dir());
            }
            setup.memory = Some(limit);
            // 256 KiB per dashboard in 10-second steps: the cache fills
            // at the same step whatever the steps' length.
            let kib = 256 * 10 / plan.step_seconds;
            args.extend(["--cache-kib-per-request".into(), kib.to_string()]);
        }
        "workers" => {
            args = ["pool", "--workers", "2", "--hold-ms", "25"]
                .map(String::from)
                .to_vec();
        }
        other => bail!("no setup for scenario {other}"),
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut process = spawn_in(&cgroups, SERVICE_CPU, tools.demo, &args)?;
    let line = first_line(&mut process)?;
    setup.processes.push(process);
    listening(&line)
}

/// Seconds since the epoch.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Locust's numbers for one step.
struct StepStats {
    users: u32,
    start: f64,
    end: f64,
    requests: usize,
    failures: usize,
    p50_ms: f64,
    p95_ms: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Per-step statistics from Locust's request log (`time,name,ms,failed`
/// lines, and `time,STEP,index,users` at each step's start). The first
/// second of each step is left out (users still starting).
fn step_stats(log: &str, ended: f64) -> Vec<StepStats> {
    let mut steps: Vec<(f64, u32)> = Vec::new();
    let mut requests: Vec<(f64, f64, bool)> = Vec::new();
    for line in log.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        let Some(time) = fields.first().and_then(|t| t.parse::<f64>().ok()) else {
            continue;
        };
        match fields.as_slice() {
            [_, "STEP", _, users] => steps.push((time, users.parse().unwrap_or(0))),
            [_, _, ms, failed] => {
                requests.push((time, ms.parse().unwrap_or(0.0), *failed == "1"));
            }
            _ => {}
        }
    }
    steps
        .iter()
        .enumerate()
        .map(|(i, &(start, users))| {
            let end = steps.get(i + 1).map_or(ended, |next| next.0);
            let mut times: Vec<f64> = Vec::new();
            let mut failures = 0;
            for &(at, ms, failed) in &requests {
                if at >= start + 1.0 && at < end {
                    times.push(ms);
                    failures += usize::from(failed);
                }
            }
            times.sort_by(f64::total_cmp);
            StepStats {
                users,
                start,
                end,
                requests: times.len(),
                failures,
                p50_ms: percentile(&times, 0.5),
                p95_ms: percentile(&times, 0.95),
            }
        })
        .collect()
}

/// The knee: the first step (after the first) whose p95 is more than twice
/// the first step's and 25 ms more, or whose failures pass 1%.
fn knee(steps: &[StepStats]) -> Option<usize> {
    let baseline = steps.first()?.p95_ms;
    steps.iter().enumerate().skip(1).find_map(|(i, s)| {
        let slow = s.p95_ms > 2.0 * baseline && s.p95_ms - baseline > 25.0;
        let failing = s.requests > 0 && s.failures as f64 > 0.01 * s.requests as f64;
        (slow || failing).then_some(i)
    })
}

/// The probe's signals for `cgroup` over `seconds` before `at`, from
/// Prometheus.
fn signals(prometheus: &Prometheus, cgroup: &str, seconds: u64, at: f64) -> Value {
    let c = format!("cgroup=\"{cgroup}\"");
    let queries = [
        (
            "request queue p95 (s)",
            format!(
                "histogram_quantile(0.95, sum(rate(pressure_request_queue_seconds{{{c}}}[{seconds}s])))"
            ),
        ),
        (
            "cpu wait share",
            format!(
                "sum(histogram_sum(rate(pressure_runqueue_latency_seconds{{{c}}}[{seconds}s])))"
            ),
        ),
        (
            "own wait share",
            format!(
                "sum(increase(pressure_runqueue_waited_behind_seconds_total{{{c},by=~\"same_cgroup|throttled\"}}[{seconds}s])) / sum(increase(pressure_runqueue_waited_behind_seconds_total{{{c},by=~\"same_cgroup|throttled|other\"}}[{seconds}s]))"
            ),
        ),
        (
            "accept queue fill",
            format!(
                "max(pressure_tcp_accept_queue_depth{{{c}}} / clamp_min(pressure_tcp_accept_queue_limit{{{c}}}, 1))"
            ),
        ),
        (
            "connections dropped/s",
            format!("sum(rate(pressure_tcp_listen_overflows_total{{{c}}}[{seconds}s]))"),
        ),
        (
            "dependency p95 (s)",
            format!(
                "histogram_quantile(0.95, sum(rate(pressure_dependency_response_seconds{{{c}}}[{seconds}s])))"
            ),
        ),
        (
            "sync p95 (s)",
            format!(
                "histogram_quantile(0.95, sum(rate(pressure_syscall_latency_seconds{{{c},class=\"sync\"}}[{seconds}s])))"
            ),
        ),
        (
            "memory stall share",
            format!(
                "sum(rate(pressure_psi_stall_seconds_total{{{c},resource=\"memory\",kind=\"some\"}}[{seconds}s]))"
            ),
        ),
        (
            "OOM kills",
            format!("sum(increase(pressure_memory_oom_kills_total{{{c}}}[{seconds}s]))"),
        ),
    ];
    let mut out = serde_json::Map::new();
    for (name, promql) in queries {
        let value = prometheus
            .query_at(&promql, at)
            .filter(|v| v.is_finite())
            .unwrap_or(0.0);
        out.insert(name.into(), json!((value * 1e4).round() / 1e4));
    }
    Value::Object(out)
}

/// The agent's verdict on `cgroup` now: (bottleneck, detail, replicas_help, advice).
/// The p95 of the service's response times as the probe measured them,
/// over the `seconds` before `at`: Locust's span (each step less its first
/// second, when the step's new users all start at once).
fn probe_p95(prometheus: &Prometheus, cgroup: &str, seconds: u64, at: f64) -> Option<f64> {
    let promql = format!(
        "histogram_quantile(0.95, sum(rate(pressure_request_seconds{{cgroup=\"{cgroup}\"}}[{seconds}s])))"
    );
    prometheus.query_at(&promql, at).filter(|v| v.is_finite())
}

fn verdict(agent: &Agent, cgroup: &str) -> Option<Value> {
    let (status, body) = agent.get("/api/v1/containers");
    if status != 200 {
        return None;
    }
    let api: Value = serde_json::from_str(&body).ok()?;
    api["containers"]
        .as_array()?
        .iter()
        .find(|c| c["labels"]["cgroup"] == cgroup)
        .cloned()
}

fn run_scenario(
    scenario: &Scenario,
    plan: &Plan,
    tools: &Tools<'_>,
    out: &Path,
) -> Result<Outcome> {
    // The verdict read just after a step's end covers the whole step: an
    // OOM kill in its first second (which Locust's numbers leave out, but
    // whose failures make the step the knee) is in it.
    let window = plan.step_seconds + 1;
    // The probe, the service and the database each in a cgroup of its own
    // (made first, so that the agent is stopped before it is removed).
    let probe_cgroup = TestCgroup::create("pp-loadtest-probe");
    let agent = Agent::start_binary(
        tools.agent,
        &["--window", &window.to_string(), "--interval", "1"],
    )
    .map_err(|err| anyhow::anyhow!("{err}"))?;
    probe_cgroup.adopt(agent.pid());
    // Native histograms: a p95 from buckets 1.19 times wide, not
    // interpolated across a classic bucket that spans a threshold.
    let prometheus = Prometheus::start(agent.addr(), true);
    let service = TestCgroup::create(&format!("pp-loadtest-{}", scenario.name));
    let mut setup = Setup::default();
    let addr = start_service(scenario, plan, tools, &service, &mut setup)?;
    let steps: Vec<String> = scenario
        .quick_steps
        .iter()
        .map(|u| (u * plan.users_scale).to_string())
        .collect();
    let log_path = out.join("requests.csv");
    let locust_cgroup = TestCgroup::create("pp-loadtest-locust");
    let mut locust = Command::new("taskset")
        .args(["-c", &LOCUST_CPU.to_string()])
        .arg(tools.python.join("locust"))
        .arg("-f")
        .arg(workspace_root().join("loadtest/locustfile.py"))
        .args(["--headless", "--only-summary", "--loglevel", "WARNING"])
        .arg("--host")
        .arg(format!("http://{addr}"))
        .env("PP_STEPS", steps.join(","))
        .env("PP_STEP_SECONDS", plan.step_seconds.to_string())
        .env("PP_THINK_SCALE", plan.think_scale.to_string())
        .env("PP_REQUEST_LOG", &log_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start locust")?;
    fs::write(
        locust_cgroup.dir().join("cgroup.procs"),
        locust.id().to_string(),
    )
    .context("cannot move locust into its cgroup")?;
    // The verdict every second while Locust runs, with when it was read.
    let mut verdicts: Vec<(f64, Value)> = Vec::new();
    let deadline = Instant::now() + plan.ramp(scenario);
    let status = loop {
        if let Some(status) = locust.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = locust.kill();
            bail!("locust did not finish in time");
        }
        if let Some(v) = verdict(&agent, service.label()) {
            verdicts.push((unix_now(), v));
        }
        thread::sleep(Duration::from_secs(1));
    };
    let ended = unix_now();
    if let Some(v) = verdict(&agent, service.label()) {
        verdicts.push((ended, v));
    }
    if !status.success() {
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut locust.stderr.take().expect("piped"), &mut stderr)?;
        // Locust exits 1 when requests failed; that is data, not an error.
        if status.code() != Some(1) {
            bail!("locust failed ({status}): {stderr}");
        }
    }
    // One more scrape so that Prometheus has the last step's end.
    thread::sleep(Duration::from_secs(2));
    let log = fs::read_to_string(&log_path).context("no request log from locust")?;
    let stats = step_stats(&log, ended);
    if stats.len() != steps.len() {
        bail!("locust ran {} of {} steps", stats.len(), steps.len());
    }
    let knee = knee(&stats);
    let steps_json: Vec<Value> = stats
        .iter()
        .map(|s| {
            let at_end = verdicts
                .iter()
                .find(|(at, _)| *at >= s.end)
                .or_else(|| verdicts.last())
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null);
            let seconds = (s.end - s.start).round().max(2.0) as u64;
            let signals = signals(&prometheus, service.label(), seconds, s.end);
            let probe_p95_ms = probe_p95(&prometheus, service.label(), seconds - 1, s.end)
                .map(|s| (s * 1e4).round() / 10.0);
            json!({
                "users": s.users,
                "requests": s.requests,
                "rps": (s.requests as f64 / (s.end - s.start - 1.0).max(1.0) * 10.0).round() / 10.0,
                "failure_ratio": if s.requests == 0 { 0.0 } else { s.failures as f64 / s.requests as f64 },
                "p50_ms": (s.p50_ms * 10.0).round() / 10.0,
                "p95_ms": (s.p95_ms * 10.0).round() / 10.0,
                "probe_p95_ms": probe_p95_ms,
                "signals": signals,
                "verdict": at_end.get("bottleneck").cloned().unwrap_or(Value::Null),
                "detail": at_end.get("detail").cloned().unwrap_or(Value::Null),
                "replicas_help": at_end.get("replicas_help").cloned().unwrap_or(Value::Null),
                "advice": at_end.get("advice").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    let run = json!({
        "scenario": scenario.name,
        "description": scenario.description,
        "expected": scenario.bottleneck,
        "step_seconds": plan.step_seconds,
        "knee": knee,
        "steps": steps_json,
    });
    fs::write(out.join("steps.json"), serde_json::to_string_pretty(&run)?)?;
    let plotted = Command::new(tools.python.join("python"))
        .arg(workspace_root().join("loadtest/report.py"))
        .arg(out.join("steps.json"))
        .arg(out)
        .status()
        .context("cannot run loadtest/report.py")?;
    if !plotted.success() {
        bail!("loadtest/report.py failed ({plotted})");
    }
    for png in ["latency.png", "throughput.png", "signals.png"] {
        check_png(&out.join(png))?;
    }
    fs::write(out.join("report.md"), report(&run))?;
    drop(setup);
    let above = probe_above_locust(&run);
    if !above.is_empty() {
        bail!(
            "the probe's p95 response time exceeds Locust's by more than a bucket at {}",
            above.join(", ")
        );
    }
    Ok(match knee {
        Some(i) => Outcome::Found {
            knee_users: stats[i].users,
            verdict: run["steps"][i]["verdict"]
                .as_str()
                .unwrap_or("(none read)")
                .to_string(),
        },
        None => Outcome::NoKnee,
    })
}

/// Fails unless `path` is a PNG image with a non-zero size.
fn check_png(path: &Path) -> Result<()> {
    let bytes = fs::read(path).with_context(|| format!("no {}", path.display()))?;
    let header_ok =
        bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR";
    let size =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if !header_ok || size(16) == 0 || size(20) == 0 {
        bail!("{} is not a PNG image", path.display());
    }
    Ok(())
}

/// The ratio of one native histogram bucket's bound to the next (schema
/// 2): how far a p95 read from the probe's buckets may lie from the exact
/// one.
const BUCKET_STEP: f64 = 1.189_207_115_002_721;

/// The steps (`N users`) where the probe's p95 response time exceeds
/// Locust's by more than a bucket: the probe times a request inside the
/// service's kernel, from its first byte arriving to the answer's first
/// byte, within what Locust times around it. Steps where more than 1% of
/// the requests failed are left out (Locust times failures too, the probe
/// only answers).
fn probe_above_locust(run: &Value) -> Vec<String> {
    let steps = run["steps"].as_array().cloned().unwrap_or_default();
    steps
        .iter()
        .filter(|s| s["failure_ratio"].as_f64().is_some_and(|f| f <= 0.01))
        .filter(|s| {
            let (probe, locust) = (s["probe_p95_ms"].as_f64(), s["p95_ms"].as_f64());
            matches!((probe, locust), (Some(p), Some(l)) if p > l * BUCKET_STEP)
        })
        .map(|s| format!("{} users", s["users"]))
        .collect()
}

/// The report of one run, in Markdown.
fn report(run: &Value) -> String {
    let steps = run["steps"].as_array().cloned().unwrap_or_default();
    let mut text = format!(
        "# Load test: {}\n\n{}.\n\nSteps of {} s; Locust's numbers leave out each step's first \
         second; the probe's signals are PromQL over the step, its verdict the API's at the \
         step's end, over a window of the whole step.\n\n",
        run["scenario"].as_str().unwrap_or("?"),
        run["description"].as_str().unwrap_or("?"),
        run["step_seconds"],
    );
    text.push_str(
        "| users | req/s | failures | p50 ms | p95 ms | the probe's p95 ms | verdict | detail | \
         more replicas? |\n",
    );
    text.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (i, s) in steps.iter().enumerate() {
        let knee = if run["knee"] == json!(i) {
            " **(knee)**"
        } else {
            ""
        };
        text.push_str(&format!(
            "| {}{knee} | {} | {:.1}% | {} | {} | {} | {} | {} | {} |\n",
            s["users"],
            s["rps"],
            100.0 * s["failure_ratio"].as_f64().unwrap_or(0.0),
            s["p50_ms"],
            s["p95_ms"],
            s["probe_p95_ms"],
            s["verdict"].as_str().unwrap_or("-"),
            s["detail"]
                .as_str()
                .filter(|d| !d.is_empty())
                .unwrap_or("-"),
            s["replicas_help"].as_str().unwrap_or("-"),
        ));
    }
    text.push_str("\nThe probe's signals for the service's container, per step:\n\n");
    if let Some(first) = steps.first().and_then(|s| s["signals"].as_object()) {
        let names: Vec<&String> = first.keys().collect();
        text.push_str(&format!(
            "| users | {} |\n",
            names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        ));
        text.push_str(&format!("| --- |{}\n", " --- |".repeat(names.len())));
        for s in &steps {
            let values: Vec<String> = names
                .iter()
                .map(|n| s["signals"][n.as_str()].to_string())
                .collect();
            text.push_str(&format!("| {} | {} |\n", s["users"], values.join(" | ")));
        }
    }
    text.push_str(
        "\n![latency](latency.png)\n![throughput](throughput.png)\n![signals](signals.png)\n\n",
    );
    match run["knee"].as_u64() {
        Some(i) => {
            let s = &steps[i as usize];
            let help = match s["replicas_help"].as_str() {
                Some("yes") => "more replicas would help",
                Some("no") => "more replicas would not help",
                _ => "there is nothing to scale for",
            };
            text.push_str(&format!(
                "**At the knee, {} users ({} req/s, p95 {} ms), the service's bottleneck is {}{}: \
                 {help}** ({}).\n",
                s["users"],
                s["rps"],
                s["p95_ms"],
                s["verdict"].as_str().unwrap_or("unknown"),
                s["detail"]
                    .as_str()
                    .filter(|d| !d.is_empty())
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                s["advice"].as_str().unwrap_or(""),
            ));
        }
        None => text.push_str("**No knee within the ramp**: latency and errors held.\n"),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(users: u32, p95: f64, requests: usize, failures: usize) -> StepStats {
        StepStats {
            users,
            start: 0.0,
            end: 10.0,
            requests,
            failures,
            p50_ms: p95 / 2.0,
            p95_ms: p95,
        }
    }

    #[test]
    fn the_knee_is_where_latency_doubles_or_errors_begin() {
        let steady = [
            step(4, 20.0, 100, 0),
            step(8, 30.0, 200, 0),
            step(16, 80.0, 400, 0),
        ];
        assert_eq!(knee(&steady), Some(2));
        // Doubling a tiny p95 is not a knee: 25 ms more is needed too.
        let tiny = [step(4, 2.0, 100, 0), step(8, 6.0, 200, 0)];
        assert_eq!(knee(&tiny), None);
        let failing = [step(4, 20.0, 100, 0), step(8, 21.0, 200, 3)];
        assert_eq!(knee(&failing), Some(1));
    }

    #[test]
    fn steps_come_from_the_request_log() {
        let log = "100.0,STEP,0,4\n100.5,/api/dashboard,10.0,0\n101.5,/api/dashboard,12.0,0\n\
                   102.0,/api/events,30.0,1\n110.0,STEP,1,8\n111.5,/api/dashboard,50.0,0\n";
        let steps = step_stats(log, 120.0);
        assert_eq!(steps.len(), 2);
        // The first second of each step is left out.
        assert_eq!((steps[0].requests, steps[0].failures), (2, 1));
        assert_eq!(steps[0].p95_ms, 30.0);
        assert_eq!((steps[1].users, steps[1].requests), (8, 1));
    }
}
