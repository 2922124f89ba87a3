//! Test network namespaces (`ip netns`), removed on drop, and the kernel's
//! own view of their TCP listeners (`ss`, `/proc/net/netstat`).

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::fs::MetadataExt,
    path::PathBuf,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
};

/// A network namespace made for a test, with loopback up.
pub struct TestNetns {
    name: String,
}

fn ip(args: &[&str]) -> String {
    crate::run_ok(Command::new("ip").args(args))
}

impl TestNetns {
    /// `ip netns add <name>-<pid>` and brings `lo` up.
    pub fn create(name: &str) -> TestNetns {
        let name = format!("{name}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        TestNetns { name }
    }

    /// Its bind mount, to enter it.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Its inode number: the agent's `netns` label.
    pub fn inode(&self) -> String {
        std::fs::metadata(self.path()).unwrap().ino().to_string()
    }

    /// `ListenOverflows` from its `/proc/net/netstat`.
    pub fn listen_overflows(&self) -> u64 {
        self.counter("/proc/net/netstat", "TcpExt:", "ListenOverflows")
    }

    /// `TCPReqQFullDrop` (SYNs dropped at a full SYN queue, SYN cookies
    /// off) from its `/proc/net/netstat`.
    pub fn syn_queue_full_drops(&self) -> u64 {
        self.counter("/proc/net/netstat", "TcpExt:", "TCPReqQFullDrop")
    }

    /// Sets sysctl `name` (e.g. `net.ipv4.tcp_syncookies`) inside the
    /// namespace, written to its `/proc/sys` file (no `sysctl` program:
    /// a fresh machine may not have procps).
    pub fn sysctl(&self, name: &str, value: &str) {
        let file = format!("/proc/sys/{}", name.replace('.', "/"));
        ip(&[
            "netns",
            "exec",
            &self.name,
            "sh",
            "-c",
            r#"echo "$1" > "$2""#,
            "sh",
            value,
            &file,
        ]);
    }

    /// `RetransSegs` (TCP segments retransmitted) from its `/proc/net/snmp`.
    pub fn retransmitted_segments(&self) -> u64 {
        self.counter("/proc/net/snmp", "Tcp:", "RetransSegs")
    }

    /// Counter `name` of the `prefix` table of `file` (pairs of lines:
    /// names, then values), read inside the namespace.
    fn counter(&self, file: &str, prefix: &str, name: &str) -> u64 {
        let text = ip(&["netns", "exec", &self.name, "cat", file]);
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.chunks(2) {
            if let [names, values] = pair
                && names.starts_with(prefix)
            {
                let index = names
                    .split_whitespace()
                    .position(|n| n == name)
                    .unwrap_or_else(|| panic!("no {name} in {file}"));
                return values
                    .split_whitespace()
                    .nth(index)
                    .unwrap()
                    .parse()
                    .unwrap();
            }
        }
        panic!("no {prefix} table in {file}: {text}");
    }

    /// Handshakes in the SYN queue of `port`'s listeners, as `ss` lists
    /// them (one `SYN-RECV` request per line).
    pub fn ss_syn_recv(&self, port: u16) -> u64 {
        ip(&[
            "netns",
            "exec",
            &self.name,
            "ss",
            "-tnH",
            "state",
            "syn-recv",
            &format!("sport = :{port}"),
        ])
        .lines()
        .count() as u64
    }

    /// The `Recv-Q` that `ss -ltn` shows for the listener on `port`.
    pub fn ss_recv_q(&self, port: u16) -> u64 {
        let text = ip(&[
            "netns",
            "exec",
            &self.name,
            "ss",
            "-ltnH",
            &format!("sport = :{port}"),
        ]);
        let line = text
            .lines()
            .next()
            .unwrap_or_else(|| panic!("ss shows no listener on {port}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A `pp-workload` process driven through its standard input.
pub struct Driven {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Driven {
    /// Starts `pp-workload args` and waits for its first line.
    pub fn start(args: &[&str]) -> (Driven, String) {
        Self::start_with(args, &[])
    }

    /// Starts `pp-workload args` with `env` set, and waits for its first line.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> (Driven, String) {
        let mut child = Command::new(crate::workload::binary())
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start pp-workload");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut driven = Driven {
            child,
            stdin,
            stdout,
        };
        let first = driven.line();
        (driven, first)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its next line of output.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "pp-workload ended early");
        line.trim().to_string()
    }

    /// Sends a command and returns the answer.
    pub fn command(&mut self, command: &str) -> String {
        writeln!(self.stdin.as_mut().unwrap(), "{command}").unwrap();
        self.line()
    }
}

impl Drop for Driven {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.wait();
    }
}
