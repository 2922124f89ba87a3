//! The agent under test, run as a real process.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpStream},
    os::fd::FromRawFd,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use pressure_probe::api::{Container, Document};

use crate::exposition::Exposition;

/// Path of the `pressure-probe` binary, set by `cargo xtask test`.
pub fn binary() -> PathBuf {
    let path = std::env::var_os("PRESSURE_PROBE_BIN")
        .expect("PRESSURE_PROBE_BIN is not set: run the integration tests with `cargo xtask test`");
    PathBuf::from(path)
}

/// A `pressure-probe` command with `args`, output captured.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `pressure-probe args` to completion: (status, stdout, stderr).
pub fn run_to_end(args: &[&str]) -> (ExitStatus, String, String) {
    let out = command(args).output().expect("cannot start pressure-probe");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether agents' log lines are echoed to standard error (libtest keeps
/// a passing test's output to itself; a harness that does not, such as the
/// fault table's, turns the echo off).
static ECHO_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Stops echoing agents' log lines (they are still read: [`Agent::logged`]).
pub fn quiet_logs() {
    ECHO_LOGS.store(false, std::sync::atomic::Ordering::Relaxed);
}

/// A running agent; terminated with SIGTERM when dropped.
pub struct Agent {
    child: Option<Child>,
    addr: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl Agent {
    /// Starts `pressure-probe run` on an ephemeral loopback port and waits
    /// until it serves; it samples the kernel every 0.1 s unless `extra`
    /// says `--interval`. Panics with the agent's output if it cannot load.
    pub fn start(extra: &[&str]) -> Agent {
        let mut args = extra.to_vec();
        if !args.contains(&"--interval") {
            args.extend(["--interval", "0.1"]);
        }
        Self::start_binary(&binary(), &args).unwrap_or_else(|err| panic!("{err}"))
    }

    /// Starts `binary run ARGS` (on an ephemeral loopback port unless `extra`
    /// says `--listen`) and waits until it says it is ready, the way a
    /// service manager would hear it: `READY=1` and `LISTEN=<address>` on
    /// the socket in `NOTIFY_SOCKET`. An error, with the agent's output, if
    /// it exits first or takes more than a minute.
    pub fn start_binary(binary: &std::path::Path, extra: &[&str]) -> Result<Agent, String> {
        Self::start_configured(binary, extra, &[])
    }

    /// [`Agent::start_binary`] with `env` set too (`PRESSURE_PROBE_LISTEN`
    /// there stands for `--listen`).
    pub fn start_configured(
        binary: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Agent, String> {
        Self::launch(binary, extra, env, None)
    }

    /// [`Agent::start`] without the capability numbered `capability` (see
    /// `capabilities(7)`): it is dropped from the bounding set before the
    /// agent's exec, so that the agent, root as it is, never holds it.
    pub fn start_without(capability: u32, extra: &[&str]) -> Agent {
        Self::launch(&binary(), extra, &[], Some(capability)).unwrap_or_else(|err| panic!("{err}"))
    }

    fn launch(
        binary: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
        without: Option<u32>,
    ) -> Result<Agent, String> {
        let mut args = vec!["run"];
        let listens = extra.contains(&"--listen")
            || env.iter().any(|(name, _)| *name == "PRESSURE_PROBE_LISTEN");
        if !listens {
            args.extend(["--listen", "127.0.0.1:0"]);
        }
        args.extend_from_slice(extra);
        let notify = NotifySocket::new();
        let mut command = Command::new(binary);
        command
            .args(&args)
            .envs(env.iter().copied())
            .env("NOTIFY_SOCKET", notify.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(capability) = without {
            // SAFETY: the closure runs in the child between fork and exec and
            // makes one async-signal-safe system call.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                    if libc::prctl(libc::PR_CAPBSET_DROP, capability as libc::c_ulong, 0, 0, 0) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if ECHO_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
                    eprintln!("[agent] {line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(addr) = notify.ready_at(Duration::from_millis(200)) {
                return Ok(Agent {
                    child: Some(child),
                    addr,
                    log: rx,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                let seen: Vec<String> = rx.try_iter().collect();
                return Err(format!(
                    "the agent exited ({status}) before serving: it could not load its eBPF \
                     programs or bind. Its output:\n{}",
                    seen.join("\n")
                ));
            }
        }
        let _ = child.kill();
        // Reaped aside: an agent stuck in the kernel (uninterruptible) dies
        // only once what it waits for is let go, which may be this test's
        // doing after this returns.
        std::thread::spawn(move || child.wait());
        Err("the agent did not become ready within a minute".into())
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// A memory field of its `/proc/PID/status` in KiB, such as `VmRSS`
    /// (resident now) or `VmHWM` (the peak).
    pub fn status_kib(&self, field: &str) -> u64 {
        self.status(field)
            .parse()
            .unwrap_or_else(|_| panic!("{field} of /proc/{}/status is no number", self.pid()))
    }

    /// The first word of field `field` of its `/proc/PID/status`, such as
    /// `CapEff` (its effective capabilities, in hexadecimal).
    pub fn status(&self, field: &str) -> String {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| Some(value.split_whitespace().next()?.to_string()))
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.pid()))
    }

    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// GETs `path`: (status code, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path)
    }

    /// `GET /api/v1/containers`, read into the agent's own types.
    pub fn containers(&self) -> Document {
        let (status, body) = self.get("/api/v1/containers");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("the API answered {e}: {body}"))
    }

    /// Scrapes and parses `/metrics`, from a sample the agent took after
    /// this call (it samples on its own clock: everything that happened
    /// before the call is in it).
    pub fn scrape(&self) -> Exposition {
        let samples = |e: &Exposition| e.value("pressure_probe_samples_total", &[]).unwrap_or(0.0);
        let before = samples(&self.scrape_latest());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = self.scrape_latest();
            // Sample before + 1 may have begun before this call; before + 2 did not.
            if samples(&now) >= before + 2.0 {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "the agent took no new sample in a minute"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Scrapes and parses `/metrics` as it is now (the latest sample).
    pub fn scrape_latest(&self) -> Exposition {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "GET /metrics failed: {body}");
        Exposition::parse(&body)
    }

    /// Waits up to `within` for a log line that contains `needle` (lines
    /// logged before the agent served count).
    pub fn logged(&self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(remaining) {
                Ok(line) if line.contains(needle) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    /// Names of the BPF programs the agent holds, one per program (from its
    /// file descriptors: programs other processes hold, or that are still
    /// being freed, are not counted; the kernel keeps 15 bytes of a name).
    pub fn programs(&self) -> Vec<String> {
        let ids: std::collections::BTreeSet<u32> =
            std::fs::read_dir(format!("/proc/{}/fdinfo", self.pid()))
                .map(|entries| {
                    entries
                        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                        .filter_map(|info| {
                            info.lines()
                                .find_map(|l| l.strip_prefix("prog_id:")?.trim().parse().ok())
                        })
                        .collect()
                })
                .unwrap_or_default();
        let mut names: Vec<String> = loaded_program_ids(&[""])
            .into_iter()
            .filter(|(id, _)| ids.contains(id))
            .map(|(_, name)| name)
            .collect();
        names.sort();
        names
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().ok().flatten().is_none())
    }

    /// Sends `signal` without waiting.
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain kill(2) on our own child, which has not been waited for.
        unsafe { libc::kill(self.pid() as i32, signal) };
    }

    /// Sends `signal` and waits for the exit: (status, remaining log lines).
    pub fn stop_with(mut self, signal: i32) -> (ExitStatus, Vec<String>) {
        let status =
            signal_and_wait(self.child.take().unwrap(), signal).expect("cannot wait for the agent");
        let lines = self.log.try_iter().collect();
        (status, lines)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = signal_and_wait(child, libc::SIGTERM);
        }
    }
}

/// How long an agent may take to exit after a signal before it is killed:
/// a hung agent fails its test (its status says SIGKILL) instead of
/// hanging it. An agent detaches and exits in well under a second.
const EXIT_BOUND: Duration = Duration::from_secs(30);

/// Sends `signal` to `child` and waits for it to exit, at most
/// [`EXIT_BOUND`]; then kills it.
fn signal_and_wait(mut child: Child, signal: i32) -> std::io::Result<ExitStatus> {
    // SAFETY: plain kill(2) on our own child, which has not been waited for.
    unsafe { libc::kill(child.id() as i32, signal) };
    let deadline = Instant::now() + EXIT_BOUND;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    child.wait()
}

/// A datagram socket for sd_notify messages, removed on drop.
struct NotifySocket {
    dir: std::path::PathBuf,
    socket: std::os::unix::net::UnixDatagram,
}

impl NotifySocket {
    fn new() -> NotifySocket {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("pp-notify-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot make the notify folder");
        let socket = std::os::unix::net::UnixDatagram::bind(dir.join("notify"))
            .expect("cannot bind the notify socket");
        NotifySocket { dir, socket }
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.join("notify")
    }

    /// The address of a `READY=1` message with `LISTEN=`, if one arrives
    /// within `wait`.
    fn ready_at(&self, wait: Duration) -> Option<SocketAddr> {
        self.socket.set_read_timeout(Some(wait)).ok()?;
        let mut buffer = [0u8; 4096];
        let len = self.socket.recv(&mut buffer).ok()?;
        let message = String::from_utf8_lossy(&buffer[..len]);
        if !message.lines().any(|l| l == "READY=1") {
            return None;
        }
        message
            .lines()
            .find_map(|l| l.strip_prefix("LISTEN="))?
            .parse()
            .ok()
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A minimal HTTP/1.0 GET: (status code, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let response = http_get_with(addr, path, &[]);
    (
        response.status,
        String::from_utf8_lossy(&response.body).into_owned(),
    )
}

/// An HTTP response.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, as sent.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.0 GET with extra `headers`.
pub fn http_get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    http_get_on(stream, addr, path, headers)
}

/// The same from the local address `from` (a loopback address other than
/// 127.0.0.1: another client, as the agent sees it).
pub fn http_get_from(
    from: Ipv4Addr,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    // SAFETY: plain socket calls on a descriptor this function owns; the
    // addresses are plain structs of the sizes given.
    let stream = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        let SocketAddr::V4(to) = addr else {
            panic!("{addr} is not an IPv4 address")
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let local = sockaddr(from, 0);
        assert_eq!(
            libc::bind(fd, (&raw const local).cast(), len),
            0,
            "bind {from}: {}",
            std::io::Error::last_os_error()
        );
        let remote = sockaddr(*to.ip(), to.port());
        assert_eq!(
            libc::connect(fd, (&raw const remote).cast(), len),
            0,
            "connect {addr} from {from}: {}",
            std::io::Error::last_os_error()
        );
        stream
    };
    http_get_on(stream, addr, path, headers)
}

/// A minimal HTTP/1.0 GET on a connected `stream`.
fn http_get_on(
    mut stream: TcpStream,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("malformed HTTP response");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("malformed HTTP status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: response[split + 4..].to_vec(),
    }
}

/// Names of the loaded BPF programs (anyone's) that start with one of `prefixes`.
pub fn loaded_programs(prefixes: &[&str]) -> Vec<String> {
    loaded_program_ids(prefixes)
        .into_iter()
        .map(|(_, name)| name)
        .collect()
}

/// (id, name) of the loaded BPF programs (anyone's) whose names start with
/// one of `prefixes`.
pub fn loaded_program_ids(prefixes: &[&str]) -> Vec<(u32, String)> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter_map(|p| Some((p.id(), p.name_as_str()?.to_string())))
        .filter(|(_, n)| prefixes.iter().any(|prefix| n.starts_with(prefix)))
        .collect()
}

/// What `pressure-probe check --format json` reported.
#[derive(Debug)]
pub struct CheckReport {
    /// Whether the probe can run.
    pub can_run: bool,
    /// (item, verdict, detail) per line, in order.
    pub checks: Vec<(String, String, String)>,
}

impl CheckReport {
    /// Parses the JSON document of `check --format json`.
    pub fn parse(json: &str) -> Result<CheckReport, String> {
        let document: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("not JSON ({e}): {json}"))?;
        let field = |check: &serde_json::Value, name: &str| {
            check[name].as_str().unwrap_or_default().to_string()
        };
        Ok(CheckReport {
            can_run: document["can_run"]
                .as_bool()
                .ok_or_else(|| format!("no can_run in {json}"))?,
            checks: document["checks"]
                .as_array()
                .ok_or_else(|| format!("no checks in {json}"))?
                .iter()
                .map(|c| (field(c, "item"), field(c, "verdict"), field(c, "detail")))
                .collect(),
        })
    }

    /// Runs `pressure-probe check --format json ARGS`.
    pub fn of(args: &[&str]) -> CheckReport {
        let mut all = vec!["check", "--format", "json"];
        all.extend_from_slice(args);
        let (_, stdout, stderr) = run_to_end(&all);
        Self::parse(&stdout).unwrap_or_else(|e| panic!("{e}\n{stderr}"))
    }

    /// Whether some line about `item` has `verdict` and a detail that
    /// contains `detail`.
    pub fn says(&self, item: &str, verdict: &str, detail: &str) -> bool {
        self.checks
            .iter()
            .any(|(i, v, d)| i == item && v == verdict && d.contains(detail))
    }

    /// Whether reads and writes are classed by what their fd is: it says
    /// when they are not (lockdown `confidentiality`, or a kernel whose BTF
    /// lacks the path to the fd's inode), and then they are `file_io`.
    pub fn reads_classed_by_fd(&self) -> bool {
        !self.says("signal syscall", "info", "file_io")
    }

    /// Whether requests are told from answers by their first bytes: it
    /// says when not (lockdown `confidentiality`, or a kernel whose BTF
    /// lacks the send's buffer fields), and then every exchange is timed.
    pub fn requests_classified(&self) -> bool {
        !self.says("signal dependency", "info", "every exchange")
    }
}

/// The entry of `cgroup` (its label) in an API document.
pub fn container<'a>(document: &'a Document, cgroup: &str) -> &'a Container {
    document
        .containers
        .iter()
        .find(|c| c.labels.get("cgroup").map(String::as_str) == Some(cgroup))
        .unwrap_or_else(|| panic!("{cgroup} is not in the API's answer"))
}
