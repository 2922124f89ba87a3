//! `cargo xtask hook-bench`: what a hook with an alternative costs through
//! each way of attaching, on a kernel that offers both.
//!
//! The TCP fill histogram can come from `tp_btf/sk_data_ready` or from
//! `fentry/sock_def_readable`. The test host refuses fentry, so the two are
//! compared in a Debian 6.12 guest, where both load. Software emulation makes
//! wall-clock time meaningless, so the guest runs with QEMU's instruction
//! counting (`-icount shift=0`): its clock advances one nanosecond per
//! instruction, and a time measured inside it is a count of the guest's
//! instructions: nearly deterministic, and the same on any host.
//!
//! Each workload runs bare, with empty programs on each hook (the floor),
//! and with the probe's program on each hook, interleaved round by round.

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use anyhow::{Context, Result, bail};
use integration_tests::agent::CheckReport;

use crate::{build, vm};

/// The kernel of the matrix that has both hooks.
const KERNEL: &str = "6.12";

/// A way to run the workload: its name, and the agent's options (`bare`
/// runs no agent).
const CONFIGS: &[(&str, &str)] = &[
    ("bare", ""),
    ("floor tp_btf", "--programs empty"),
    (
        "floor fentry",
        "--programs empty --disable-hook tp_btf/sk_data_ready",
    ),
    ("probe tp_btf", ""),
    ("probe fentry", "--disable-hook tp_btf/sk_data_ready"),
];

/// A workload of `pp-workload`: its mode, what it shows, and operations per run.
const WORKLOADS: &[(&str, &str, u64)] = &[
    (
        "datagrams",
        "Unix datagram send + receive (sk_data_ready on a non-listener: the program returns at once)",
        50_000,
    ),
    (
        "handshakes",
        "TCP connect + accept + close on loopback (sk_data_ready on the listener: one fill observation)",
        5_000,
    ),
];

/// How long the guest may run.
const TIMEOUT: Duration = Duration::from_secs(1800);

/// One vCPU counting instructions: `-icount` needs single-threaded TCG, and
/// `sleep=off` skips the guest's idle time instead of waiting it out.
const MACHINE: &[&str] = &[
    "-accel",
    "tcg,thread=single",
    "-icount",
    "shift=0,sleep=off",
    "-smp",
    "1",
];

/// Runs the comparison and prints medians and ratios.
pub fn hook_bench(rounds: usize) -> Result<()> {
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    build::build(false)?;
    let workload = build::workload(false)?;
    let kernel = vm::kernel(KERNEL)?;
    let vmlinuz = vm::fetch_kernel(kernel)?;
    let initrd = vm::build_initramfs(&guest_script(rounds), &[], &[], &workload)?;
    eprintln!(
        "xtask: hook-bench: kernel {KERNEL}, {rounds} rounds of {} configurations per workload",
        CONFIGS.len()
    );
    let mut samples: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut errors = Vec::new();
    let log = vm::boot(&vmlinuz, &initrd, MACHINE, kernel.append, TIMEOUT, |line| {
        if let Some(rest) = line.strip_prefix("HOOKBENCH ") {
            eprintln!("xtask: hook-bench: {rest}");
            match parse_sample(rest) {
                Some((key, value)) => samples.entry(key).or_default().push(value),
                None => errors.push(format!("unreadable sample: {rest}")),
            }
        } else if line.starts_with("HOOKBENCH-ERROR") {
            errors.push(line.to_string());
        }
    })?;
    let log_file = vm::save_log("hook-bench", &log)?;
    // The guest prints `check --format json` on lines of their own.
    let chosen = |hook: &str| {
        log.lines()
            .filter_map(|l| CheckReport::parse(l.trim()).ok())
            .any(|report| report.says(hook, "ok", "; chosen"))
    };
    if !chosen("hook tp_btf/sk_data_ready") || !chosen("hook fentry/sock_def_readable") {
        bail!(
            "the guest did not offer both hooks; its output is in {}",
            log_file.display()
        );
    }
    if !errors.is_empty() || !log.contains("HOOKBENCH-DONE") {
        bail!(
            "the benchmark did not finish ({}); the guest's output is in {}",
            errors.join("; "),
            log_file.display()
        );
    }
    for (workload, title, count) in WORKLOADS {
        let medians = CONFIGS
            .iter()
            .map(|(config, _)| {
                let values = samples
                    .get_mut(&(workload.to_string(), config.to_string()))
                    .filter(|values| values.len() == rounds)
                    .with_context(|| {
                        format!(
                            "not {rounds} samples for {workload} / {config}; the guest's \
                             output is in {}",
                            log_file.display()
                        )
                    })?;
                Ok(crate::bench::median(values))
            })
            .collect::<Result<Vec<f64>>>()?;
        print!("{}", report(title, *count, rounds, &medians));
    }
    Ok(())
}

/// `WORKLOAD CONFIG... ns_per_op VALUE` → ((workload, config), value).
fn parse_sample(line: &str) -> Option<((String, String), f64)> {
    let (head, value) = line.rsplit_once(" ns_per_op ")?;
    let (workload, config) = head.split_once(' ')?;
    Some(((workload.into(), config.into()), value.trim().parse().ok()?))
}

fn report(title: &str, count: u64, rounds: usize, medians: &[f64]) -> String {
    let bare = medians[0];
    let added = |i: usize| medians[i] - bare;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{title}\nguest instructions per operation, {count} operations, median of {rounds}:"
    );
    for ((config, _), value) in CONFIGS.iter().zip(medians) {
        let _ = writeln!(
            out,
            "  {config:<14} {value:>10.0}   ({:+.0} over bare)",
            value - bare
        );
    }
    for (what, tp_btf, fentry) in [("floor", 1, 2), ("probe", 3, 4)] {
        let ratio = if added(tp_btf) > 0.0 && added(fentry) > 0.0 {
            format!("{:.2}", added(fentry) / added(tp_btf))
        } else {
            "not meaningful (a cost within the noise)".to_string()
        };
        let _ = writeln!(out, "  {what}: fentry added / tp_btf added {ratio}");
    }
    out
}

/// The guest's run: `check` with and without the tracepoint, then every
/// workload under every configuration, `rounds` times, interleaved.
fn guest_script(rounds: usize) -> String {
    let mut script = String::from(
        r#"measure() {
    workload=$1 count=$2 config=$3 options=$4
    pid=""
    if [ "$config" != bare ]; then
        /bin/pressure-probe run --listen 127.0.0.1:9635 --signals tcp $options 2>/tmp/agent.log &
        pid=$!
        tries=0
        until wget -q -O /dev/null http://127.0.0.1:9635/healthz 2>/dev/null; do
            tries=$((tries + 1))
            if ! kill -0 $pid 2>/dev/null || [ $tries -gt 600 ]; then
                echo "HOOKBENCH-ERROR $config: the agent did not serve"
                kill -KILL $pid 2>/dev/null
                wait $pid
                cat /tmp/agent.log
                return
            fi
            sleep 0.1
        done
    fi
    result=$(/t/pp-workload "$workload" - "$count")
    if [ -n "$pid" ]; then
        kill -TERM $pid
        # The agent exits 0 on SIGTERM; anything else means it died during the run.
        if ! wait $pid; then
            echo "HOOKBENCH-ERROR $config: the agent failed during $workload"
            cat /tmp/agent.log
            return
        fi
    fi
    echo "HOOKBENCH $workload $config $result"
}
/bin/pressure-probe check --format json
/bin/pressure-probe check --format json --disable-hook tp_btf/sk_data_ready
"#,
    );
    for round in 1..=rounds {
        let _ = writeln!(script, "echo \"round {round}\"");
        for (workload, _, count) in WORKLOADS {
            for (config, options) in CONFIGS {
                let _ = writeln!(
                    script,
                    "measure {workload} {count} \"{config}\" \"{options}\""
                );
            }
        }
    }
    script.push_str("echo HOOKBENCH-DONE\n");
    script
}
