//! Real cgroups under the host's cgroup2 mount, removed on drop even when the
//! test fails.

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

/// The cgroup2 mount point, from `/proc/self/mountinfo`.
pub fn cgroup2_mount() -> PathBuf {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            (right.split_whitespace().next()? == "cgroup2")
                .then(|| PathBuf::from(left.split_whitespace().nth(4).unwrap()))
        })
        .expect("the test host has no cgroup2 mount")
}

/// A cgroup made for a test, with any cgroups made below it.
pub struct TestCgroup {
    dir: PathBuf,
    label: String,
}

impl TestCgroup {
    /// Makes `<cgroup2 mount>/<name>-<pid>-<n>`, `n` counting the cgroups
    /// this process made: two tests that run at once in one test binary
    /// with one name (a test run twice, with another setting) get a cgroup
    /// each (the second used to remove the first's, its processes with it).
    pub fn create(name: &str) -> TestCgroup {
        static MADE: AtomicU32 = AtomicU32::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let leaf = format!("{name}-{}-{n}", std::process::id());
        let dir = cgroup2_mount().join(&leaf);
        if dir.exists() {
            remove_tree(&dir);
        }
        fs::create_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot make cgroup {}: {e}", dir.display()));
        TestCgroup {
            dir,
            label: format!("/{leaf}"),
        }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The value the agent puts in the `cgroup` label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Its cgroup id (the directory's inode).
    pub fn id(&self) -> u64 {
        fs::metadata(&self.dir).unwrap().ino()
    }

    /// Moves process `pid`, all its threads, into it.
    pub fn adopt(&self, pid: u32) {
        fs::write(self.dir.join("cgroup.procs"), pid.to_string()).unwrap_or_else(|e| {
            panic!("cannot move process {pid} into {}: {e}", self.dir.display())
        });
    }

    /// Makes `relative` (and its parents) below it; returns (dir, label).
    pub fn add(&self, relative: &str) -> (PathBuf, String) {
        let dir = self.dir.join(relative);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
        (dir, format!("{}/{relative}", self.label))
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        remove_tree(&self.dir);
    }
}

/// Removes `dir` and every cgroup below it, leaves first.
fn remove_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    remove(dir);
}

/// Kills whatever runs in `dir`, then removes it.
fn remove(dir: &Path) {
    let _ = fs::write(dir.join("cgroup.kill"), "1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("warning: could not remove test cgroup {}", dir.display());
}

/// A process started inside a cgroup (born there: `clone3` with
/// `CLONE_INTO_CGROUP`), so that everything the kernel counts for it
/// happened in that cgroup. Killed and reaped on drop.
pub struct BornIn {
    pid: i32,
}

/// `struct clone_args` (`CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

impl BornIn {
    /// Runs `program args` as a child born in the cgroup at `cgroup`,
    /// output discarded.
    pub fn spawn(cgroup: &Path, program: &Path, args: &[&str]) -> BornIn {
        use std::{ffi::CString, os::fd::AsRawFd, os::unix::ffi::OsStrExt};
        let dir = fs::File::open(cgroup).expect("cannot open the cgroup directory");
        let path = CString::new(program.as_os_str().as_bytes()).unwrap();
        let argv: Vec<CString> = std::iter::once(path.clone())
            .chain(args.iter().map(|a| CString::new(*a).unwrap()))
            .collect();
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let devnull = c"/dev/null";
        let args = CloneArgs {
            flags: CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: dir.as_raw_fd() as u64,
            ..CloneArgs::default()
        };
        // SAFETY: a fork-like clone3 (no shared memory, no new stack); the
        // child only calls async-signal-safe functions (open, dup2, execv,
        // _exit) on memory prepared before the call.
        let pid =
            unsafe { libc::syscall(libc::SYS_clone3, &raw const args, size_of::<CloneArgs>()) };
        if pid == 0 {
            // The child never returns from here.
            // SAFETY: see above; a NUL-terminated path made before the call.
            let null = unsafe { libc::open(devnull.as_ptr(), libc::O_RDWR) };
            // SAFETY: see above; dup2 of descriptors the child holds.
            unsafe { libc::dup2(null, 0) };
            // SAFETY: as the previous.
            unsafe { libc::dup2(null, 1) };
            // SAFETY: see above; the path and a NULL-terminated array of
            // NUL-terminated arguments, made before the call.
            unsafe { libc::execv(path.as_ptr(), argv_ptrs.as_ptr()) };
            // SAFETY: _exit ends the child at once (execv failed).
            unsafe { libc::_exit(127) };
        }
        assert!(
            pid > 0,
            "clone3 into {}: {}",
            cgroup.display(),
            std::io::Error::last_os_error()
        );
        BornIn { pid: pid as i32 }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Waits for it to exit; whether it exited with status 0.
    pub fn wait(self) -> bool {
        let mut status = 0;
        // SAFETY: waitpid(2) on our own child.
        let waited = unsafe { libc::waitpid(self.pid, &mut status, 0) } == self.pid;
        std::mem::forget(self);
        waited && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }

    /// Stops it (SIGSTOP) and waits until every thread is stopped, so that
    /// the kernel's counts for it hold still.
    pub fn stop(&self) {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(self.pid, libc::SIGSTOP) }, 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self
                .threads()
                .iter()
                .all(|tid| self.thread_state(*tid) == Some('T'))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("process {} did not stop", self.pid);
    }

    /// Its thread ids.
    pub fn threads(&self) -> Vec<u32> {
        fs::read_dir(format!("/proc/{}/task", self.pid))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn thread_state(&self, tid: u32) -> Option<char> {
        let stat = fs::read_to_string(format!("/proc/{}/task/{tid}/stat", self.pid)).ok()?;
        stat.rsplit_once(") ")?.1.chars().next()
    }

    /// Sum over its threads of a `/proc/PID/task/TID/status` counter, such
    /// as `nonvoluntary_ctxt_switches`.
    pub fn threads_status_sum(&self, field: &str) -> u64 {
        self.threads()
            .iter()
            .map(|tid| {
                let status = fs::read_to_string(format!("/proc/{}/task/{tid}/status", self.pid))
                    .unwrap_or_else(|e| panic!("cannot read the status of thread {tid}: {e}"));
                status
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix(field)?
                            .strip_prefix(':')?
                            .trim()
                            .parse::<u64>()
                            .ok()
                    })
                    .unwrap_or_else(|| panic!("no {field} in the status of thread {tid}"))
            })
            .sum()
    }
}

impl Drop for BornIn {
    fn drop(&mut self) {
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        // SAFETY: waitpid(2) of our own child; a null status is allowed.
        unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), 0) };
    }
}

/// A memory limit on a test cgroup, set where this host's memory controller
/// is: a cgroup v1 memory cgroup beside it (hybrid hosts, where cgroup2
/// has no controllers), or the cgroup's own `memory.max` and
/// `memory.high` on a pure cgroup2 host. Removed on drop.
pub struct MemoryLimit {
    /// The v1 memory cgroup, on a hybrid host.
    v1: Option<PathBuf>,
    /// The v2 cgroup.
    v2: PathBuf,
}

/// The cgroup v1 memory hierarchy's mount point, if the host has one.
pub fn v1_memory_mount() -> Option<PathBuf> {
    v1_mount("memory")
}

/// The mount point of the cgroup v1 hierarchy of `controller`, if the host
/// has one.
fn v1_mount(controller: &str) -> Option<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut fields = right.split_whitespace();
        let (fstype, options) = (fields.next()?, fields.nth(1)?);
        (fstype == "cgroup" && options.split(',').any(|o| o == controller))
            .then(|| PathBuf::from(left.split_whitespace().nth(4).unwrap()))
    })
}

/// The CPU controller's settings of a test cgroup, made where this host's
/// controller is: a cgroup v1 cpu cgroup beside it (hybrid hosts), or the
/// cgroup's own files on a pure cgroup2 host. The v1 cgroup is removed on
/// drop.
pub struct CpuControl {
    /// The v1 cpu cgroup, on a hybrid host.
    v1: Option<PathBuf>,
    /// The v2 cgroup.
    v2: PathBuf,
}

impl CpuControl {
    /// At most `quota_us` of CPU time per `period_us` for `cgroup`.
    pub fn quota(cgroup: &TestCgroup, quota_us: u64, period_us: u64) -> CpuControl {
        let control = Self::of(cgroup);
        match &control.v1 {
            Some(dir) => {
                fs::write(dir.join("cpu.cfs_period_us"), period_us.to_string()).unwrap();
                fs::write(dir.join("cpu.cfs_quota_us"), quota_us.to_string()).unwrap();
            }
            None => fs::write(
                cgroup.dir().join("cpu.max"),
                format!("{quota_us} {period_us}"),
            )
            .unwrap(),
        }
        control
    }

    /// `cgroup` under the CPU controller, nothing set yet.
    fn of(cgroup: &TestCgroup) -> CpuControl {
        let v1 = v1_mount("cpu").map(|mount| {
            let dir = mount.join(cgroup.dir().file_name().unwrap());
            let _ = fs::remove_dir(&dir);
            fs::create_dir(&dir).unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
            dir
        });
        if v1.is_none() {
            let parent = cgroup.dir().parent().unwrap();
            fs::write(parent.join("cgroup.subtree_control"), "+cpu")
                .expect("cannot enable the cpu controller");
        }
        CpuControl {
            v1,
            v2: cgroup.dir().to_owned(),
        }
    }

    /// The v1 cpu cgroup a workload must join too (`-` for none).
    pub fn v1_dir(&self) -> String {
        self.v1
            .as_ref()
            .map_or("-".into(), |dir| dir.display().to_string())
    }

    /// Periods in which the cgroup was throttled, as the kernel counts them
    /// (`nr_throttled` of `cpu.stat`).
    pub fn throttled_periods(&self) -> u64 {
        self.stat("nr_throttled")
    }

    /// Time the cgroup spent throttled, in seconds, as the kernel counts it
    /// (`throttled_time` ns of v1's `cpu.stat`, `throttled_usec` of v2's).
    pub fn throttled_seconds(&self) -> f64 {
        match self.v1 {
            Some(_) => self.stat("throttled_time") as f64 / 1e9,
            None => self.stat("throttled_usec") as f64 / 1e6,
        }
    }

    fn stat(&self, name: &str) -> u64 {
        let file = self.v1.as_ref().unwrap_or(&self.v2).join("cpu.stat");
        let text = fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {}: {text}", file.display()))
    }
}

impl Drop for CpuControl {
    fn drop(&mut self) {
        if let Some(dir) = &self.v1 {
            remove(dir);
        }
    }
}

impl MemoryLimit {
    /// Limits `cgroup` to `max` bytes (on cgroup2, reclaim starts at
    /// `high` bytes: the kernel then reclaims without killing).
    pub fn set(cgroup: &TestCgroup, high: u64, max: u64) -> MemoryLimit {
        match v1_memory_mount() {
            Some(mount) => {
                let dir = mount.join(cgroup.dir().file_name().unwrap());
                let _ = fs::remove_dir(&dir);
                fs::create_dir(&dir)
                    .unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
                fs::write(dir.join("memory.limit_in_bytes"), max.to_string()).unwrap();
                MemoryLimit {
                    v1: Some(dir),
                    v2: cgroup.dir().to_owned(),
                }
            }
            None => {
                let parent = cgroup.dir().parent().unwrap();
                fs::write(parent.join("cgroup.subtree_control"), "+memory")
                    .expect("cannot enable the memory controller");
                fs::write(cgroup.dir().join("memory.high"), high.to_string()).unwrap();
                fs::write(cgroup.dir().join("memory.max"), max.to_string()).unwrap();
                MemoryLimit {
                    v1: None,
                    v2: cgroup.dir().to_owned(),
                }
            }
        }
    }

    /// The v1 memory cgroup a workload must join too (`-` for none).
    pub fn v1_dir(&self) -> String {
        self.v1
            .as_ref()
            .map_or("-".into(), |dir| dir.display().to_string())
    }

    /// Processes the OOM killer killed in the cgroup, as the kernel counts
    /// them (`oom_kill` of `memory.oom_control` on v1, of `memory.events`
    /// on v2).
    pub fn oom_kills(&self) -> u64 {
        let file = match &self.v1 {
            Some(dir) => dir.join("memory.oom_control"),
            None => self.v2.join("memory.events"),
        };
        let text = fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no oom_kill in {}: {text}", file.display()))
    }
}

impl Drop for MemoryLimit {
    fn drop(&mut self) {
        if let Some(dir) = &self.v1 {
            remove(dir);
        }
    }
}

/// The `total=` of the `some` line of a cgroup's pressure file
/// (`cpu.pressure`, `memory.pressure`, `io.pressure`), in microseconds.
pub fn psi_some_total(cgroup: &Path, file: &str) -> u64 {
    let text = fs::read_to_string(cgroup.join(file)).unwrap();
    text.lines()
        .find(|l| l.starts_with("some "))
        .and_then(|l| l.split_whitespace().find_map(|f| f.strip_prefix("total=")))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no some total in {file}: {text}"))
}

/// A cgroup v1 `net_cls` cgroup with a class id (what traffic shaping by
/// class matches), for a workload to join beside its cgroup2 one: in the
/// hierarchy the host mounts, or in one mounted for the test. Removed (and
/// that mount undone) on drop, once no process is left in it.
pub struct NetClass {
    dir: PathBuf,
    mounted: Option<PathBuf>,
}

impl NetClass {
    /// Makes `name` in the `net_cls` hierarchy with class id `classid`.
    pub fn create(name: &str, classid: u32) -> NetClass {
        let (root, mounted) = match v1_mount("net_cls") {
            Some(root) => (root, None),
            None => {
                let root = std::env::temp_dir().join(format!("pp-net-cls-{}", std::process::id()));
                fs::create_dir_all(&root).unwrap();
                let status = std::process::Command::new("mount")
                    .args(["-t", "cgroup", "-o", "net_cls", "pp-net-cls"])
                    .arg(&root)
                    .status()
                    .expect("cannot run mount");
                assert!(status.success(), "cannot mount the net_cls hierarchy");
                (root.clone(), Some(root))
            }
        };
        let dir = root.join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir(&dir);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
        fs::write(dir.join("net_cls.classid"), classid.to_string()).unwrap();
        NetClass { dir, mounted }
    }

    /// Its directory, for a workload to join (`PP_WORKLOAD_ALSO_JOIN`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for NetClass {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.dir);
        if let Some(root) = &self.mounted {
            let _ = std::process::Command::new("umount").arg(root).status();
            let _ = fs::remove_dir(root);
        }
    }
}
