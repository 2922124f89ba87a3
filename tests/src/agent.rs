//! The agent under test, run as a real process.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

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

/// A running agent; terminated with SIGTERM when dropped.
pub struct Agent {
    child: Option<Child>,
    addr: SocketAddr,
    log: mpsc::Receiver<String>,
    /// What it logged before it served.
    start_log: Vec<String>,
}

impl Agent {
    /// Starts `pressure-probe run` on an ephemeral loopback port and waits
    /// until it serves. Panics with the agent's output if it cannot load.
    pub fn start(extra: &[&str]) -> Agent {
        let mut args = vec!["run"];
        if !extra.contains(&"--listen") {
            args.extend(["--listen", "127.0.0.1:0"]);
        }
        args.extend_from_slice(extra);
        let mut child = command(&args).spawn().expect("cannot start pressure-probe");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[agent] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(remaining) {
                Ok(line) => {
                    if let Some(addr) = serving_addr(&line) {
                        return Agent {
                            child: Some(child),
                            addr,
                            log: rx,
                            start_log: seen,
                        };
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let status = child.try_wait().ok().flatten();
                    let _ = child.kill();
                    panic!(
                        "the agent did not start serving (exit: {status:?}); it could not load \
                         its eBPF programs or bind. Its output:\n{}",
                        seen.join("\n")
                    );
                }
            }
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// GETs `path`: (status code, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path)
    }

    /// Scrapes and parses `/metrics`.
    pub fn scrape(&self) -> Exposition {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "GET /metrics failed: {body}");
        Exposition::parse(&body)
    }

    /// Waits up to `within` for a log line that contains `needle` (a line
    /// logged before the agent served counts).
    pub fn logged(&self, needle: &str, within: Duration) -> bool {
        if self.start_log.iter().any(|line| line.contains(needle)) {
            return true;
        }
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

/// Sends `signal` to `child` and waits for it to exit.
fn signal_and_wait(mut child: Child, signal: i32) -> std::io::Result<ExitStatus> {
    // SAFETY: plain kill(2) on our own child, which has not been waited for.
    unsafe { libc::kill(child.id() as i32, signal) };
    child.wait()
}

/// The address in the agent's "serving" log line.
fn serving_addr(line: &str) -> Option<SocketAddr> {
    if !line.contains("serving /metrics") {
        return None;
    }
    let rest = &line[line.find("listen=")? + "listen=".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// A minimal HTTP/1.0 GET: (status code, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("malformed HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("malformed HTTP status line");
    (status, body.to_string())
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
