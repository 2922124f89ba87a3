//! Workloads that run inside a test cgroup, as a separate process
//! (`pp-workload`), and report the kernel's own run-queue accounting.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use crate::exposition::ScrapedHistogram;

/// Path of the `pp-workload` binary (next to the test binaries' folder).
/// Path of the `pp-workload` binary: `PP_WORKLOAD_BIN`, or next to the
/// test binaries' folder.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PP_WORKLOAD_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("pp-workload")
}

/// A running workload.
pub struct Workload {
    child: Child,
}

/// What a workload reports when it ends.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Sum over the workload's threads of the change in `/proc/PID/task/TID/schedstat`
    /// field 2 (time spent runnable, waiting on a run queue), in ns, from when it
    /// joined its cgroup.
    pub run_delay_ns: u64,
    /// The same sum of field 1 (time on a CPU), in ns.
    pub ran_ns: u64,
    /// Number of threads summed.
    pub threads: u64,
}

/// What a workload printed: lines of `key numbers...`.
pub struct Printed(String);

impl Printed {
    /// The numbers printed after `key`.
    pub fn numbers(&self, key: &str) -> Vec<u64> {
        let line = self
            .0
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("pp-workload printed no {key}: {}", self.0));
        line.split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect()
    }

    /// The one number printed after `key`.
    pub fn number(&self, key: &str) -> u64 {
        match self.numbers(key)[..] {
            [n] => n,
            _ => panic!("pp-workload printed not one number after {key}: {}", self.0),
        }
    }
}

/// What each sleep of a `syscalls` workload asked for: 2 ms.
pub const SLEEP_SECONDS: f64 = 0.002;

/// The sleeps of a `syscalls` workload, on its own clock.
#[derive(Debug, Clone)]
pub struct TimedSleeps {
    /// Seconds each sleep took, on the workload's clock around the call.
    pub each: Vec<f64>,
}

impl TimedSleeps {
    /// What a `syscalls` workload printed of its sleeps.
    pub fn of(printed: &Printed) -> TimedSleeps {
        TimedSleeps {
            each: printed
                .numbers("sleep_ns")
                .into_iter()
                .map(|ns| ns as f64 / 1e9)
                .collect(),
        }
    }

    /// Seconds they took in all, on the workload's clock.
    pub fn timed(&self) -> f64 {
        self.each.iter().sum()
    }

    /// Whether `hist`, the probe's `wait` histogram of the workload (these
    /// sleeps, from entry to exit in the kernel: the workload makes no
    /// other call of that class in its cgroup), is what the kernel and the
    /// workload's clock allow, on any machine however slow: one
    /// observation per sleep; none shorter than the 2 ms asked for (a
    /// sleep never ends early); none longer than the workload's clock
    /// around its call (the kernel's part lies within it), so at every
    /// bound from 2 ms the probe has at least as many observations as the
    /// clock; and a sum between the two. The clock's excess over the
    /// kernel's time is the thread's own time outside the kernel: a few µs
    /// a call after a sleep here (cold caches), far more under emulation;
    /// it bounds, it is not compared.
    pub fn admit(&self, hist: &ScrapedHistogram) -> Result<(), String> {
        let count = self.each.len() as f64;
        if hist.count != count {
            return Err(format!("{} observations, of {count} sleeps", hist.count));
        }
        let (lowest, highest) = (count * SLEEP_SECONDS, self.timed());
        if !(lowest..=highest).contains(&hist.sum) {
            return Err(format!(
                "the sum {:.6} s is not within [{lowest:.6}, {highest:.6}] s: what the sleeps \
                 asked for, and what the workload's clock measured around them",
                hist.sum
            ));
        }
        for &(le, cumulative) in &hist.buckets {
            let on_the_clock = self.each.iter().filter(|t| **t <= le).count() as f64;
            if le < SLEEP_SECONDS && cumulative > 0.0 {
                return Err(format!("{cumulative} sleeps of at most {le} s"));
            }
            if cumulative < on_the_clock {
                return Err(format!(
                    "{cumulative} sleeps of at most {le} s, where the workload's clock has \
                     {on_the_clock}"
                ));
            }
        }
        Ok(())
    }
}

impl Workload {
    /// `threads` CPU-bound threads pinned to `cpu`, in `cgroup`, for `millis`.
    pub fn spin(cgroup: &Path, cpu: usize, threads: usize, millis: u64) -> Workload {
        Self::spin_with(cgroup, cpu, threads, millis, &[])
    }

    /// [`Workload::spin`] with `env` set.
    fn spin_with(
        cgroup: &Path,
        cpu: usize,
        threads: usize,
        millis: u64,
        env: &[(&str, &str)],
    ) -> Workload {
        Self::start_with(
            &[
                "spin",
                &cgroup.display().to_string(),
                &cpu.to_string(),
                &threads.to_string(),
                &millis.to_string(),
            ],
            env,
        )
    }

    /// `threads` CPU-bound real-time threads (`SCHED_FIFO`) pinned to
    /// `cpu`, in `cgroup`, for `millis`.
    pub fn spin_realtime(cgroup: &Path, cpu: usize, threads: usize, millis: u64) -> Workload {
        Self::spin_with(
            cgroup,
            cpu,
            threads,
            millis,
            &[("PP_WORKLOAD_REALTIME", "1")],
        )
    }

    /// `threads` CPU-bound threads in `cgroup`, unpinned, for `millis`.
    pub fn spin_unpinned(cgroup: &Path, threads: usize, millis: u64) -> Workload {
        Self::start(&[
            "spin",
            &cgroup.display().to_string(),
            "-",
            &threads.to_string(),
            &millis.to_string(),
        ])
    }

    /// Spinners that begin together, whatever it takes to start each (a
    /// process start is slow on a slow machine): for each of `spinners`
    /// (cgroup, CPU, threads), `threads` CPU-bound threads pinned to the
    /// CPU in the cgroup; all spin for `millis` from the same moment.
    pub fn spin_together(spinners: &[(&Path, usize, usize)], millis: u64) -> Vec<Workload> {
        let mut started: Vec<Workload> = spinners
            .iter()
            .map(|(cgroup, cpu, threads)| {
                let child = Command::new(binary())
                    .args([
                        "spin",
                        &cgroup.display().to_string(),
                        &cpu.to_string(),
                        &threads.to_string(),
                        &millis.to_string(),
                    ])
                    .env("PP_WORKLOAD_GO", "1")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start pp-workload: {e}"));
                Workload { child }
            })
            .collect();
        for workload in &mut started {
            let stdout = workload.child.stdout.as_mut().unwrap();
            let mut line = Vec::new();
            let mut byte = [0u8];
            // Byte by byte: the report that follows stays in the pipe.
            while std::io::Read::read(stdout, &mut byte).unwrap() == 1 && byte[0] != b'\n' {
                line.push(byte[0]);
            }
            assert_eq!(line, b"ready", "pp-workload spin did not start");
        }
        for workload in &mut started {
            let stdin = workload.child.stdin.as_mut().unwrap();
            std::io::Write::write_all(stdin, b"go\n").unwrap();
        }
        started
    }

    /// `threads` CPU-bound threads pinned to `cpu`, in `cgroup` and in the
    /// cgroup v1 cpu cgroup `v1_cpu` (`-`: none), for `millis`.
    pub fn spin_limited(
        cgroup: &Path,
        v1_cpu: &str,
        cpu: usize,
        threads: usize,
        millis: u64,
    ) -> Workload {
        Self::spin_with(
            cgroup,
            cpu,
            threads,
            millis,
            &[("PP_WORKLOAD_ALSO_JOIN", v1_cpu)],
        )
    }

    /// One thread pinned to `cpu` in `cgroup` that sleeps `period_ms` between
    /// short bursts of work, for `millis`.
    pub fn sleeper(cgroup: &Path, cpu: usize, period_ms: u64, millis: u64) -> Workload {
        Self::start(&[
            "sleep",
            &cgroup.display().to_string(),
            &cpu.to_string(),
            &period_ms.to_string(),
            &millis.to_string(),
        ])
    }

    /// In `cgroup`: `sleeps` nanosleep(2 ms), `missing` open() calls on a path
    /// that does not exist, `fsyncs` fsync() calls on a scratch file. Reports
    /// `sleep_ns`: what each sleep took on the workload's own clock ([`TimedSleeps`]).
    pub fn syscalls(cgroup: &Path, sleeps: u64, missing: u64, fsyncs: u64) -> Workload {
        Self::start(&[
            "syscalls",
            &cgroup.display().to_string(),
            &sleeps.to_string(),
            &missing.to_string(),
            &fsyncs.to_string(),
        ])
    }

    /// In `cgroup`: `count` fsync() calls on a file in `dir`. Its report
    /// (`fsync_ns`, see [`Workload::wait_for_numbers`]) is what each took on
    /// the workload's own clock.
    pub fn fsyncs(cgroup: &Path, dir: &Path, count: u64) -> Workload {
        let child = Command::new(binary())
            .args(["syscalls", &cgroup.display().to_string(), "0", "0"])
            .arg(count.to_string())
            .env("TMPDIR", dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start pp-workload: {e}"));
        Workload { child }
    }

    /// One thread pinned to `cpu` in `cgroup` serving requests: `work_ms`
    /// of CPU time each, `idle_ms` asleep between them, for `millis`.
    pub fn requests(
        cgroup: &Path,
        cpu: usize,
        work_ms: u64,
        idle_ms: u64,
        millis: u64,
    ) -> Workload {
        Self::start(&[
            "requests",
            &cgroup.display().to_string(),
            &cpu.to_string(),
            &work_ms.to_string(),
            &idle_ms.to_string(),
            &millis.to_string(),
        ])
    }

    /// A process in `cgroup` blocked in pause(2); returns once it is blocked
    /// (give it a moment to enter the syscall).
    pub fn blocked(cgroup: &Path) -> Workload {
        let mut workload = Self::start(&["block", &cgroup.display().to_string()]);
        let stdout = workload.child.stdout.as_mut().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        assert_eq!(line.trim(), "ready", "pp-workload block did not start");
        workload
    }

    /// In `cgroup`: a thread reads a socket while threads are made until
    /// one's id equals its own modulo `slots` (see pp-workload's `collide`).
    pub fn collide(cgroup: &Path, slots: u32) -> Workload {
        Self::start(&["collide", &cgroup.display().to_string(), &slots.to_string()])
    }

    /// In `cgroup`: a thread of a process execs while the other two sit in
    /// syscalls (see pp-workload's `exec-from-thread`); returns once the
    /// new program runs, with the ids (leader, sleeper, execer) the threads
    /// had before.
    pub fn exec_from_thread(cgroup: &Path) -> (Workload, [u32; 3]) {
        let mut workload = Self::start(&["exec-from-thread", &cgroup.display().to_string()]);
        let stdout = workload.child.stdout.take().unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let ids: Vec<u32> = lines
            .next()
            .unwrap()
            .unwrap()
            .strip_prefix("threads ")
            .expect("pp-workload exec-from-thread did not start")
            .split_whitespace()
            .map(|id| id.parse().unwrap())
            .collect();
        assert_eq!(
            lines.next().unwrap().unwrap(),
            "ready",
            "the new program did not start"
        );
        (workload, [ids[0], ids[1], ids[2]])
    }

    /// In `cgroup`: `count` blocking reads of a socket and of a pipe (a
    /// child in `writer` sends each byte after 2 ms), `count` preads of a
    /// file and (x86_64) `count` 2 ms compat nanosleeps; it reports what
    /// each took on its own clock (`socket_ns`, `pipe_ns`, `file_ns`,
    /// `compat_ns`).
    pub fn reads(cgroup: &Path, writer: &Path, count: u64) -> Workload {
        Self::start(&[
            "reads",
            &cgroup.display().to_string(),
            &writer.display().to_string(),
            &count.to_string(),
        ])
    }

    /// In `cgroup`, on one pipe: `would_block` nonblocking reads with
    /// nothing to read (EAGAIN), `bad` reads of its write end (EBADF), and
    /// one blocking read that `interrupts` timer signals interrupt; it
    /// reports what the calls returned (`errors EAGAIN EBADF EINTR`).
    pub fn errors(cgroup: &Path, would_block: u64, bad: u64, interrupts: u64) -> Workload {
        Self::start(&[
            "errors",
            &cgroup.display().to_string(),
            &would_block.to_string(),
            &bad.to_string(),
            &interrupts.to_string(),
        ])
    }

    /// In `cgroup` (and the v1 memory cgroup `v1_memory`, `-` for none):
    /// reads `file` twice from disk (`-`: none), then touches `anon_mib` MiB
    /// of anonymous memory. It prints "done" if the OOM killer lets it.
    pub fn memory(cgroup: &Path, v1_memory: &str, file: &str, anon_mib: u64) -> Workload {
        Self::start(&[
            "memory",
            &cgroup.display().to_string(),
            v1_memory,
            file,
            &anon_mib.to_string(),
        ])
    }

    /// In `cgroup` (and the v1 memory cgroup `v1_memory`, `-` for none):
    /// `threads` threads at once, each writing `anon_mib` MiB of anonymous
    /// memory in a loop and keeping it.
    pub fn memory_threads(cgroup: &Path, v1_memory: &str, anon_mib: u64, threads: u64) -> Workload {
        Self::start(&[
            "memory-threads",
            &cgroup.display().to_string(),
            v1_memory,
            &anon_mib.to_string(),
            &threads.to_string(),
        ])
    }

    /// Waits for the end: `true` if it finished, `false` if a signal (such
    /// as the OOM killer's SIGKILL) ended it.
    pub fn finished(mut self) -> bool {
        let status = self.child.wait().unwrap();
        status.success()
    }

    /// Its process id (also the id of its only thread).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it with SIGKILL and reaps it.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for a workload that ends without a report.
    pub fn finish(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "pp-workload failed: {status:?}");
    }

    /// Waits for the end; the number it printed after `key`.
    pub fn wait_for_number(self, key: &str) -> u64 {
        self.wait_for_output().number(key)
    }

    /// Waits for the end; the numbers it printed after `key`.
    pub fn wait_for_numbers(self, key: &str) -> Vec<u64> {
        self.wait_for_output().numbers(key)
    }

    /// Waits for a successful end; what it printed.
    pub fn wait_for_output(self) -> Printed {
        let out = self.child.wait_with_output().unwrap();
        assert!(out.status.success(), "pp-workload failed: {:?}", out.status);
        Printed(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn start(args: &[&str]) -> Workload {
        Self::start_with(args, &[])
    }

    /// `pp-workload ARGS` with `env` set, its output piped.
    fn start_with(args: &[&str], env: &[(&str, &str)]) -> Workload {
        let child = Command::new(binary())
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start pp-workload: {e}"));
        Workload { child }
    }

    /// Waits for a workload that was killed (its cgroup removed under it).
    pub fn wait_killed(mut self) {
        let status = self.child.wait().unwrap();
        assert!(
            !status.success(),
            "the workload was expected to be killed, got {status:?}"
        );
    }

    /// Waits for the end and parses the report.
    pub fn wait(self) -> Report {
        let out = self.child.wait_with_output().unwrap();
        assert!(out.status.success(), "pp-workload failed: {:?}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("pp-workload printed no {key}: {text}"))
        };
        Report {
            run_delay_ns: field("run_delay_ns"),
            ran_ns: field("ran_ns"),
            threads: field("threads"),
        }
    }
}
