//! Memory pressure against the kernel's own accounting: reclaim stalls, OOM
//! kills (`memory.oom_control` or `memory.events`), and PSI (the cgroup's
//! `memory.pressure` and `cpu.pressure`).

use std::{fs, io::Write, path::PathBuf, thread};

use integration_tests::{
    agent::Agent,
    cgroup::{MemoryLimit, TestCgroup, psi_some_total},
    exposition::Exposition,
    workload::Workload,
};

const RECLAIM: &str = "pressure_memory_reclaim_seconds";
const OOM_KILLS: &str = "pressure_memory_oom_kills_total";
const PSI: &str = "pressure_psi_stall_seconds_total";
const MIB: u64 = 1 << 20;

/// A file on disk (not tmpfs: its pages must be page cache that reclaim can
/// take back), removed on drop.
struct DiskFile(PathBuf);

impl DiskFile {
    const DIR: &str = "/var/tmp";

    fn of_mib(mib: usize) -> DiskFile {
        assert!(
            !memory_backed(Self::DIR),
            "{} is tmpfs or ramfs: without swap, reclaim cannot take its pages back \
             (the test needs a disk there)",
            Self::DIR
        );
        let path = PathBuf::from(format!("{}/pp-memory-{}", Self::DIR, std::process::id()));
        let mut file = fs::File::create(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        let chunk = vec![7u8; MIB as usize];
        for _ in 0..mib {
            file.write_all(&chunk).unwrap();
        }
        file.sync_all().unwrap();
        DiskFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

/// Whether the file system of `dir` keeps its files in memory.
fn memory_backed(dir: &str) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    let path = std::ffi::CString::new(dir).unwrap();
    // SAFETY: `path` is a NUL-terminated string and `stat` a writable statfs.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::statfs(path.as_ptr(), &mut stat) };
    assert_eq!(rc, 0, "statfs {dir}: {}", std::io::Error::last_os_error());
    matches!(stat.f_type, TMPFS_MAGIC | RAMFS_MAGIC)
}

impl Drop for DiskFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn psi(scrape: &Exposition, cgroup: &str, resource: &str) -> f64 {
    scrape
        .value(
            PSI,
            &[("cgroup", cgroup), ("resource", resource), ("kind", "some")],
        )
        .unwrap_or_else(|| panic!("no {resource} PSI series for {cgroup}"))
}

/// Cgroup `name` limited to 64 MiB (reclaim from 32 MiB), where a workload
/// has read 128 MiB of file twice and written 24 MiB of anonymous memory
/// in a loop, and ended within its limit.
fn reclaim_within_a_limit(name: &str) -> (TestCgroup, MemoryLimit) {
    let cgroup = TestCgroup::create(name);
    let limit = MemoryLimit::set(&cgroup, 32 * MIB, 64 * MIB);
    let file = DiskFile::of_mib(128);
    assert!(
        Workload::memory(cgroup.dir(), &limit.v1_dir(), file.path(), 24).finished(),
        "the workload within its limit was killed"
    );
    (cgroup, limit)
}

/// A workload limited to 64 MiB (reclaim from 32 MiB) reads 128 MiB of file twice, then writes
/// 24 MiB of anonymous memory in a loop: its threads stall in reclaim, and its PSI
/// equals the kernel's. An idle unlimited cgroup has no reclaim. Then a
/// process that wants 160 MiB is OOM-killed: one kill, as the kernel counts.
#[test]
fn reclaim_oom_kills_and_psi_against_the_kernel() {
    let agent = Agent::start(&["--signals", "memory,psi,syscall"]);
    let (a, limit) = reclaim_within_a_limit("pp-mem-a");
    let b = TestCgroup::create("pp-mem-b");
    Workload::syscalls(b.dir(), 5, 0, 0).finish();
    let scrape = agent.scrape();
    let reclaim = scrape
        .histogram(RECLAIM, &[("cgroup", a.label())])
        .expect("no reclaim stalls for the limited cgroup");
    eprintln!(
        "A reclaimed {} times, {:.6} s in all",
        reclaim.count, reclaim.sum
    );
    assert!(reclaim.count > 0.0 && reclaim.sum > 0.0);
    assert!(
        scrape
            .histogram(RECLAIM, &[("cgroup", b.label())])
            .is_none(),
        "the idle unlimited cgroup reclaimed"
    );
    assert_eq!(
        scrape.value(OOM_KILLS, &[("cgroup", b.label())]),
        Some(0.0),
        "a cgroup's OOM kills are exported at 0 before the first, so that increase() sees it"
    );

    let kills_before = limit.oom_kills();
    let probe_before = scrape
        .value(OOM_KILLS, &[("cgroup", a.label())])
        .unwrap_or(0.0);
    assert!(
        !Workload::memory(a.dir(), &limit.v1_dir(), "-", 160).finished(),
        "the workload past its limit was not killed"
    );
    let kills = limit.oom_kills() - kills_before;
    // The stalls are over: the kernel's totals hold still now.
    let kernel_memory_psi = psi_some_total(a.dir(), "memory.pressure") as f64 / 1e6;
    let scrape = agent.scrape();
    let probe_kills = scrape
        .value(OOM_KILLS, &[("cgroup", a.label())])
        .unwrap_or(0.0)
        - probe_before;
    eprintln!("OOM kills: kernel {kills}, probe {probe_kills}");
    assert!(kills >= 1, "the kernel counted no OOM kill");
    assert_eq!(
        probe_kills, kills as f64,
        "OOM kills against the kernel's count"
    );

    let probe_memory_psi = psi(&scrape, a.label(), "memory");
    eprintln!("memory PSI some: kernel {kernel_memory_psi:.6} s, probe {probe_memory_psi:.6} s");
    assert!(kernel_memory_psi > 0.0, "the kernel saw no memory stall");
    assert!(
        (probe_memory_psi - kernel_memory_psi).abs() <= 0.01 * kernel_memory_psi,
        "memory PSI {probe_memory_psi} s against the kernel's {kernel_memory_psi} s"
    );
}

/// A multi-threaded process past its limit is one OOM kill, as the kernel
/// counts it (`oom_kill`), however many of its threads the OOM killer
/// marks: each thread of a dying process that allocates passes through
/// the OOM path again, and is marked a victim in its turn.
#[test]
fn a_multi_threaded_victim_is_one_oom_kill() {
    let agent = Agent::start(&["--signals", "memory"]);
    let cgroup = TestCgroup::create("pp-mem-threads");
    let limit = MemoryLimit::set(&cgroup, 32 * MIB, 64 * MIB);
    let kills_before = limit.oom_kills();
    let victims = 3;
    for _ in 0..victims {
        assert!(
            !Workload::memory_threads(cgroup.dir(), &limit.v1_dir(), 48, 8).finished(),
            "the workload past its limit was not killed"
        );
    }
    let kills = limit.oom_kills() - kills_before;
    let probe_kills = agent
        .scrape()
        .value(OOM_KILLS, &[("cgroup", cgroup.label())])
        .unwrap_or(0.0);
    eprintln!("OOM kills of {victims} processes of 8 threads: kernel {kills}, probe {probe_kills}");
    assert!(kills >= victims, "the kernel counted {kills} kills");
    assert_eq!(
        probe_kills, kills as f64,
        "OOM kills against the kernel's count"
    );
}

/// Where `tp_btf` does not load, the reclaim stalls come through raw
/// tracepoints: with the four `tp_btf` hooks disabled, the agent attaches
/// the raw ones and the limited workload's stalls are counted.
#[test]
fn reclaim_through_the_raw_tracepoints() {
    let disabled: Vec<String> = [
        "direct_reclaim_begin",
        "direct_reclaim_end",
        "memcg_reclaim_begin",
        "memcg_reclaim_end",
    ]
    .iter()
    .map(|event| format!("tp_btf/mm_vmscan_{event}"))
    .collect();
    let mut args = vec!["--signals", "memory,syscall"];
    for hook in &disabled {
        args.extend(["--disable-hook", hook.as_str()]);
    }
    let agent = Agent::start(&args);
    assert!(
        agent.logged(
            "hook=raw_tp/mm_vmscan_memcg_reclaim_begin",
            std::time::Duration::from_secs(5)
        ),
        "the raw tracepoint was not attached"
    );
    let (a, _limit) = reclaim_within_a_limit("pp-mem-raw");
    let reclaim = agent
        .scrape()
        .histogram(RECLAIM, &[("cgroup", a.label())])
        .expect("no reclaim stalls through the raw tracepoints");
    eprintln!(
        "raw tracepoints: A reclaimed {} times, {:.6} s in all",
        reclaim.count, reclaim.sum
    );
    assert!(reclaim.count > 0.0 && reclaim.sum > 0.0);
}

/// A CPU-starved cgroup (three threads on one CPU): its CPU PSI equals the
/// kernel's `cpu.pressure`.
#[test]
fn cpu_psi_against_the_kernel() {
    let agent = Agent::start(&["--signals", "runq,psi"]);
    let starved = TestCgroup::create("pp-psi-cpu");
    let cpu = thread::available_parallelism().map_or(1, |n| n.get()) - 1;
    Workload::spin(starved.dir(), cpu, 3, 2000).wait();
    let kernel = psi_some_total(starved.dir(), "cpu.pressure") as f64 / 1e6;
    let scrape = agent.scrape();
    let probe = psi(&scrape, starved.label(), "cpu");
    eprintln!("cpu PSI some: kernel {kernel:.6} s, probe {probe:.6} s");
    assert!(
        kernel > 0.5,
        "three threads on one CPU stalled only {kernel} s"
    );
    assert!(
        (probe - kernel).abs() <= 0.01 * kernel,
        "cpu PSI {probe} s against the kernel's {kernel} s"
    );
}
