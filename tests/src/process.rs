//! Real software (a Debian package's server, a Python script) run in a test
//! cgroup: it joins the cgroup before it starts (`sh` moves itself, then
//! execs), its output is read line by line, and it is killed when dropped.

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
};

/// A script of the test suite's `python/` folder.
pub fn python_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

/// `program args` as a command that joins the cgroup at `cgroup` first.
pub fn in_cgroup(cgroup: &Path, program: &str, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            "echo 0 > \"$1/cgroup.procs\" && shift && exec \"$@\"",
            "sh",
        ])
        .arg(cgroup)
        .arg(program)
        .args(args);
    command
}

/// A running program, its stdin and stdout piped; killed when dropped.
pub struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Running {
    /// Starts `command` (stdin and stdout piped, stderr inherited).
    pub fn start(mut command: Command) -> Running {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Running {
            child,
            stdin,
            stdout,
        }
    }

    /// Its next line of output; panics if it ended.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "{:?} ended early", self.child);
        line.trim_end().to_string()
    }

    /// Sends a line on its standard input and returns its next line.
    pub fn command(&mut self, command: &str) -> String {
        writeln!(self.stdin.as_mut().unwrap(), "{command}").unwrap();
        self.line()
    }

    /// The numbers of the next line, which starts with `key`.
    pub fn numbers(&mut self, key: &str) -> Vec<u64> {
        let line = self.line();
        line.strip_prefix(key)
            .unwrap_or_else(|| panic!("expected {key}, got {line}"))
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect()
    }

    /// Waits for its end; whether it exited with status 0.
    pub fn finished(mut self) -> bool {
        self.stdin.take();
        self.child.wait().unwrap().success()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
