//! The verdict on real workloads, one scenario per bottleneck, all running
//! at once in their own cgroups: each must get exactly its verdict, from
//! the metric, from the API and from `top`. The evidence behind each is
//! checked against what the kernel or the workload itself measured.
//!
//! The dependency scenario calls a server on loopback that waits before it
//! answers (this kernel has no `netem` to delay the wire).
//!
//! The host needs two CPUs: one for the CPU-starved container, one shared
//! by a latency-sensitive container and a busy neighbour.

use std::{
    process::Command,
    thread,
    time::{Duration, Instant},
};

use integration_tests::{
    agent::{Agent, container},
    cgroup::{MemoryLimit, TestCgroup},
    exposition::Exposition,
    netns::{Driven, TestNetns},
    services::{finish, listening_port, measured, pool, ready_client},
    slowfs::SlowFs,
    workload::Workload,
};
use pressure_probe::api::{Container, Document};

/// The verdict's window in the test, in seconds.
const WINDOW: u64 = 6;
/// How long the scenarios run: the window, then the checks.
const RUN: Duration = Duration::from_secs(3 * WINDOW + 6);
/// The listener's port (in a network namespace of its own).
const PORT: u16 = 8080;
/// What each slow fsync takes.
const FSYNC_DELAY: Duration = Duration::from_millis(100);
/// How long the slow dependency takes to answer.
const DEPENDENCY_DELAY: Duration = Duration::from_millis(200);
const MIB: u64 = 1 << 20;

/// A container's verdict, as one of the three forms reports it.
#[derive(Debug, PartialEq)]
struct Verdict {
    bottleneck: String,
    detail: String,
}

fn expect(bottleneck: &str, detail: &str) -> Verdict {
    Verdict {
        bottleneck: bottleneck.into(),
        detail: detail.into(),
    }
}

/// From the metric: the one `pressure_bottleneck` series of `cgroup` at 1.
fn from_metric(scrape: &Exposition, cgroup: &str) -> Verdict {
    let (bottleneck, detail) = scrape.verdict(cgroup);
    Verdict { bottleneck, detail }
}

fn from_api(entry: &Container) -> Verdict {
    Verdict {
        bottleneck: entry.bottleneck.clone(),
        detail: entry.detail.clone(),
    }
}

/// The score of `bottleneck` among an entry's pressures.
fn score(entry: &Container, bottleneck: &str) -> f64 {
    entry
        .pressures
        .iter()
        .find(|p| p.bottleneck == bottleneck)
        .map(|p| p.score)
        .unwrap_or_else(|| panic!("no {bottleneck} pressure in {entry:#?}"))
}

/// From `top`'s table: the verdict and detail on `cgroup`'s row, if shown.
fn in_table(table: &str, cgroup: &str) -> Option<Verdict> {
    let row = table
        .lines()
        .find(|line| line.split_whitespace().next() == Some(cgroup))?;
    let cells: Vec<&str> = row.split_whitespace().collect();
    Some(Verdict {
        bottleneck: cells.get(1)?.to_string(),
        detail: cells.get(2)?.replace('-', ""),
    })
}

fn from_table(table: &str, cgroup: &str) -> Verdict {
    in_table(table, cgroup).unwrap_or_else(|| panic!("no row for {cgroup} in\n{table}"))
}

/// A tmux session running a command on a 200x50 terminal; killed on drop.
struct Tmux(String);

impl Tmux {
    fn start(command: &str) -> Tmux {
        let name = format!("pp-top-{}", std::process::id());
        integration_tests::run_ok(Command::new("tmux").args([
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "200",
            "-y",
            "50",
            command,
        ]));
        Tmux(name)
    }

    fn keys(&self, keys: &[&str]) {
        integration_tests::run_ok(
            Command::new("tmux")
                .args(["send-keys", "-t", &self.0])
                .args(keys),
        );
    }

    fn screen(&self) -> String {
        integration_tests::run_ok(Command::new("tmux").args(["capture-pane", "-p", "-t", &self.0]))
    }

    /// The screen, once `ready` holds for it and it holds still (within
    /// 10 s).
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = String::new();
        loop {
            let screen = self.screen();
            // The same twice in a row: a redraw is not half done.
            if ready(&screen) && screen == last {
                return screen;
            }
            assert!(Instant::now() < deadline, "{what}; the screen:\n{screen}");
            last = screen;
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

fn top_under_tmux(agent: &Agent, expected: &[(&TestCgroup, Verdict)]) {
    let top = Tmux::start(&format!(
        "{} top --from http://{}; echo top exited $?; sleep 60",
        integration_tests::agent::binary().display(),
        agent.addr()
    ));
    let rows_of = |screen: &str| -> Vec<String> {
        screen
            .lines()
            .filter(|line| line.starts_with("/pp-verdict-"))
            .map(String::from)
            .collect()
    };
    let screen = top.wait_for("top shows no scenario", |screen| {
        expected.iter().all(|(cgroup, verdict)| {
            in_table(screen, cgroup.label()).is_some_and(|v| v.bottleneck == verdict.bottleneck)
        })
    });
    assert!(screen.contains("sorted by worst first"), "{screen}");
    // Worst first: containers with a bottleneck above those with none.
    let rows = rows_of(&screen);
    let none = |row: &String| row.split_whitespace().nth(1) == Some("none");
    let first_none = rows.iter().position(none);
    let last_bottleneck = rows.iter().rposition(|row| !none(row));
    if let (Some(first_none), Some(last_bottleneck)) = (first_none, last_bottleneck) {
        assert!(first_none > last_bottleneck, "not worst first:\n{screen}");
    }
    // `s`: by name.
    top.keys(&["s"]);
    let screen = top.wait_for("s did not sort by name", |s| s.contains("sorted by name"));
    let rows = rows_of(&screen);
    let mut sorted = rows.clone();
    sorted.sort();
    assert_eq!(rows, sorted, "not sorted by name:\n{screen}");
    // `/`: a filter, typed and applied.
    let hog = expected
        .iter()
        .find(|(c, _)| c.label().contains("-hog-"))
        .unwrap()
        .0
        .label();
    top.keys(&["/"]);
    top.keys(&["-l", hog]);
    top.keys(&["Enter"]);
    let screen = top.wait_for("the filter did not apply", |s| s.contains("filter \""));
    let rows = rows_of(&screen);
    assert_eq!(rows.len(), 1, "{screen}");
    assert!(rows[0].starts_with(hog), "{screen}");
    // `q`: quits and gives the terminal back.
    top.keys(&["q"]);
    let screen = top.wait_for("q did not quit", |s| s.contains("top exited"));
    assert!(screen.contains("top exited 0"), "{screen}");
    assert!(
        !screen.contains("pressure-probe top ·"),
        "the screen was not restored:\n{screen}"
    );
}

fn quantile(values: &mut [u64], q: f64) -> f64 {
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1] as f64 / 1e9
}

#[test]
fn each_bottleneck_gets_its_verdict() {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        cpus >= 2,
        "the scenarios need two CPUs; this host has {cpus}"
    );
    let agent = Agent::start(&["--window", &WINDOW.to_string()]);
    let started = Instant::now();
    let millis = RUN.as_millis() as u64;

    // cpu: four busy threads of one container on one CPU.
    let cpu = TestCgroup::create("pp-verdict-cpu");
    let starved = Workload::spin(cpu.dir(), 1, 4, millis);
    // cpu_neighbour: a latency-sensitive thread (5 ms requests) sharing
    // CPU 0 with another container's four busy threads (the hog: `cpu`).
    let victim = TestCgroup::create("pp-verdict-victim");
    let hog = TestCgroup::create("pp-verdict-hog");
    let requests = Workload::requests(victim.dir(), 0, 5, 5, millis);
    let busy = Workload::spin(hog.dir(), 0, 4, millis);
    // accept_queue: a listener that never accepts, filled by a client.
    let server = TestCgroup::create("pp-verdict-server");
    let netns = TestNetns::create("pp-verdict");
    let (listener, ready) = Driven::start(&[
        "listen",
        &server.dir().display().to_string(),
        &netns.path().display().to_string(),
        &PORT.to_string(),
        "8",
    ]);
    assert_eq!(ready, "ready");
    let overflows_before = netns.listen_overflows();
    let (client, connected) = Driven::start(&[
        "connect",
        "-",
        &netns.path().display().to_string(),
        &PORT.to_string(),
        "30",
    ]);
    assert_eq!(connected, "connected 30");
    // storage: a writer whose fsyncs are slow, all along.
    let writer = TestCgroup::create("pp-verdict-writer");
    let slow = SlowFs::mount(FSYNC_DELAY);
    let fsyncs = Workload::fsyncs(
        writer.dir(),
        slow.dir(),
        RUN.as_millis() as u64 / FSYNC_DELAY.as_millis() as u64,
    );
    // dependency: a client calling, through an event loop, a server that
    // answers after 200 ms.
    let caller = TestCgroup::create("pp-verdict-caller");
    let database = TestCgroup::create("pp-verdict-database");
    let (slow_server, listening) = Driven::start(&[
        "serve",
        &database.dir().display().to_string(),
        &DEPENDENCY_DELAY.as_millis().to_string(),
    ]);
    let db_port = listening_port(&listening);
    let calls = {
        let args = [
            "call".to_string(),
            caller.dir().display().to_string(),
            format!("127.0.0.1:{db_port}"),
            (RUN.as_millis() / DEPENDENCY_DELAY.as_millis()).to_string(),
        ];
        thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Driven::start(&args)
        })
    };
    // none: an idle container.
    let idle = TestCgroup::create("pp-verdict-idle");
    let blocked = Workload::blocked(idle.dir());
    // memory: a process OOM-killed at its container's limit, just before
    // the checks (a kill stays in the window for the window).
    let memory = TestCgroup::create("pp-verdict-memory");
    let limit = MemoryLimit::set(&memory, 32 * MIB, 64 * MIB);

    // Every scenario has run for the window.
    thread::sleep(Duration::from_secs(WINDOW + 1).saturating_sub(started.elapsed()));
    assert!(
        !Workload::memory(memory.dir(), &limit.v1_dir(), "-", 160).finished(),
        "the workload past its limit was not killed"
    );
    let kernel_oom_kills = limit.oom_kills();

    let expected = [
        (&cpu, expect("cpu", "")),
        (&victim, expect("cpu_neighbour", "")),
        (&hog, expect("cpu", "")),
        (&server, expect("accept_queue", &PORT.to_string())),
        (&writer, expect("storage", "sync")),
        (&memory, expect("memory", "")),
        (&idle, expect("none", "")),
        (
            &caller,
            expect("dependency", &format!("127.0.0.1:{db_port}")),
        ),
    ];
    let scrape = agent.scrape();
    let api: Document = agent.containers();
    eprintln!("{api:#?}");
    assert_eq!(api.window_seconds, WINDOW as f64);
    for (cgroup, verdict) in &expected {
        let entry = container(&api, cgroup.label());
        assert_eq!(
            &from_metric(&scrape, cgroup.label()),
            verdict,
            "{} (metric)",
            cgroup.label()
        );
        assert_eq!(&from_api(entry), verdict, "{} (API)", cgroup.label());
    }

    // The evidence, against the kernel's and the workloads' own accounts.
    let entry = |cgroup: &TestCgroup| container(&api, cgroup.label()).clone();
    for (cgroup, own) in [(&cpu, true), (&hog, true), (&victim, false)] {
        let e = entry(cgroup);
        let runqueue = &e.evidence.runqueue;
        let share = runqueue.own_wait_share.unwrap_or(0.0);
        eprintln!(
            "{}: preempted {:?}, waited behind {:?} s: own share {share}",
            cgroup.label(),
            runqueue.preempted_by,
            runqueue.waited_behind_seconds
        );
        // The default --cpu-own-share.
        assert_eq!(share >= 0.3, own, "{}", cgroup.label());
        assert_eq!(e.replicas_help, if own { "yes" } else { "no" });
    }
    // One thread: the time it waited is the time some task of its cgroup
    // waited, which the kernel's PSI measures on its own.
    let victim_entry = entry(&victim);
    let wait_share = victim_entry.evidence.runqueue.wait_share;
    let psi_share = victim_entry.evidence.psi.as_ref().expect("no PSI")["cpu"].some_share;
    eprintln!("victim: waited {wait_share:.4} of the window; cpu PSI some {psi_share:.4}");
    assert!(
        (wait_share - psi_share).abs() <= 0.05 * psi_share,
        "the victim's wait share {wait_share} against its cpu PSI {psi_share}"
    );
    let server_entry = entry(&server);
    let port = &server_entry.evidence.accept_queue.ports[0];
    let recv_q = netns.ss_recv_q(PORT);
    let overflows = netns.listen_overflows() - overflows_before;
    eprintln!("listener: ss Recv-Q {recv_q}, ListenOverflows +{overflows}; API {port:?}");
    assert_eq!(port.fill_now, recv_q as f64 / 8.0);
    assert!(overflows > 0, "the kernel dropped nothing");
    assert_eq!(server_entry.replicas_help, "yes");
    let memory_entry = entry(&memory);
    assert_eq!(
        memory_entry.evidence.memory.oom_kills, kernel_oom_kills,
        "OOM kills in the window against the kernel's count"
    );
    let idle_entry = entry(&idle);
    assert!(idle_entry.pressures.is_empty());
    assert_eq!(idle_entry.replicas_help, "n/a");
    // top --once: the same verdicts, one plain table.
    let (status, table, stderr) = integration_tests::agent::run_to_end(&[
        "top",
        "--once",
        "--from",
        &format!("http://{}", agent.addr()),
    ]);
    assert!(status.success(), "top --once failed: {stderr}");
    eprintln!("{table}");
    assert!(table.starts_with("CONTAINER"), "{table}");
    for (cgroup, verdict) in &expected {
        assert_eq!(
            &from_table(&table, cgroup.label()),
            verdict,
            "{} (top --once)",
            cgroup.label()
        );
    }
    // top on a terminal: the verdicts, sorting, filtering, quitting. A kill
    // stays in the window for the window only: kill again, so that every
    // scenario still holds while top runs.
    assert!(
        !Workload::memory(memory.dir(), &limit.v1_dir(), "-", 160).finished(),
        "the workload past its limit was not killed"
    );
    top_under_tmux(&agent, &expected);

    let dependency_p95 = entry(&caller).evidence.dependencies[0].p95_seconds.unwrap();
    let storage_p95 = entry(&writer).evidence.syscalls["sync"]
        .p95_seconds
        .unwrap();
    assert!(score(&entry(&writer), "storage") >= 1.0);

    drop(client);
    drop(listener);
    blocked.kill();
    let (_caller, answered) = calls.join().unwrap();
    let mut own: Vec<u64> = answered
        .strip_prefix("response_ns ")
        .unwrap_or_else(|| panic!("the caller said {answered}"))
        .split_whitespace()
        .map(|ns| ns.parse().unwrap())
        .collect();
    let own_p95 = quantile(&mut own, 0.95);
    eprintln!("answer p95: caller's clock {own_p95:.4} s, verdict's {dependency_p95:.4} s");
    assert_eq!(
        dependency_p95.log2().ceil(),
        own_p95.log2().ceil(),
        "answer p95 {dependency_p95} s against the caller's {own_p95} s"
    );
    drop(slow_server);
    starved.wait();
    requests.wait();
    busy.wait();
    let mut took = fsyncs.wait_for_numbers("fsync_ns");
    let workload_p95 = quantile(&mut took, 0.95);
    eprintln!("fsync p95: workload's clock {workload_p95:.4} s, verdict's {storage_p95:.4} s");
    assert!(workload_p95 > 0.05, "the slow fsyncs were not slow");
    // The verdict's quantiles are read from power-of-two bins: the same bin.
    assert_eq!(
        storage_p95.log2().ceil(),
        workload_p95.log2().ceil(),
        "fsync p95 {storage_p95} s against the workload's {workload_p95} s"
    );
}

/// workers: a pool of two workers, each request holding one 25 ms without
/// the CPU, and eight keep-alive clients asking back to back (the pool
/// serves 80 requests a second; they would ask 320): requests wait for a
/// free worker and nothing else holds the workers. The verdict is
/// `workers` on the pool's port, more replicas help; the workload's own
/// clocks (the client's send to the worker's read) say that more than 5%
/// of the requests waited over the 50 ms threshold.
#[test]
fn a_saturated_worker_pool_gets_workers() {
    let agent = Agent::start(&["--window", &WINDOW.to_string()]);
    let cgroup = TestCgroup::create("pp-verdict-pool");
    let (mut server, port) = pool(&cgroup, 2, 25);
    // Enough requests for the window and the checks.
    let each = (WINDOW + 4) * 80 / 8;
    let mut clients: Vec<Driven> = (0..8).map(|_| ready_client(port, each, 0)).collect();
    let started = Instant::now();
    for client in &mut clients {
        assert_eq!(client.command("go"), "sent");
    }
    thread::sleep(Duration::from_secs(WINDOW + 1).saturating_sub(started.elapsed()));
    let expected = expect("workers", &port.to_string());
    let scrape = agent.scrape();
    let api: Document = agent.containers();
    let entry = container(&api, cgroup.label());
    eprintln!("{entry:#?}");
    assert_eq!(from_metric(&scrape, cgroup.label()), expected, "metric");
    assert_eq!(from_api(entry), expected, "API");
    assert_eq!(entry.replicas_help, "yes");
    let requests = &entry.evidence.requests[0];
    assert_eq!(requests.port, port.to_string());
    for client in &mut clients {
        finish(client);
    }
    let queued = measured(&mut server, "queued");
    let over = queued.iter().filter(|q| **q > 0.05).count() as f64 / queued.len() as f64;
    eprintln!(
        "the workload's share of requests that waited over 50 ms: {over:.3}; the probe's in \
         the window: {}",
        requests.queue_slow_share
    );
    assert!(over > 0.05, "the requests did not wait: {over}");
}

/// With no agent on the node, `top` loads the programs itself, says so,
/// and still shows the verdicts (of the time since it started).
#[test]
fn top_without_an_agent_loads_the_programs_itself() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let busy = TestCgroup::create("pp-top-alone");
    // Busy for as long as `top` takes to load its programs and sample
    // twice, however slow the machine: a fixed run of a few seconds ended
    // before a slow machine's `top` had attached (3.6 s to load beside a
    // CPU-bound neighbour), leaving the cgroup without an event.
    let spinners = Workload::spin(busy.dir(), 1, 4, 120_000);
    let (status, table, stderr) = integration_tests::agent::run_to_end(&[
        "top",
        "--once",
        "--interval",
        "2",
        "--from",
        &format!("http://127.0.0.1:{port}"),
    ]);
    spinners.kill();
    assert!(status.success(), "top --once failed: {stderr}");
    assert!(
        stderr.contains("no agent answers at") && stderr.contains("loading the eBPF programs"),
        "{stderr}"
    );
    eprintln!("{table}");
    assert_eq!(from_table(&table, busy.label()), expect("cpu", ""));
}

/// A cgroup name is text anyone who may make a cgroup chooses: `top --once`
/// prints its control characters escaped, so a name cannot clear the
/// screen, set the window title or overwrite another row.
#[test]
fn top_once_escapes_terminal_controls_in_names() {
    let parent = TestCgroup::create("pp-top-escape");
    let (dir, _) = parent.add("rt-\u{1b}[2J\u{1b}[31mRED\u{1b}]0;pwned\u{7}\r\u{1b}[1A");
    let agent = Agent::start(&["--interval", "1"]);
    let spinners = Workload::spin(&dir, 1, 2, 60_000);
    let from = format!("http://{}", agent.addr());
    let shown = format!(
        "{}/rt-\\x1b[2J\\x1b[31mRED\\x1b]0;pwned\\x07\\x0d\\x1b[1A",
        parent.label()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let table = loop {
        let (status, table, stderr) =
            integration_tests::agent::run_to_end(&["top", "--once", "--from", &from]);
        assert!(status.success(), "top --once failed: {stderr}");
        if table.contains("pwned") || Instant::now() > deadline {
            break table;
        }
        thread::sleep(Duration::from_millis(500));
    };
    spinners.kill();
    eprintln!("{table:?}");
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "top --once printed a control character: {table:?}"
    );
    assert!(
        table.lines().any(|line| line.starts_with(&shown)),
        "no row for {shown} in {table}"
    );
}
