//! Every bad input and fault the probe has been put through, in one table:
//! what is done to it, and what must come of it. An adversarial pass adds
//! rows here, not files.
//!
//! Each row is a test of its own, named by its kind (`command_line`, `http`,
//! `names`, `host`) and its name: `cargo test --test faults -- "unknown
//! flag"` runs one, `-- http::` the HTTP rows (the binary runs its tests
//! with libtest-mimic: the rows are made at run time from the table).

use std::{
    collections::BTreeSet,
    ffi::CString,
    fs,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    os::unix::{ffi::OsStrExt, fs::MetadataExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, Mutex, PoisonError},
    thread,
    time::{Duration, Instant},
};

use integration_tests::{
    agent::{self, Agent, CheckReport},
    cgroup::{BornIn, TestCgroup},
    exposition::Exposition,
    http::{exchange, promtool_check},
    tls::Pki,
    workload::{self, TimedSleeps, Workload},
};
use libtest_mimic::Trial;

/// What is done to the probe. `{name}` in arguments is a file or address
/// the test makes (see [`Scratch::fill`]).
enum Fault {
    /// `pressure-probe ARGS`, run to its end.
    Command(&'static [&'static str]),
    /// The same as user nobody, without capabilities.
    Unprivileged(&'static [&'static str]),
    /// `pp-workload ARGS`, run to its end.
    Workload(&'static [&'static str]),
    /// `pressure-probe run ARGS`, left running.
    AgentWith(&'static [&'static str]),
    /// These bytes sent to the running agent on a new connection.
    Request(&'static [u8]),
    /// A request made by a function (too large to write out).
    LargeRequest(fn() -> Vec<u8>),
    /// A Unix signal sent to the running agent.
    Signal(i32),
    /// Cgroups with these names, side by side, each with a process in it.
    CgroupNames(&'static [&'static [u8]]),
    /// A pod whose kubelet log folders give these (namespace, pod,
    /// container) names, with a process in its container's cgroup.
    KubeNames(&'static str, &'static str, &'static str),
    /// A pod's cgroup path (kubepods, its pod and container ids) copied
    /// below a delegated cgroup, with a process in it; the kubelet's log
    /// folders name that pod.
    SpoofedPod,
    /// This many connections that send nothing, held open.
    IdleConnections(usize),
    /// A client that sends a request header line a second, forever.
    SlowHeaders,
    /// This many clients scraping back to back for this many seconds.
    ConcurrentScrapes(usize, u64),
    /// A cgroup whose path is longer than `PATH_MAX`, with a process in it.
    DeepCgroup,
    /// An agent whose cgroup root is lazily unmounted while it runs.
    LazyUnmount,
    /// `check --btf` on this many copies of the kernel's BTF, each with
    /// bytes overwritten at pseudo-random places (a fixed seed).
    FuzzedBtf(usize),
    /// An agent killed with SIGKILL.
    Kill9,
    /// A second agent beside the first, both measuring one workload.
    SecondAgent,
    /// The wall clock set an hour ahead and back while a workload runs.
    ClockJump,
    /// A process holding its socket's lock (a send faulting on a
    /// userfaultfd page) while an agent starts.
    LockHeldAtStart,
    /// A process lingering in the close of a socket whose data cannot go
    /// (`SO_LINGER` of 120 s) while the agent runs and another starts.
    LingeringClose,
    /// A pool of this many connections to its own process, kept beside
    /// the sockets accepted for them, one pair closed and opened again on
    /// the freed descriptors every 20 ms, while agents start and stop.
    ReconnectingPool(usize),
    /// A server that closed its listener and serves what it accepted,
    /// when the agent starts.
    DrainingServer,
    /// One container holding this many listening sockets, when the agent
    /// starts.
    CrowdedListeners(usize),
    /// Redis commands split over iovecs and writes, ending at a page edge,
    /// or behind a zero-length iovec over bytes never sent.
    SplitAndSpoofedRequests,
}

/// What must come of it.
enum Outcome {
    /// This exit status, a first line of standard error that is an `error:`
    /// line, no panic, and standard error says each of these.
    Refused(i32, &'static [&'static str]),
    /// This exit status, no panic, and the output (standard output and
    /// error) says each of these.
    Reports(i32, &'static [&'static str]),
    /// `check --format json`: whether it says the probe can run, and
    /// (item, verdict, text in the detail) lines it must have.
    Checks(bool, &'static [(&'static str, &'static str, &'static str)]),
    /// These response status codes, in order; the agent serves on.
    Answers(&'static [u16]),
    /// The agent logs a line with this text (none if empty) and serves on.
    Survives(&'static str),
    /// Each name gets its own series, labelled `cgroup` with these values
    /// (`{parent}` is the cgroup the names are made in, `{long}` the
    /// 255-byte name); the exposition has no duplicate series and promtool
    /// finds nothing to say about it.
    Labelled(&'static [&'static str]),
    /// The pod's series carry exactly these names; the exposition is
    /// promtool-clean.
    Named,
    /// Its series carry no Kubernetes names.
    NotNamed,
    /// `/healthz` and `/metrics` answer 200 within this time.
    StillAnswersWithin(Duration),
    /// The agent closes the connection within this time.
    ClosedWithin(Duration),
    /// Every scrape answered 200 with a whole exposition.
    EveryScrapeAnswered,
    /// The cgroup's series are labelled `cgroup="id:N"` with its histogram,
    /// and `pressure_probe_cgroups_unresolved` counts it.
    ExportedById,
    /// A cgroup made after the unmount is labelled with its path.
    PathsStillResolve,
    /// Every run ends, with status 0 or 1, and no panic.
    EndsCleanly,
    /// The agent's programs are gone from the kernel.
    NothingLeftLoaded,
    /// Both agents count the workload's events the same, and put its
    /// run-queue waits in the same buckets.
    SameCounts,
    /// No wait measured negative or absurd, and the workload's waits add up
    /// to what it timed itself.
    NoAbsurdValues,
    /// The agent starts and counts the connection while the lock is held,
    /// and times the owner's next request.
    FollowedWhileLocked,
    /// The close lingers in the owner alone: the connection is uncounted
    /// at once, and both agents serve meanwhile.
    LingersInTheOwnerAlone,
    /// No accepted socket is counted as a connection; no agent counts more
    /// than the pool holds; once steady, exactly as many.
    CountedExactly,
    /// The server has no connections of its own; its clients' count.
    NoRemotesOfItsOwn,
    /// Another container's connections older than the agent are followed.
    OthersFollowed,
    /// Long polls told by the bytes sent, the spoof's answers timed.
    ToldByTheBytesSent,
}

#[path = "faults/connections.rs"]
mod connections;

use Fault::*;
use Outcome::*;

const MINUTE_OF_HEADERS: Duration = Duration::from_secs(60);

/// The longest name a cgroup can have: 255 bytes.
const LONG_NAME: &str = concat!(
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
);

/// The table.
const TABLE: &[(&str, Fault, Outcome)] = &[
    // The command line.
    ("unknown flag", Command(&["run", "--no-such-flag"]), Refused(2, &["--no-such-flag"])),
    ("unknown signal", Command(&["run", "--signals", "runq,bogus"]), Refused(2, &["unknown signal \"bogus\"", "known: runq"])),
    ("stray comma in --signals", Command(&["run", "--signals", "runq,"]), Refused(2, &["stray comma"])),
    ("psi alone", Command(&["run", "--signals", "psi"]), Refused(1, &["name one of them too", "--signals runq,psi"])),
    ("zero --max-remotes", Command(&["run", "--max-remotes", "0"]), Refused(2, &["0 is not in 1..=1000"])),
    ("huge --kernel-remotes", Command(&["run", "--kernel-remotes", "2000000"]), Refused(2, &["is not in 1..=1048576"])),
    ("negative --dependency-p95", Command(&["run", "--dependency-p95", "-0.1"]), Refused(2, &["above 0"])),
    ("--cpu-own-share over 1", Command(&["run", "--cpu-own-share", "1.5"]), Refused(2, &["at most 1"])),
    ("zero --window", Command(&["run", "--window", "0"]), Refused(2, &["--window"])),
    ("rules with a negative threshold", Command(&["rules", "--storage-p95", "-1"]), Refused(2, &["above 0"])),
    ("top from an ftp URL", Command(&["top", "--once", "--from", "ftp://127.0.0.1:9635"]), Refused(1, &["neither http:// nor https://"])),
    ("top --user without a password", Command(&["top", "--once", "--user", "prometheus"]), Refused(1, &["PRESSURE_PROBE_PASSWORD"])),
    ("top with an unreadable --ca-file", Command(&["top", "--once", "--from", "https://127.0.0.1:9635", "--ca-file", "/nonexistent/ca.pem"]), Refused(1, &["/nonexistent/ca.pem"])),
    ("top from a URL without a port", Command(&["top", "--once", "--from", "http://127.0.0.1"]), Refused(1, &["the port is missing"])),
    ("top from a remote host that does not answer", Command(&["top", "--once", "--from", "http://192.0.2.1:9635"]), Refused(1, &["cannot read http://192.0.2.1:9635/api/v1/containers"])),
    ("malformed --listen", Command(&["run", "--listen", "localhost-9635"]), Refused(2, &["expected IP:PORT"])),
    ("--listen on a taken port", Command(&["run", "--listen", "{taken}"]), Refused(1, &["cannot listen on", "the port is taken", "--listen"])),
    ("--listen on a link-local address without interface", Command(&["run", "--listen", "[fe80::1]:0"]), Refused(1, &["link-local", "[fe80::1%2]"])),
    ("--listen on an address of no interface", Command(&["run", "--listen", "192.0.2.1:0"]), Refused(1, &["no interface of this host has that address"])),
    ("negative --max-cgroups", Command(&["run", "--max-cgroups", "-1"]), Refused(2, &["-1 is not in 1..="])),
    ("zero --max-cgroups", Command(&["run", "--max-cgroups", "0"]), Refused(2, &["0 is not in 1..="])),
    ("huge --kernel-cgroups", Command(&["run", "--kernel-cgroups", "2000000"]), Refused(2, &["is not in 1..=1048576"])),
    ("zero --http-header-timeout", Command(&["run", "--http-header-timeout", "0"]), Refused(2, &["whole number of seconds"])),
    ("relative --kubepods-root", Command(&["run", "--kubepods-root", "kubepods"]), Refused(2, &["expected a cgroup path"])),
    ("unknown hook", Command(&["run", "--disable-hook", "kprobe/nothing"]), Refused(2, &["unknown hook; known: tp_btf/sched_wakeup,"])),
    ("a required hook disabled", Command(&["run", "--signals", "runq", "--disable-hook", "tp_btf/sched_switch"]), Refused(1, &["signal runq cannot run on this kernel: kernel hook tp_btf/sched_switch is disabled by --disable-hook"])),
    ("check with a required hook disabled", Command(&["check", "--format", "json", "--disable-hook", "tp_btf/sched_switch"]), Checks(true, &[("hook tp_btf/sched_switch", "info", "disabled by --disable-hook"), ("signal runq", "info", "unavailable"), ("signal syscall", "ok", "available")])),
    ("missing --btf file", Command(&["run", "--btf", "/nonexistent/vmlinux"]), Refused(1, &["cannot read the BTF file /nonexistent/vmlinux", "No such file"])),
    ("check with a missing --btf file", Command(&["check", "--format", "json", "--btf", "/nonexistent/vmlinux"]), Checks(false, &[("btf", "fail", "cannot read the BTF file")])),
    ("--btf is a FIFO", Command(&["run", "--btf", "{fifo}"]), Refused(1, &["not a regular file"])),
    ("check with a FIFO for --btf", Command(&["check", "--format", "json", "--btf", "{fifo}"]), Checks(false, &[("btf", "fail", "not a regular file")])),
    ("--btf is a device", Command(&["run", "--btf", "/dev/null"]), Refused(1, &["not a regular file"])),
    ("--btf without any type", Command(&["run", "--btf", "{empty_btf}"]), Refused(1, &["no signal can run on this kernel", "kernel hook tp_btf/sched_wakeup is missing"])),
    ("a signal whose hook the BTF lacks", Command(&["run", "--btf", "{empty_btf}", "--signals", "syscall"]), Refused(1, &["signal syscall cannot run on this kernel: kernel hook tp_btf/sys_enter is missing"])),
    ("check with a BTF without types", Command(&["check", "--format", "json", "--btf", "{empty_btf}"]), Checks(false, &[("hook tp_btf/sched_switch", "info", "missing"), ("signal runq", "info", "unavailable"), ("signals", "fail", "no signal can run")])),
    ("--btf of garbage", Command(&["run", "--btf", "{garbage_btf}"]), Refused(1, &["cannot parse kernel BTF"])),
    ("--btf cut short", Command(&["run", "--btf", "{truncated_btf}"]), Refused(1, &["cannot parse kernel BTF"])),
    ("30 fuzzed BTF files", FuzzedBtf(30), EndsCleanly),
    ("check with a --btf of garbage", Command(&["check", "--format", "json", "--btf", "{garbage_btf}"]), Checks(false, &[("btf", "fail", "cannot parse kernel BTF")])),
    ("--cgroup-root not cgroup2", Command(&["run", "--cgroup-root", "{dir}"]), Refused(1, &["not a cgroup2 file system"])),
    ("--cgroup-root a child cgroup", Command(&["run", "--cgroup-root", "{child_cgroup}"]), Refused(1, &["below the root of its cgroup2 hierarchy"])),
    ("--cgroup-root missing", Command(&["run", "--cgroup-root", "/nonexistent/cgroup"]), Refused(1, &["--cgroup-root", "No such file"])),
    ("run without privileges", Unprivileged(&["run", "--listen", "127.0.0.1:0"]), Refused(1, &["insufficient privileges", "CAP_BPF", "root"])),
    ("check without privileges", Unprivileged(&["check", "--format", "json"]), Checks(false, &[("privileges", "fail", "needs CAP_BPF"), ("hook tp_btf/sched_switch", "ok", "this process lacks the privileges to use it"), ("hook fentry/sock_def_readable", "info", "needs CAP_BPF and CAP_PERFMON")])),
    ("pp-workload --help", Workload(&["--help"]), Reports(0, &["usage: pp-workload"])),
    ("pp-workload without arguments", Workload(&[]), Reports(2, &["usage: pp-workload"])),
    ("--log-root that is a file", AgentWith(&["--log-root", "{file}"]), Survives("--log-root is not a folder")),
    ("--log-root missing", AgentWith(&["--log-root", "/nonexistent/pods"]), Survives("--log-root is not a folder")),
    ("--web-config missing", Command(&["run", "--listen", "127.0.0.1:0", "--web-config", "{missing.yml}"]), Refused(1, &["cannot read the web configuration", "missing.yml"])),
    ("--web-config with a plaintext password", Command(&["run", "--listen", "127.0.0.1:0", "--web-config", "{plaintext.yml}"]), Refused(1, &["not a bcrypt hash", "plaintext.yml"])),
    ("--web-config is a FIFO", Command(&["run", "--listen", "127.0.0.1:0", "--web-config", "{fifo}"]), Refused(1, &["cannot read the web configuration", "fifo is not a regular file"])),
    ("--web-config is /dev/zero", Command(&["run", "--listen", "127.0.0.1:0", "--web-config", "/dev/zero"]), Refused(1, &["/dev/zero is not a regular file"])),
    ("--web-config of 2 MiB", Command(&["run", "--listen", "127.0.0.1:0", "--web-config", "{huge.yml}"]), Refused(1, &["huge.yml is over 1 MiB"])),
    ("--web-config with client certificates and no CA", Command(&["run", "--listen", "127.0.0.1:0", "--web-config", "{no-ca.yml}"]), Refused(1, &["needs client_ca_file", "no-ca.yml"])),
    // HTTP.
    ("POST", Request(b"POST /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), Answers(&[405])),
    ("PUT", Request(b"PUT /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), Answers(&[405])),
    ("DELETE", Request(b"DELETE /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), Answers(&[405])),
    ("HEAD", Request(b"HEAD /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), Answers(&[200])),
    ("a request body", Request(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"), Answers(&[413])),
    ("an unknown path", Request(b"GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), Answers(&[404])),
    ("OPTIONS *", Request(b"OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), Answers(&[404])),
    ("pipelined requests", Request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), Answers(&[200, 200])),
    ("garbage instead of a request", Request(b"\x00\x01\x02\xff garbage\r\n\r\n"), Answers(&[400])),
    ("an HTTP/0.9 request", Request(b"GET /\r\n\r\n"), Answers(&[400])),
    ("an HTTP/2 preface", Request(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Answers(&[])),
    ("a 1 MB header", LargeRequest(|| [&b"GET /metrics HTTP/1.1\r\nX-Big: "[..], &vec![b'a'; 1 << 20], b"\r\n\r\n"].concat()), Answers(&[431])),
    ("200 headers", LargeRequest(|| { let headers: String = (0..200).map(|i| format!("X-{i}: y\r\n")).collect(); format!("GET /healthz HTTP/1.1\r\n{headers}\r\n").into_bytes() }), Answers(&[431])),
    ("a 200 kB URL", LargeRequest(|| format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(200_000)).into_bytes()), Answers(&[414])),
    ("1100 idle connections", IdleConnections(1100), StillAnswersWithin(Duration::from_secs(5))),
    // The default --http-header-timeout is 10 s; the client notices within its next second.
    ("headers sent a line a second", SlowHeaders, ClosedWithin(Duration::from_secs(15))),
    ("100 clients scraping for 30 s", ConcurrentScrapes(100, 30), EveryScrapeAnswered),
    // Signals.
    ("SIGHUP", Signal(libc::SIGHUP), Survives("SIGHUP received")),
    ("SIGUSR1", Signal(libc::SIGUSR1), Survives("SIGUSR1 received")),
    ("SIGPIPE", Signal(libc::SIGPIPE), Survives("")),
    // Names.
    ("names that differ only in invalid UTF-8", CgroupNames(&[b"rt-dup\xff", b"rt-dup\xfe", b"rt-dup\\xff"]), Labelled(&["raw:{parent}/rt-dup\\xff", "raw:{parent}/rt-dup\\xfe", "{parent}/rt-dup\\xff"])),
    ("a name with invalid UTF-8 and a backslash", CgroupNames(&[b"a\\b\xc3"]), Labelled(&["raw:{parent}/a\\x5cb\\xc3"])),
    ("names with quotes, backslashes, braces and spaces", CgroupNames(&[b"q\"uote", b"back\\slash", b"br{ace}=,x", b" lead and trail "]), Labelled(&["{parent}/q\"uote", "{parent}/back\\slash", "{parent}/br{ace}=,x", "{parent}/ lead and trail "])),
    ("names in other scripts and a 255-byte name", CgroupNames(&["\u{e9}t\u{e9} \u{1f600} \u{65e5}\u{672c}".as_bytes(), LONG_NAME.as_bytes()]), Labelled(&["{parent}/\u{e9}t\u{e9} \u{1f600} \u{65e5}\u{672c}", "{parent}/{long}"])),
    ("hostile kubelet names", KubeNames("sh\"op\\", "web{1}=\n", "c\u{e9}\"x"), Named),
    ("a pod's path copied below a delegated cgroup", SpoofedPod, NotNamed),
    ("a cgroup path longer than PATH_MAX", DeepCgroup, ExportedById),
    // The host under the agent.
    ("the cgroup root lazily unmounted", LazyUnmount, PathsStillResolve),
    ("kill -9", Kill9, NothingLeftLoaded),
    ("two agents side by side", SecondAgent, SameCounts),
    ("the wall clock jumps", ClockJump, NoAbsurdValues),
    // Connections the agent follows from the kernel side.
    ("an owner holding its socket's lock as the agent starts", LockHeldAtStart, FollowedWhileLocked),
    ("an owner lingering in its close", LingeringClose, LingersInTheOwnerAlone),
    ("a pool reconnecting on the same descriptors", ReconnectingPool(50), CountedExactly),
    ("a draining server", DrainingServer, NoRemotesOfItsOwn),
    ("16,384 listeners in one container", CrowdedListeners(16384), OthersFollowed),
    ("split and spoofed requests", SplitAndSpoofedRequests, ToldByTheBytesSent),
];

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    // libtest-mimic does not keep a passing test's output to itself: the
    // rows say why they fail.
    agent::quiet_logs();
    // Made by the first row that runs, dropped (its files and cgroups
    // removed) once every test has run.
    let scratch: Arc<Mutex<Option<Scratch>>> = Arc::new(Mutex::new(None));
    let mut tests: Vec<Trial> = TABLE
        .iter()
        .map(|(name, fault, outcome)| {
            let scratch = scratch.clone();
            Trial::test(format!("{}::{name}", fault.kind()), move || {
                let mut scratch = scratch.lock().unwrap_or_else(PoisonError::into_inner);
                Ok(scratch
                    .get_or_insert_with(Scratch::new)
                    .check(fault, outcome)?)
            })
        })
        .collect();
    tests.push(Trial::test(
        "http::a_flood_of_silent_connections_leaves_a_scrapers_connection_open",
        || {
            a_flood_of_silent_connections_leaves_a_scrapers_connection_open();
            Ok(())
        },
    ));
    let conclusion = libtest_mimic::run(&args, tests);
    drop(scratch);
    conclusion.exit();
}

impl Fault {
    /// Its kind, the first part of its row's test name.
    fn kind(&self) -> &'static str {
        match self {
            Command(_) | Unprivileged(_) | AgentWith(_) | FuzzedBtf(_) => "command_line",
            Request(_)
            | LargeRequest(_)
            | IdleConnections(_)
            | SlowHeaders
            | ConcurrentScrapes(..) => "http",
            CgroupNames(_) | KubeNames(..) | SpoofedPod | DeepCgroup => "names",
            Workload(_)
            | Signal(_)
            | LazyUnmount
            | Kill9
            | SecondAgent
            | ClockJump
            | LockHeldAtStart
            | LingeringClose
            | ReconnectingPool(_)
            | DrainingServer
            | CrowdedListeners(_)
            | SplitAndSpoofedRequests => "host",
        }
    }
}

/// Files, addresses, cgroups and the agent the rows use.
struct Scratch {
    dir: PathBuf,
    /// A server certificate and a web configuration that asks for client
    /// certificates without naming their CA.
    pki: Pki,
    taken: TcpListener,
    child_cgroup: TestCgroup,
    pods: TestCgroup,
    logs: PathBuf,
    agent: Agent,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

type Checked = Result<(), String>;

fn check(ok: bool, why: impl FnOnce() -> String) -> Checked {
    if ok { Ok(()) } else { Err(why()) }
}

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("pp-faults-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("dir")).unwrap();
        let fifo = CString::new(dir.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        fs::write(dir.join("file"), "not a folder").unwrap();
        fs::write(dir.join("empty_btf"), empty_btf()).unwrap();
        let garbage: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        fs::write(dir.join("garbage_btf"), garbage).unwrap();
        let vmlinux = fs::read("/sys/kernel/btf/vmlinux").unwrap();
        fs::write(dir.join("truncated_btf"), &vmlinux[..vmlinux.len() / 3]).unwrap();
        fs::write(dir.join("huge.yml"), "#".repeat(2 << 20)).unwrap();
        fs::write(
            dir.join("plaintext.yml"),
            "basic_auth_users:\n  alice: secret\n",
        )
        .unwrap();

        let logs = dir.join("logs");
        fs::create_dir_all(logs.join("pods")).unwrap();
        fs::create_dir_all(logs.join("containers")).unwrap();
        let pods = TestCgroup::create("pp-faults-pods");
        let kubepods = format!("{}/kubepods", pods.label());
        let agent = Agent::start(&[
            "--log-root",
            logs.to_str().unwrap(),
            "--kubepods-root",
            &kubepods,
        ]);
        let pki = Pki::new("faults");
        pki.ca("ca");
        pki.leaf("server", "ca", true);
        pki.write(
            "no-ca.yml",
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n",
        );
        Scratch {
            pki,
            taken: TcpListener::bind("127.0.0.1:0").unwrap(),
            child_cgroup: TestCgroup::create("pp-faults-child"),
            pods,
            logs,
            agent,
            dir,
        }
    }

    /// `arg` with its `{name}` placeholder made real.
    fn fill(&self, arg: &str) -> String {
        match arg {
            "{taken}" => self.taken.local_addr().unwrap().to_string(),
            "{child_cgroup}" => self.child_cgroup.dir().display().to_string(),
            "{no-ca.yml}" => self.pki.path("no-ca.yml").display().to_string(),
            name if name.starts_with('{') && name.ends_with('}') => self
                .dir
                .join(&name[1..name.len() - 1])
                .display()
                .to_string(),
            plain => plain.to_string(),
        }
    }

    fn filled(&self, args: &[&str]) -> Vec<String> {
        args.iter().map(|a| self.fill(a)).collect()
    }

    fn check(&self, fault: &Fault, outcome: &Outcome) -> Checked {
        match (fault, outcome) {
            (Command(args), _) => {
                let mut command = agent::command(&[]);
                command.args(self.filled(args));
                finished(command, outcome)
            }
            (Unprivileged(args), _) => {
                let mut command = Command::new("setpriv");
                command
                    .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                    .arg(agent::binary())
                    .args(self.filled(args));
                finished(command, outcome)
            }
            (Workload(args), _) => {
                let mut command = Command::new(workload::binary());
                command.args(*args);
                finished(command, outcome)
            }
            (AgentWith(args), Survives(text)) => {
                let args = self.filled(args);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let mut agent = Agent::start(&args);
                survives(&mut agent, text)
            }
            (Request(bytes), Answers(codes)) => self.answers(bytes, codes),
            (LargeRequest(make), Answers(codes)) => self.answers(&make(), codes),
            (Signal(signal), Survives(text)) => {
                self.agent.signal(*signal);
                self.serves_on(text)
            }
            (CgroupNames(names), Labelled(labels)) => self.labelled(names, labels),
            (KubeNames(namespace, pod, container), Named) => self.named(namespace, pod, container),
            (SpoofedPod, NotNamed) => self.not_named(),
            (IdleConnections(count), StillAnswersWithin(within)) => {
                let idle: Vec<TcpStream> = (0..*count)
                    .map(|_| TcpStream::connect(self.agent.addr()).unwrap())
                    .collect();
                let started = Instant::now();
                let health = exchange(
                    self.agent.addr(),
                    b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                    *within,
                )
                .0;
                let metrics = exchange(
                    self.agent.addr(),
                    b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                    *within,
                )
                .0;
                let took = started.elapsed();
                drop(idle);
                check(
                    health == [200] && metrics == [200] && took < *within,
                    || {
                        format!(
                            "with {count} idle connections: /healthz {health:?}, /metrics {metrics:?} in {took:?}"
                        )
                    },
                )
            }
            (SlowHeaders, ClosedWithin(within)) => {
                let took = slow_headers(self.agent.addr(), MINUTE_OF_HEADERS);
                check(took < *within, || {
                    format!("the slow client was held for {took:?}")
                })
            }
            (ConcurrentScrapes(clients, seconds), EveryScrapeAnswered) => {
                self.concurrent_scrapes(*clients, Duration::from_secs(*seconds))
            }
            (DeepCgroup, ExportedById) => self.deep_cgroup(),
            (LazyUnmount, PathsStillResolve) => lazy_unmount(),
            (FuzzedBtf(count), EndsCleanly) => self.fuzzed_btf(*count),
            (Kill9, NothingLeftLoaded) => kill9(),
            (SecondAgent, SameCounts) => self.second_agent(),
            (ClockJump, NoAbsurdValues) => self.clock_jump(),
            (LockHeldAtStart, FollowedWhileLocked) => connections::lock_held_at_start(),
            (LingeringClose, LingersInTheOwnerAlone) => connections::lingering_close(),
            (ReconnectingPool(count), CountedExactly) => connections::reconnecting_pool(*count),
            (DrainingServer, NoRemotesOfItsOwn) => connections::draining_server(),
            (CrowdedListeners(count), OthersFollowed) => connections::crowded_listeners(*count),
            (SplitAndSpoofedRequests, ToldByTheBytesSent) => connections::request_shapes(),
            _ => Err("this fault has no check for this outcome".into()),
        }
    }

    fn fuzzed_btf(&self, count: usize) -> Checked {
        let original = fs::read("/sys/kernel/btf/vmlinux").map_err(|e| e.to_string())?;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let path = self.dir.join("fuzzed_btf");
        for round in 0..count {
            let mut bytes = original.clone();
            // The header and the first types matter most; the rest anywhere.
            for _ in 0..16 {
                let span = if next() % 2 == 0 { 4096 } else { bytes.len() };
                let at = (next() % span as u64) as usize;
                bytes[at] = next() as u8;
            }
            fs::write(&path, &bytes).map_err(|e| e.to_string())?;
            let (code, stdout, stderr) =
                run_watched(agent::command(&["check", "--btf", path.to_str().unwrap()]))?;
            check(matches!(code, Some(0 | 1)), || {
                format!("fuzzed BTF {round}: exit {code:?}: {stdout}{stderr}")
            })?;
        }
        Ok(())
    }

    fn serves_on(&self, text: &str) -> Checked {
        if !text.is_empty() && !self.agent.logged(text, Duration::from_secs(5)) {
            return Err(format!("the agent did not log {text:?}"));
        }
        let (status, _) = self.agent.get("/healthz");
        check(status == 200, || {
            format!("/healthz answered {status} afterwards")
        })
    }

    fn answers(&self, request: &[u8], codes: &[u16]) -> Checked {
        let (got, _) = exchange(self.agent.addr(), request, Duration::from_secs(15));
        check(got == codes, || {
            format!("answered {got:?}, expected {codes:?}")
        })?;
        self.serves_on("")
    }

    fn labelled(&self, names: &[&[u8]], labels: &[&str]) -> Checked {
        let parent = TestCgroup::create("pp-faults-names");
        let mut workloads = Vec::new();
        for name in names {
            let mut path = parent.dir().as_os_str().as_bytes().to_vec();
            path.push(b'/');
            path.extend_from_slice(name);
            let dir = PathBuf::from(std::ffi::OsStr::from_bytes(&path));
            fs::create_dir(&dir).map_err(|e| format!("cannot make cgroup {name:?}: {e}"))?;
            // Born in the cgroup: its path need not pass through a command line.
            workloads.push(BornIn::spawn(
                &dir,
                &workload::binary(),
                &["sleep", "-", "0", "5", "300"],
            ));
        }
        for workload in workloads {
            check(workload.wait(), || "a workload failed".into())?;
        }
        let (status, body) = self.agent.get("/metrics");
        check(status == 200, || format!("/metrics answered {status}"))?;
        let report = promtool_check(&body);
        check(report.is_empty(), || {
            format!("promtool check metrics: {report}")
        })?;
        no_duplicate_series(&body)?;
        let scrape = Exposition::parse(&body);
        let got: BTreeSet<String> = scrape
            .find("pressure_runqueue_latency_seconds_count", &[])
            .filter_map(|s| s.labels.get("cgroup"))
            .filter(|c| c.contains("pp-faults-names"))
            .cloned()
            .collect();
        let expected: BTreeSet<String> = labels
            .iter()
            .map(|l| {
                l.replace("{parent}", parent.label())
                    .replace("{long}", LONG_NAME)
            })
            .collect();
        check(got == expected, || {
            format!("labels {got:?}, expected {expected:?}")
        })
    }

    fn named(&self, namespace: &str, pod: &str, container: &str) -> Checked {
        let uid = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
        let id = "ab".repeat(32);
        let pod_dir = self
            .logs
            .join(format!("pods/{namespace}_{pod}_{uid}/{container}"));
        fs::create_dir_all(&pod_dir).map_err(|e| e.to_string())?;
        let (dir, cgroup) = self.pods.add(&format!("kubepods/burstable/pod{uid}/{id}"));
        Workload::sleeper(&dir, 0, 5, 300).wait();
        self.agent.signal(libc::SIGHUP);
        let (_, body) = self.agent.get("/metrics");
        let report = promtool_check(&body);
        check(report.is_empty(), || {
            format!("promtool check metrics: {report}")
        })?;
        let scrape = Exposition::parse(&body);
        let wanted = [("cgroup", cgroup.as_str())];
        let sample = scrape
            .find("pressure_runqueue_latency_seconds_count", &wanted)
            .next()
            .ok_or_else(|| format!("no series for {cgroup}"))?;
        let names = (
            sample.labels.get("namespace").map(String::as_str),
            sample.labels.get("pod").map(String::as_str),
            sample.labels.get("container").map(String::as_str),
        );
        check(
            names == (Some(namespace), Some(pod), Some(container)),
            || format!("labels {:?}", sample.labels),
        )
    }

    /// Kubernetes is recognised only where the kubelet puts its pods (here
    /// `--kubepods-root`): the same path below another cgroup gets no names,
    /// though the log folders name its pod.
    fn not_named(&self) -> Checked {
        let uid = "5f0e1d2c-3b4a-5968-7a6b-5c4d3e2f1a0b";
        let id = "cd".repeat(32);
        fs::create_dir_all(self.logs.join(format!("pods/shop_web-1_{uid}/nginx")))
            .map_err(|e| e.to_string())?;
        let (dir, cgroup) = self
            .pods
            .add(&format!("delegated/spoof/kubepods/burstable/pod{uid}/{id}"));
        Workload::sleeper(&dir, 0, 5, 300).wait();
        self.agent.signal(libc::SIGHUP);
        let scrape = self.agent.scrape();
        let wanted = [("cgroup", cgroup.as_str())];
        let sample = scrape
            .find("pressure_runqueue_latency_seconds_count", &wanted)
            .next()
            .ok_or_else(|| format!("no series for {cgroup}"))?;
        check(
            ["namespace", "pod", "container", "pod_uid", "container_id"]
                .iter()
                .all(|name| !sample.labels.contains_key(*name)),
            || format!("labels {:?}", sample.labels),
        )
    }

    fn concurrent_scrapes(&self, clients: usize, duration: Duration) -> Checked {
        let addr = self.agent.addr();
        let deadline = Instant::now() + duration;
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                thread::spawn(move || {
                    let (mut ok, mut failed) = (0u64, Vec::new());
                    while Instant::now() < deadline {
                        let (status, body) = agent::http_get(addr, "/metrics");
                        if status == 200 && body.contains("pressure_probe_build_info") {
                            ok += 1;
                        } else {
                            failed.push(status);
                        }
                    }
                    (ok, failed)
                })
            })
            .collect();
        let (mut ok, mut failed) = (0, Vec::new());
        for worker in workers {
            let (o, f) = worker.join().unwrap();
            ok += o;
            failed.extend(f);
        }
        eprintln!("       {ok} scrapes answered by {clients} clients in {duration:?}");
        check(failed.is_empty() && ok > 0, || {
            format!(
                "{} scrapes failed ({:?}...), {ok} answered",
                failed.len(),
                &failed[..failed.len().min(5)]
            )
        })
    }

    fn deep_cgroup(&self) -> Checked {
        let top = TestCgroup::create("pp-faults-deep");
        let deep = DeepDir::make(top.dir(), 20);
        let id = deep.id();
        let workload = deep.run_sleeper();
        let scrape = self.agent.scrape();
        drop(workload);
        let label = format!("id:{id}");
        check(
            scrape
                .histogram("pressure_runqueue_latency_seconds", &[("cgroup", &label)])
                .is_some_and(|h| h.count > 0.0),
            || format!("no run-queue histogram labelled cgroup={label:?}"),
        )?;
        let unresolved = scrape
            .value("pressure_probe_cgroups_unresolved", &[])
            .unwrap_or(0.0);
        check(unresolved >= 1.0, || {
            format!("pressure_probe_cgroups_unresolved is {unresolved}")
        })?;
        let warning = format!("its series are labelled cgroup=\"id:{id}\"");
        check(self.agent.logged(&warning, Duration::from_secs(5)), || {
            format!("no log line says {warning:?}")
        })
    }

    fn second_agent(&self) -> Checked {
        let second = Agent::start(&[]);
        let cgroup = TestCgroup::create("pp-faults-twins");
        Workload::syscalls(cgroup.dir(), 50, 20, 10).finish();
        Workload::sleeper(cgroup.dir(), 0, 5, 300).wait();
        let (a, b) = (self.agent.scrape(), second.scrape());
        let mine = |scrape: &Exposition| -> Vec<(String, String, f64)> {
            let mut samples: Vec<_> = scrape
                .samples
                .iter()
                .filter(|s| s.labels.get("cgroup").map(String::as_str) == Some(cgroup.label()))
                // Counts match exactly; so do run-queue buckets (both read the
                // run queue's clock at the same event), not syscall buckets
                // (each program reads the clock itself, so a duration on a
                // bucket edge may fall on either side).
                .filter(|s| {
                    s.name.ends_with("_count")
                        || s.name.ends_with("_total")
                        || s.name == "pressure_runqueue_latency_seconds_bucket"
                })
                .map(|s| (s.name.clone(), format!("{:?}", s.labels), s.value))
                .collect();
            samples.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
            samples
        };
        let (from_a, from_b) = (mine(&a), mine(&b));
        check(!from_a.is_empty() && from_a == from_b, || {
            let differ: Vec<_> = from_a
                .iter()
                .zip(&from_b)
                .filter(|(x, y)| x != y)
                .take(3)
                .collect();
            format!(
                "{} and {} series; first differences: {differ:?}",
                from_a.len(),
                from_b.len()
            )
        })
    }

    fn clock_jump(&self) -> Checked {
        let lost = |scrape: &Exposition| -> f64 {
            ["negative_delta", "absurd_delta", "too_long"]
                .iter()
                .filter_map(|reason| {
                    scrape
                        .find("pressure_probe_events_lost_total", &[("reason", reason)])
                        .map(|s| s.value)
                        .reduce(|x, y| x + y)
                })
                .sum()
        };
        let before = lost(&self.agent.scrape());
        let cgroup = TestCgroup::create("pp-faults-clock");
        let workload = Workload::syscalls(cgroup.dir(), 200, 0, 0);
        thread::sleep(Duration::from_millis(100));
        shift_wall_clock(3600);
        thread::sleep(Duration::from_millis(100));
        shift_wall_clock(-3600);
        let slept = TimedSleeps::of(&workload.wait_for_output());
        let after = self.agent.scrape();
        let wait = after
            .histogram(
                "pressure_syscall_latency_seconds",
                &[("cgroup", cgroup.label()), ("class", "wait")],
            )
            .ok_or("no wait histogram")?;
        let admitted = slept.admit(&wait);
        check(lost(&after) == before && admitted.is_ok(), || {
            format!(
                "discarded waits {before} -> {}; wait sum: {admitted:?}",
                lost(&after)
            )
        })
    }
}

/// Runs `command` to its end (killed after 30 s: a hang fails the row, not
/// the test): (exit code, standard output, standard error); an error if it
/// panicked.
fn run_watched(mut command: Command) -> Result<(Option<i32>, String, String), String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let pid = child.id() as i32;
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(30)).is_err() {
            // SAFETY: kill(2) on a child that has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = done_tx.send(());
    let _ = watchdog.join();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    let both = format!("{stdout}{stderr}");
    check(
        !both.contains("panicked") && !both.contains("RUST_BACKTRACE"),
        || format!("a panic: {both}"),
    )?;
    Ok((out.status.code(), stdout, stderr))
}

/// Checks a command's end against `outcome`.
fn finished(command: Command, outcome: &Outcome) -> Checked {
    let (status, stdout, stderr) = run_watched(command)?;
    let both = format!("{stdout}{stderr}");
    let (code, says, text) = match outcome {
        Refused(code, says) => {
            let first = stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_default();
            check(first.starts_with("error:"), || {
                format!("first line is not an error line: {stderr}")
            })?;
            (*code, *says, stderr.to_string())
        }
        Reports(code, says) => (*code, *says, both.clone()),
        Checks(can_run, lines) => {
            let report = CheckReport::parse(&stdout)?;
            check(
                report.can_run == *can_run && status == Some(i32::from(!can_run)),
                || format!("can_run {}, exit {status:?}: {report:?}", report.can_run),
            )?;
            for (item, verdict, detail) in *lines {
                check(report.says(item, verdict, detail), || {
                    format!("no {item} {verdict} {detail:?} in {report:?}")
                })?;
            }
            return Ok(());
        }
        _ => return Err("a command's outcome is Refused, Reports or Checks".into()),
    };
    check(status == Some(code), || {
        format!("exit {status:?}, expected {code}: {both}")
    })?;
    for text_wanted in says {
        check(text.contains(text_wanted), || {
            format!("no {text_wanted:?} in: {text}")
        })?;
    }
    Ok(())
}

fn survives(agent: &mut Agent, text: &str) -> Checked {
    check(agent.logged(text, Duration::from_secs(10)), || {
        format!("no log line {text:?}")
    })?;
    check(agent.running(), || "the agent stopped".into())?;
    let (status, _) = agent.get("/healthz");
    check(status == 200, || format!("/healthz answered {status}"))
}

/// No two samples share a name and a label set.
fn no_duplicate_series(body: &str) -> Checked {
    let mut seen = BTreeSet::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let series = line.rsplit_once(' ').map_or(line, |(series, _)| series);
        check(seen.insert(series.to_string()), || {
            format!("duplicate series: {series}")
        })?;
    }
    Ok(())
}

/// Sends a request line and then a header line a second until the agent
/// closes the connection or `limit` passes; how long that took.
fn slow_headers(addr: SocketAddr, limit: Duration) -> Duration {
    use std::io::Write;
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\n");
    while started.elapsed() < limit {
        thread::sleep(Duration::from_secs(1));
        if stream.write_all(b"X-Slow: 1\r\n").is_err() {
            break;
        }
    }
    started.elapsed()
}

/// A valid BTF blob that describes no types: a kernel without any hook.
fn empty_btf() -> Vec<u8> {
    let mut blob = Vec::new();
    blob.extend_from_slice(&0xeb9f_u16.to_le_bytes()); // magic
    blob.extend_from_slice(&[1, 0]); // version, flags
    for field in [24u32, 0, 0, 0, 1] {
        // hdr_len, type_off, type_len, str_off, str_len
        blob.extend_from_slice(&field.to_le_bytes());
    }
    blob.push(0); // the empty string
    blob
}

/// Moves the wall clock by `seconds`.
fn shift_wall_clock(seconds: i64) {
    // SAFETY: clock_gettime and clock_settime on a plain struct.
    unsafe {
        let mut now: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut now);
        now.tv_sec += seconds;
        assert_eq!(
            libc::clock_settime(libc::CLOCK_REALTIME, &now),
            0,
            "clock_settime"
        );
    }
}

/// Ids of the loaded programs of the probe's signals (anyone's).
fn probe_programs() -> BTreeSet<u32> {
    agent::loaded_program_ids(&["runq_", "syscall_", "tcp_", "memory_", "dependency_"])
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

fn kill9() -> Checked {
    let before = probe_programs();
    let agent = Agent::start(&[]);
    let its: BTreeSet<u32> = probe_programs().difference(&before).copied().collect();
    agent.signal(libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    let left = || -> Vec<u32> { probe_programs().intersection(&its).copied().collect() };
    while !left().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let left = left();
    drop(agent);
    check(!its.is_empty() && left.is_empty(), || {
        format!("the agent loaded programs {its:?}; after kill -9, {left:?} remain")
    })
}

fn lazy_unmount() -> Checked {
    let mount = std::env::temp_dir().join(format!("pp-faults-cgroup2-{}", std::process::id()));
    fs::create_dir_all(&mount).map_err(|e| e.to_string())?;
    let status = Command::new("mount")
        .args(["-t", "cgroup2", "none"])
        .arg(&mount)
        .status()
        .map_err(|e| e.to_string())?;
    check(status.success(), || "cannot mount cgroup2".into())?;
    let agent = Agent::start(&[
        "--signals",
        "runq",
        "--cgroup-root",
        mount.to_str().unwrap(),
    ]);
    let status = Command::new("umount")
        .arg("-l")
        .arg(&mount)
        .status()
        .map_err(|e| e.to_string())?;
    check(status.success(), || "cannot unmount lazily".into())?;
    let _ = fs::remove_dir(&mount);
    let cgroup = TestCgroup::create("pp-faults-after-umount");
    Workload::sleeper(cgroup.dir(), 0, 5, 300).wait();
    let scrape = agent.scrape();
    check(
        scrape
            .histogram(
                "pressure_runqueue_latency_seconds",
                &[("cgroup", cgroup.label())],
            )
            .is_some(),
        || format!("no series labelled {} after the unmount", cgroup.label()),
    )
}

/// A chain of cgroups whose full path is longer than `PATH_MAX`, made and
/// removed through directory file descriptors (paths that long cannot be
/// named).
struct DeepDir {
    /// Open directories, outermost first.
    dirs: Vec<fs::File>,
}

impl DeepDir {
    const NAME: &'static str = "deep-cgroup-component-of-two-hundred-and-fifty-bytes-deep-cgroup-component-of-two-hundred-and-fifty-bytes-deep-cgroup-component-of-two-hundred-and-fifty-bytes-deep-cgroup-component-of-two-hundred-and-fifty-bytes-deep-cgroup-component-of-two-hundred-and-fifty";

    fn make(top: &Path, levels: usize) -> DeepDir {
        let name = CString::new(Self::NAME).unwrap();
        let mut dirs = vec![fs::File::open(top).unwrap()];
        for _ in 0..levels {
            use std::os::fd::{AsRawFd, FromRawFd};
            let parent = dirs.last().unwrap().as_raw_fd();
            // SAFETY: a valid directory fd and NUL-terminated name.
            unsafe {
                assert_eq!(libc::mkdirat(parent, name.as_ptr(), 0o755), 0, "mkdirat");
                let fd = libc::openat(parent, name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
                assert!(fd >= 0, "openat");
                dirs.push(fs::File::from_raw_fd(fd));
            }
        }
        assert!(levels * (Self::NAME.len() + 1) > libc::PATH_MAX as usize);
        DeepDir { dirs }
    }

    fn id(&self) -> u64 {
        self.dirs.last().unwrap().metadata().unwrap().ino()
    }

    /// A sleeper in the deepest cgroup, joined through its `cgroup.procs`.
    fn run_sleeper(&self) -> BornSleeper {
        use std::os::fd::AsRawFd;
        let procs = CString::new("cgroup.procs").unwrap();
        // SAFETY: a valid directory fd and NUL-terminated name.
        let fd = unsafe {
            libc::openat(
                self.dirs.last().unwrap().as_raw_fd(),
                procs.as_ptr(),
                libc::O_WRONLY,
            )
        };
        assert!(fd >= 0, "open cgroup.procs");
        let child = Command::new(workload::binary())
            .args(["sleep", "-", "0", "5", "2000"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id().to_string();
        // SAFETY: writing to the fd opened above, then closing it.
        unsafe {
            libc::write(fd, pid.as_ptr().cast(), pid.len());
            libc::close(fd);
        }
        thread::sleep(Duration::from_millis(1000));
        BornSleeper { child }
    }
}

impl Drop for DeepDir {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        let name = CString::new(Self::NAME).unwrap();
        while self.dirs.len() > 1 {
            self.dirs.pop();
            let parent = self.dirs.last().unwrap().as_raw_fd();
            for _ in 0..200 {
                // SAFETY: a valid directory fd and NUL-terminated name.
                let removed = unsafe { libc::unlinkat(parent, name.as_ptr(), libc::AT_REMOVEDIR) };
                if removed == 0 {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A workload killed and reaped on drop.
struct BornSleeper {
    child: std::process::Child,
}

impl Drop for BornSleeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A flood of connections that send nothing, far past
/// `--http-max-connections`: each new one takes the place of one of its
/// kind, and a scraper's kept-alive connection, idle between two scrapes,
/// stays open and is answered again. (Each took the place of the connection
/// idle longest: the scraper's.)
fn a_flood_of_silent_connections_leaves_a_scrapers_connection_open() {
    let agent = Agent::start(&["--http-max-connections", "8"]);
    let mut scraper = TcpStream::connect(agent.addr()).unwrap();
    scraper
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let ask = |scraper: &mut TcpStream| -> Option<u16> {
        scraper
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n")
            .ok()?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            (scraper.read(&mut byte).ok()? == 1).then_some(())?;
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
        let mut body = vec![0; length];
        scraper.read_exact(&mut body).ok()?;
        head.split_whitespace().nth(1)?.parse().ok()
    };
    assert_eq!(ask(&mut scraper), Some(200), "the first scrape");
    let flood: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(agent.addr()).unwrap())
        .collect();
    // Accepted in order: once this is answered, the flood was taken in.
    let (codes, _) = exchange(
        agent.addr(),
        b"GET /healthz HTTP/1.0\r\n\r\n",
        Duration::from_secs(10),
    );
    assert_eq!(codes, [200], "a new connection after the flood");
    assert_eq!(
        ask(&mut scraper),
        Some(200),
        "the scraper's kept-alive connection after a flood of 100 silent ones"
    );
    drop(flood);
}
