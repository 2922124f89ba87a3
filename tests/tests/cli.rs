//! Command-line behaviour: bad input fails with one clear line, a non-zero
//! exit and no panic; signals detach the programs and exit 0.

use std::{net::TcpListener, process::Command};

use integration_tests::agent::{self, Agent, run_to_end};

/// An error report is one `error:` line (clap may add a usage hint), never a
/// panic or a backtrace.
fn assert_clean_error(stderr: &str, expected: &str) {
    assert!(
        !stderr.contains("panicked")
            && !stderr.contains("backtrace")
            && !stderr.contains("RUST_BACKTRACE"),
        "looks like a panic: {stderr}"
    );
    let first = stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(
        first.starts_with("error:"),
        "first line is not an error line: {stderr}"
    );
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in: {stderr}"
    );
}

#[test]
fn unknown_flag() {
    let (status, _, stderr) = run_to_end(&["run", "--no-such-flag"]);
    assert_eq!(status.code(), Some(2));
    assert_clean_error(&stderr, "--no-such-flag");
}

#[test]
fn unknown_signal() {
    let (status, _, stderr) = run_to_end(&["run", "--signals", "runq,bogus"]);
    assert_eq!(status.code(), Some(2));
    assert_clean_error(&stderr, "bogus");
}

#[test]
fn malformed_listen_address() {
    let (status, _, stderr) = run_to_end(&["run", "--listen", "localhost-9635"]);
    assert_eq!(status.code(), Some(2));
    assert_clean_error(&stderr, "expected IP:PORT");
}

#[test]
fn port_already_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (status, _, stderr) = run_to_end(&["run", "--listen", &addr]);
    assert_eq!(status.code(), Some(1));
    assert_clean_error(&stderr, &format!("cannot listen on {addr}"));
    assert!(
        stderr.contains("--listen"),
        "does not say what to do: {stderr}"
    );
}

/// Runs the agent with `args` as user and group nobody (65534).
fn as_nobody(args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(agent::binary())
        .args(args)
        .output()
        .expect("cannot run setpriv (util-linux)")
}

#[test]
fn without_privileges() {
    let out = as_nobody(&["run", "--listen", "127.0.0.1:0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_clean_error(&stderr, "insufficient privileges");
    assert!(
        stderr.contains("CAP_BPF") && stderr.contains("root"),
        "{stderr}"
    );

    let out = as_nobody(&["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL     privileges"), "{stdout}");
}

#[test]
fn kernel_without_btf() {
    let (status, _, stderr) = run_to_end(&["run", "--btf", "/nonexistent/vmlinux"]);
    assert_eq!(status.code(), Some(1));
    assert_clean_error(&stderr, "kernel BTF not found at /nonexistent/vmlinux");
    assert!(stderr.contains("CONFIG_DEBUG_INFO_BTF"), "{stderr}");
    let (status, stdout, _) = run_to_end(&["check", "--btf", "/nonexistent/vmlinux"]);
    assert_eq!(status.code(), Some(1));
    assert!(stdout.contains("FAIL     btf"), "{stdout}");
}

/// A valid BTF blob that describes no types: a kernel without any of the hooks.
fn empty_btf() -> std::path::PathBuf {
    let mut blob = Vec::new();
    blob.extend_from_slice(&0xeb9f_u16.to_le_bytes()); // magic
    blob.extend_from_slice(&[1, 0]); // version, flags
    for field in [24u32, 0, 0, 0, 1] {
        // hdr_len, type_off, type_len, str_off, str_len
        blob.extend_from_slice(&field.to_le_bytes());
    }
    blob.push(0); // the empty string
    let path = std::env::temp_dir().join(format!("pp-empty-btf-{}", std::process::id()));
    std::fs::write(&path, blob).unwrap();
    path
}

#[test]
fn missing_tracepoint() {
    let path = empty_btf();
    let btf = path.to_str().unwrap();
    let (status, _, stderr) = run_to_end(&["run", "--btf", btf]);
    assert_eq!(status.code(), Some(1));
    assert_clean_error(&stderr, "no signal can run on this kernel");
    assert!(
        stderr.contains("kernel hook tp_btf/sched_wakeup is missing"),
        "{stderr}"
    );
    let (status, _, stderr) = run_to_end(&["run", "--btf", btf, "--signals", "syscall"]);
    assert_eq!(status.code(), Some(1));
    assert_clean_error(
        &stderr,
        "signal syscall cannot run on this kernel: kernel hook raw_tp/sys_enter is missing",
    );
    let (status, stdout, _) = run_to_end(&["check", "--btf", btf]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(status.code(), Some(1));
    for line in [
        "info     hook tp_btf/sched_switch         missing",
        "info     signal runq                      unavailable",
        "FAIL     signals",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}

#[test]
fn disabled_hooks() {
    let (status, _, stderr) = run_to_end(&["run", "--disable-hook", "kprobe/nothing"]);
    assert_eq!(status.code(), Some(2));
    assert_clean_error(&stderr, "unknown hook; known: tp_btf/sched_wakeup,");
    let (status, _, stderr) = run_to_end(&[
        "run",
        "--signals",
        "runq",
        "--disable-hook",
        "tp_btf/sched_switch",
    ]);
    assert_eq!(status.code(), Some(1));
    assert_clean_error(
        &stderr,
        "signal runq cannot run on this kernel: kernel hook tp_btf/sched_switch is disabled by --disable-hook",
    );
    let (status, stdout, _) = run_to_end(&["check", "--disable-hook", "tp_btf/sched_switch"]);
    assert!(status.success(), "the other signals still run:\n{stdout}");
    for line in [
        "info     hook tp_btf/sched_switch         disabled by --disable-hook",
        "info     signal runq                      unavailable",
        "ok       signal syscall",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    // By default the agent runs the signals that can, without that one.
    let agent = Agent::start(&["--disable-hook", "tp_btf/sched_switch"]);
    agent.scrape();
    let scrape = agent.scrape();
    assert!(
        scrape
            .find("pressure_runqueue_latency_seconds_count", &[])
            .next()
            .is_none(),
        "run-queue series without the run-queue signal"
    );
    assert!(
        scrape
            .find("pressure_syscall_latency_seconds_count", &[])
            .next()
            .is_some(),
        "the syscall signal stopped with the run-queue one"
    );
}

#[test]
fn check_passes_on_the_test_host() {
    let (status, stdout, stderr) = run_to_end(&["check"]);
    assert!(status.success(), "check failed:\n{stdout}\n{stderr}");
    for line in [
        "ok       btf",
        "ok       cgroup2 mount",
        "ok       hook tp_btf/sched_switch",
        "ok       signal runq",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}

#[test]
fn help_explains_the_commands() {
    let (status, stdout, _) = run_to_end(&["--help"]);
    assert!(status.success());
    assert!(
        stdout.contains("run") && stdout.contains("check"),
        "{stdout}"
    );
    let (status, stdout, _) = run_to_end(&["run", "--help"]);
    assert!(status.success());
    assert!(
        stdout.contains("--listen") && stdout.contains("0.0.0.0:9635"),
        "{stdout}"
    );
}

fn probe_programs_loaded() -> usize {
    agent::loaded_programs(&["runq_sched"]).len()
}

#[test]
fn sigterm_and_sigint_detach_and_exit_zero() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let agent = Agent::start(&[]);
        assert_eq!(
            probe_programs_loaded(),
            3,
            "the three run-queue programs are not loaded"
        );
        let (status, _) = agent.stop_with(signal);
        assert_eq!(
            status.code(),
            Some(0),
            "exit after signal {signal}: {status:?}"
        );
        // The kernel frees a program after its last reference, asynchronously.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while probe_programs_loaded() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(
            probe_programs_loaded(),
            0,
            "programs still loaded after signal {signal}"
        );
    }
}

#[test]
fn serves_healthz_and_documented_metrics() {
    // Kernel diagnostics on: the log reader must not get in the way.
    let agent = Agent::start(&["--ebpf-log", "--log-level", "debug"]);
    let (status, body) = agent.get("/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _) = agent.get("/nope");
    assert_eq!(status, 404);
    let scrape = agent.scrape();
    for family in [
        "pressure_runqueue_latency_seconds",
        "pressure_runqueue_preemptions_total",
        "pressure_probe_build_info",
        "pressure_probe_events_lost_total",
    ] {
        let help = scrape
            .help
            .get(family)
            .unwrap_or_else(|| panic!("no HELP for {family}"));
        assert!(help.len() > 20, "HELP of {family} says too little: {help}");
    }
    assert_eq!(scrape.value("pressure_probe_build_info", &[]), Some(1.0));
}
