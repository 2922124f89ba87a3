//! Syscall latency and errors by class, against a workload whose syscalls are known.

use std::{path::Path, process::Command, thread, time::Duration};

use integration_tests::{
    agent::{Agent, CheckReport},
    cgroup::TestCgroup,
    kernel_maps::SyscallSlots,
    workload::{TimedSleeps, Workload},
};

const LATENCY: &str = "pressure_syscall_latency_seconds";

const ERRORS: &str = "pressure_syscall_errors_total";

#[test]
fn known_workload_lands_in_its_classes() {
    known_workload("auto");
}

/// The same with per-cgroup state in hash maps.
#[test]
fn known_workload_with_cgroup_state_hash() {
    known_workload("hash");
}

fn known_workload(state: &str) {
    let agent = Agent::start(&["--cgroup-state", state]);
    let a = TestCgroup::create("pp-sys-a");
    let b = TestCgroup::create("pp-sys-b");
    let (sleeps, missing, fsyncs) = (200u64, 50u64, 20u64);
    // The sleeps take what they take (longer on a slow or emulated machine):
    // the oracle is the workload's own clock around each call.
    let printed = Workload::syscalls(a.dir(), sleeps, missing, fsyncs).wait_for_output();
    let slept = TimedSleeps::of(&printed);
    Workload::syscalls(b.dir(), 0, 0, 0).finish();
    let scrape = agent.scrape();
    let in_a = |class| [("cgroup", a.label()), ("class", class)];
    let in_b = |class| [("cgroup", b.label()), ("class", class)];

    let wait = scrape
        .histogram(LATENCY, &in_a("wait"))
        .expect("A has no wait series");
    eprintln!(
        "A wait: {} calls, {:.6} s; the workload timed its {sleeps} sleeps at {:.6} s",
        wait.count,
        wait.sum,
        slept.timed()
    );
    if let Err(off) = slept.admit(&wait) {
        panic!("A's wait histogram: {off}");
    }

    let file_errors = scrape
        .value(ERRORS, &in_a("file_io"))
        .expect("A has no file_io errors series");
    assert_eq!(file_errors, missing as f64, "file_io errors in A");
    let sync = scrape
        .histogram(LATENCY, &in_a("sync"))
        .expect("A has no sync series");
    assert_eq!(sync.count, fsyncs as f64, "sync observations in A");
    assert_eq!(scrape.value(ERRORS, &in_a("sync")), Some(0.0));

    // B made none of these calls.
    assert_eq!(
        scrape.value(ERRORS, &in_b("file_io")).unwrap_or(0.0),
        0.0,
        "file_io errors in B"
    );
    assert!(
        scrape.histogram(LATENCY, &in_b("sync")).is_none(),
        "B has sync observations"
    );
    assert!(
        scrape.histogram(LATENCY, &in_b("wait")).is_none(),
        "B has wait observations"
    );
}

/// A nonblocking read with nothing to read (EAGAIN, an event loop's
/// normal case) and a read a signal interrupts (the kernel's
/// `-ERESTARTSYS`, EINTR to the caller; and `rt_sigreturn`, which returns
/// the interrupted call's registers) are no errors; a read of a pipe's
/// write end (EBADF) is. Before, the pipe's class counted all of them.
#[test]
fn would_block_and_interrupted_calls_are_no_errors() {
    let agent = Agent::start(&["--signals", "syscall"]);
    let c = TestCgroup::create("pp-sys-errors");
    let numbers = Workload::errors(c.dir(), 100, 7, 20).wait_for_numbers("errors");
    let (eagain, ebadf, eintr, einprogress) = (numbers[0], numbers[1], numbers[2], numbers[3]);
    let scrape = agent.scrape();
    let errors = |class| {
        scrape
            .value(ERRORS, &[("cgroup", c.label()), ("class", class)])
            .unwrap_or(0.0)
    };
    eprintln!(
        "the workload saw {eagain} EAGAIN, {ebadf} EBADF, {eintr} EINTR, {einprogress} \
         EINPROGRESS; the probe counted {} wait errors, {} net_io, {} other",
        errors("wait"),
        errors("net_io"),
        errors("other")
    );
    assert_eq!((eagain, ebadf), (100, 14));
    assert!(eintr > 0, "no read was interrupted");
    assert!(einprogress > 0, "no connect was in progress");
    // Pipe reads are of class wait (by their fd, its low 32 bits), or
    // file_io where reads are not classed by their fd.
    let pipe_reads = if CheckReport::of(&[]).reads_classed_by_fd() {
        "wait"
    } else {
        "file_io"
    };
    assert_eq!(errors(pipe_reads), ebadf as f64, "{pipe_reads} errors");
    assert_eq!(errors("net_io"), 0.0, "net_io errors (EINPROGRESS)");
    assert_eq!(errors("other"), 0.0, "other errors (rt_sigreturn's EINTR)");
}

/// A read is classed by what it reads: blocking reads of a socket are
/// `net_io`, of a pipe `wait`, of a file `file_io`; a 32-bit compat
/// nanosleep (162, which is `sync` in the 64-bit table) is `other`. Before,
/// every read was `file_io` by its number, and the compat sleeps `sync`.
/// Counts are exact: in A the workload made one socket call besides its
/// reads (the socket pair), and its only calls of class `wait` are its pipe
/// reads and the asks that precede every read (pipe writes). Times lie
/// between the writer's clock, from seeing a read blocked (`/proc`) to
/// answering it, and the reader's clock around each ask and read.
#[test]
fn reads_are_classed_by_what_they_read() {
    let agent = Agent::start(&["--signals", "syscall"]);
    let a = TestCgroup::create("pp-sys-reads");
    let writer = TestCgroup::create("pp-sys-writer");
    let count = 20u64;
    let printed = Workload::reads(a.dir(), writer.dir(), count).wait_for_output();
    let scrape = agent.scrape();
    let seconds = |key: &str| -> f64 {
        printed
            .numbers(key)
            .into_iter()
            .map(|ns| ns as f64 / 1e9)
            .sum()
    };
    let histogram =
        |class: &str| scrape.histogram(LATENCY, &[("cgroup", a.label()), ("class", class)]);
    let (setup, socket, pipe) = (
        seconds("setup_ns"),
        seconds("socket_ns"),
        seconds("pipe_ns"),
    );
    if !CheckReport::of(&[]).reads_classed_by_fd() {
        // Every read and write is file_io: the socket pair's making is
        // the only net_io call, nothing is wait, and file_io holds the
        // 2 x count blocked reads, their 2 x count asks and the preads.
        let net_io = histogram("net_io").expect("A has no net_io series");
        let file = histogram("file_io").expect("A has no file_io series");
        let blocked = seconds("socket_blocked_ns") + seconds("pipe_blocked_ns");
        eprintln!(
            "reads not classed by fd: net_io {} calls; file_io {} calls, {:.6} s; blocked \
             {blocked:.6} s on the writer's clock",
            net_io.count, file.count, file.sum
        );
        assert_eq!(net_io.count, 1.0, "net_io calls in A");
        assert!(histogram("wait").is_none(), "A has wait calls");
        assert!(
            file.count >= 5.0 * count as f64,
            "{} file_io calls",
            file.count
        );
        assert!(
            file.sum >= blocked,
            "file_io sums {} s, under {blocked} s",
            file.sum
        );
        return;
    }
    for (class, calls, blocked, clock) in [
        (
            "net_io",
            1 + count,
            seconds("socket_blocked_ns"),
            setup + socket,
        ),
        ("wait", 3 * count, seconds("pipe_blocked_ns"), socket + pipe),
    ] {
        let h = histogram(class).unwrap_or_else(|| panic!("A has no {class} series"));
        eprintln!(
            "{class}: {} calls, {:.6} s; blocked {blocked:.6} s on the writer's clock, \
             {clock:.6} s on the reader's",
            h.count, h.sum
        );
        assert_eq!(h.count, calls as f64, "{class} calls in A");
        assert!(
            (blocked..=clock).contains(&h.sum),
            "{class} sums {} s, not within [{blocked}, {clock}] s",
            h.sum
        );
    }
    // The preads, and what else the workload does with files.
    let file = histogram("file_io").expect("A has no file_io series");
    eprintln!("file_io: {} calls, {:.6} s", file.count, file.sum);
    assert!(file.count >= count as f64, "{} file_io calls", file.count);
    // The compat sleeps (x86_64) are `other`, and each took at least the
    // 2 ms asked for (a sleep never ends early): over the 2^-9 s bound.
    if cfg!(target_arch = "x86_64") {
        let other = histogram("other").expect("A has no other series");
        let at_most = |bound: f64| {
            other
                .buckets
                .iter()
                .find(|(le, _)| *le == bound)
                .map_or(0.0, |(_, n)| *n)
        };
        let long = other.count - at_most(2f64.powi(-9));
        eprintln!("other: {} calls, {long} over 2^-9 s", other.count);
        assert!(long >= count as f64, "{long} other calls over 2^-9 s");
    }
    assert!(histogram("sync").is_none(), "A made sync calls");
}

#[test]
fn thread_killed_in_a_blocking_syscall_leaves_no_entry() {
    let agent = Agent::start(&[]);
    let c = TestCgroup::create("pp-sys-kill");
    let blocked = Workload::blocked(c.dir());
    let tid = blocked.pid();
    thread::sleep(Duration::from_millis(200));
    let slots = SyscallSlots::open(agent.pid());
    assert!(
        slots.has_entry(tid),
        "the thread blocked in pause() has no entry"
    );
    blocked.kill();
    assert!(
        !slots.has_entry(tid),
        "the killed thread's entry is still there"
    );
}

/// Exits, execs (from the leader and from another thread) and kills leave
/// no entry of a thread that no longer exists.
#[test]
fn no_entry_outlives_its_thread() {
    let agent = Agent::start(&[]);
    let c = TestCgroup::create("pp-sys-churn");
    let script = format!(
        "echo 0 > {}/cgroup.procs && for i in 1 2 3 4 5; do /bin/true; sh -c 'exec /bin/true'; done",
        c.dir().display()
    );
    let status = Command::new("sh").args(["-c", &script]).status().unwrap();
    assert!(status.success());
    for _ in 0..5 {
        Workload::blocked(c.dir()).kill();
    }
    let slots = SyscallSlots::open(agent.pid());
    let stale: Vec<u32> = slots
        .occupied()
        .into_iter()
        // A thread may exit between the two reads: its entry is then gone too.
        .filter(|tid| !Path::new(&format!("/proc/{tid}")).exists() && slots.has_entry(*tid))
        .collect();
    assert!(
        stale.is_empty(),
        "entries of threads that no longer exist: {stale:?}"
    );
}

/// The entry table's size: thread ids equal modulo it share a slot.
const SLOTS: u32 = 1 << 16;

/// Sets `kernel.pid_max` for as long as it lives, then puts it back.
struct PidMax(String);

impl PidMax {
    fn at_least(max: u64) -> PidMax {
        let path = "/proc/sys/kernel/pid_max";
        let old = std::fs::read_to_string(path).unwrap().trim().to_string();
        if old.parse::<u64>().unwrap() < max {
            std::fs::write(path, max.to_string()).unwrap();
        }
        PidMax(old)
    }
}

impl Drop for PidMax {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/kernel/pid_max", &self.0);
    }
}

/// A long syscall is timed whatever other threads do: thread L reads a
/// socket (class `net_io`) while threads are made until one's id equals
/// L's modulo 65,536 (as on a node with tens of thousands of threads);
/// when that thread starts, L is woken. The cgroup's `net_io` histogram
/// must hold L's read, as long as L measured it (when the other thread's
/// syscalls took L's slot, L's read was lost).
#[test]
fn a_long_syscall_is_timed_beside_a_thread_with_a_colliding_id() {
    // Thread ids past L's + 65,536 must exist.
    let _pid_max = PidMax::at_least(4 * 1024 * 1024);
    let agent = Agent::start(&["--signals", "syscall"]);
    let c = TestCgroup::create("pp-sys-collide");
    let printed = Workload::collide(c.dir(), SLOTS).wait_for_output();
    let read_ns = printed.number("read_ns");
    let net_io = agent
        .scrape()
        .histogram(LATENCY, &[("cgroup", c.label()), ("class", "net_io")])
        .expect("no net_io series");
    // The read lasted read_ns as L measured it (from just before the call),
    // so the probe saw it take at least half that: above the largest
    // bound not over half of it.
    let half = read_ns as f64 / 2e9;
    let (bound, below) = net_io
        .buckets
        .iter()
        .rfind(|(le, _)| *le <= half)
        .copied()
        .unwrap_or((0.0, 0.0));
    eprintln!(
        "thread {} collided; L read for {read_ns} ns; net_io: {} calls, {} over {bound} s",
        printed.number("collided"),
        net_io.count,
        net_io.count - below
    );
    assert!(
        net_io.count - below >= 1.0,
        "L's read of {read_ns} ns is not in the net_io histogram"
    );
}

/// A thread that is not the leader execs while the leader and another
/// thread sit in read(): their entries go with them, the execing thread's
/// entry moves to the leader's id it takes, and its `execve` is measured
/// where it returns (class `process`, with the two thread creations
/// before).
#[test]
fn exec_from_another_thread_moves_its_entry() {
    let agent = Agent::start(&["--signals", "syscall"]);
    let c = TestCgroup::create("pp-sys-exec");
    let (workload, [leader, sleeper, execer]) = Workload::exec_from_thread(c.dir());
    thread::sleep(Duration::from_millis(200));
    let slots = SyscallSlots::open(agent.pid());
    assert!(
        slots.has_entry(leader),
        "the new program's pause() under the leader's id has no entry"
    );
    for (name, tid) in [("sleeper", sleeper), ("execer", execer)] {
        assert!(!slots.has_entry(tid), "the {name}'s entry outlives it");
    }
    let scrape = agent.scrape();
    let in_c = |class| [("cgroup", c.label()), ("class", class)];
    let process = scrape
        .histogram(LATENCY, &in_c("process"))
        .expect("no process-class syscalls");
    // The killed threads' read()s return (interrupted) before they exit, and
    // the old leader's entry is closed then; only a moved entry lets the
    // execve, which returns under the leader's id, be measured at all.
    assert_eq!(process.count, 3.0, "two clone3 and the execve");
    workload.kill();
}

#[test]
fn signals_choose_what_is_attached() {
    let probe_programs = |agent: &Agent| -> Vec<String> {
        agent
            .programs()
            .into_iter()
            .filter(|n| n.starts_with("runq_") || n.starts_with("syscall_"))
            .collect()
    };
    let agent = Agent::start(&["--signals", "runq"]);
    let programs = probe_programs(&agent);
    assert!(
        programs.iter().all(|n| n.starts_with("runq_")),
        "{programs:?}"
    );
    assert_eq!(programs.len(), 4, "{programs:?}");
    assert!(
        agent
            .scrape()
            .find(&format!("{LATENCY}_count"), &[])
            .next()
            .is_none()
    );
    drop(agent);

    let agent = Agent::start(&["--signals", "syscall"]);
    let programs = probe_programs(&agent);
    assert!(
        programs.iter().all(|n| n.starts_with("syscall_")),
        "{programs:?}"
    );
    assert_eq!(programs.len(), 4, "{programs:?}");
    let scrape = agent.scrape();
    assert!(
        scrape
            .find("pressure_runqueue_latency_seconds_count", &[])
            .next()
            .is_none()
    );
    assert!(
        scrape
            .find(&format!("{LATENCY}_count"), &[])
            .next()
            .is_some()
    );
}
