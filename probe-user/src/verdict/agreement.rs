//! The agent's verdict and the generated Prometheus rules judge the same
//! counts alike: each scenario is one minute of kernel histograms, judged
//! by [`judge`] on the window's evidence and, exported as the agent
//! exports them, by the rules in a real `promtool test rules`.

use std::{fmt::Write, path::Path, process::Command, sync::Arc, time::Duration};

use probe_common::{
    histogram::{Histogram, bucket_index},
    requests::error,
};

use probe_common::syscall::SyscallClass;

use super::{Bottleneck, SYNC_ONLY, Thresholds, judge};
use crate::{
    export::{histogram, model::Value, probe::STORAGE_CLASS},
    identity::Labels,
    rules,
    signals::{
        dependency::{self, remotes::Remote, window::RemoteCounts},
        memory, psi,
        requests::{self, ports::Port, window::PortCounts},
        runqueue, syscall, tcp,
    },
    snapshot::Preemptor,
    window::{Evidence, counters::Latency},
};

/// One minute of a container's syscalls of classes `sync` and `file_io`
/// and answers from one remote: (fast, slow) counts, fast ones of 1 ms and
/// slow ones of 150 ms (over both default thresholds); and its CPU waits.
struct Scenario {
    cgroup: &'static str,
    fsyncs: (u64, u64),
    reads: (u64, u64),
    answers: (u64, u64),
    /// Requests to one listening port and how long they waited for a
    /// worker: (fast, slow), as above (over the 50 ms queue threshold).
    queued: (u64, u64),
    /// Seconds waited for a CPU in the minute, all behind its own threads,
    /// in 40 waits.
    cpu_wait: f64,
}

const SCENARIOS: [Scenario; 11] = [
    // 2.5% of answers over 100 ms: the p95 is under.
    Scenario {
        cgroup: "/dependency-under",
        reads: (0, 0),
        fsyncs: (0, 0),
        answers: (39, 1),
        queued: (0, 0),
        cpu_wait: 0.0,
    },
    // 7.5% over: 1.5 times the 5% a p95 allows.
    Scenario {
        cgroup: "/dependency-over",
        reads: (0, 0),
        fsyncs: (0, 0),
        answers: (37, 3),
        queued: (0, 0),
        cpu_wait: 0.0,
    },
    // 3.75% of fsyncs over 50 ms: under.
    Scenario {
        cgroup: "/storage-under",
        reads: (0, 0),
        fsyncs: (77, 3),
        answers: (0, 0),
        queued: (0, 0),
        cpu_wait: 0.0,
    },
    // 10% over: 2 times.
    Scenario {
        cgroup: "/storage-over",
        reads: (0, 0),
        fsyncs: (72, 8),
        answers: (0, 0),
        queued: (0, 0),
        cpu_wait: 0.0,
    },
    // All 16 slow, but a p95 needs 20.
    Scenario {
        cgroup: "/too-few",
        reads: (0, 0),
        fsyncs: (0, 16),
        answers: (0, 16),
        queued: (0, 0),
        cpu_wait: 0.0,
    },
    // Storage 2, CPU 3: CPU.
    Scenario {
        cgroup: "/cpu-and-storage",
        reads: (0, 0),
        fsyncs: (72, 8),
        answers: (0, 0),
        queued: (0, 0),
        cpu_wait: 18.0,
    },
    // 10% of reads over 50 ms: storage 2 where file_io is judged, none
    // where storage is judged on sync alone.
    Scenario {
        cgroup: "/slow-reads",
        reads: (72, 8),
        fsyncs: (0, 0),
        answers: (0, 0),
        queued: (0, 0),
        cpu_wait: 0.0,
    },
    // Dependency 1.5 and storage 2 (storage wins), both reported.
    Scenario {
        cgroup: "/both-slow",
        reads: (0, 0),
        fsyncs: (72, 8),
        answers: (37, 3),
        queued: (0, 0),
        cpu_wait: 0.0,
    },
    // 10% of requests waited over 50 ms for a worker: workers 2.
    Scenario {
        cgroup: "/workers-over",
        reads: (0, 0),
        fsyncs: (0, 0),
        answers: (0, 0),
        queued: (72, 8),
        cpu_wait: 0.0,
    },
    // Workers 2, but its threads waited 1 s for a CPU (under the CPU
    // threshold) against 1.27 s of queue time: a CPU matter, none.
    Scenario {
        cgroup: "/workers-waiting-for-a-cpu",
        reads: (0, 0),
        fsyncs: (0, 0),
        answers: (0, 0),
        queued: (72, 8),
        cpu_wait: 1.0,
    },
    // Workers 5 and dependency 1.5: the dependency, a cause, wins over
    // the symptom whatever their scores; both reported.
    Scenario {
        cgroup: "/workers-behind-a-dependency",
        reads: (0, 0),
        fsyncs: (0, 0),
        answers: (37, 3),
        queued: (60, 20),
        cpu_wait: 0.0,
    },
];

const FAST_NS: u64 = 1_000_000;
const SLOW_NS: u64 = 150_000_000;

/// A kernel histogram of `fast` and `slow` observations.
fn histogram((fast, slow): (u64, u64)) -> Histogram {
    let mut hist = Histogram::ZERO;
    hist.buckets[bucket_index(FAST_NS)] += fast;
    hist.buckets[bucket_index(SLOW_NS)] += slow;
    hist.sum_ns = fast * FAST_NS + slow * SLOW_NS;
    hist
}

/// What the window would hold of the scenario's minute.
fn evidence(s: &Scenario) -> Evidence {
    let mut runq = Histogram::ZERO;
    if s.cpu_wait > 0.0 {
        runq.buckets[bucket_index(10_000_000)] = 40;
        runq.sum_ns = (s.cpu_wait * 1e9) as u64;
    }
    let remotes = if s.answers == (0, 0) {
        Vec::new()
    } else {
        vec![RemoteCounts {
            remote: Remote::Endpoint(([10, 0, 0, 9], 5432).into()),
            response: Latency::of(&histogram(s.answers), s.answers.1),
            connect: Latency::default(),
            failures: 0,
            retransmits: 0,
            connections: 1,
        }]
    };
    let ports = if s.queued == (0, 0) {
        Vec::new()
    } else {
        vec![PortCounts {
            port: Port::Number(8080),
            response: Latency::default(),
            queue: Latency::of(&histogram(s.queued), s.queued.1),
            errors: [0; error::COUNT],
            waiting: 0,
            connections: 1,
        }]
    };
    let syscalls = [
        (SyscallClass::Sync, s.fsyncs),
        (SyscallClass::FileIo, s.reads),
    ]
    .into_iter()
    .filter(|(_, calls)| *calls != (0, 0))
    .map(|(class, calls)| (class, Latency::of(&histogram(calls), calls.1), 0))
    .collect();
    Evidence {
        labels: Arc::new(Labels {
            cgroup: s.cgroup.into(),
            ..Labels::default()
        }),
        seconds: 60.0,
        runqueue: runqueue::window::Evidence {
            waits: Latency::of(&runq, 0),
            preemptions: [0; Preemptor::COUNT],
            waited_behind: [s.cpu_wait, 0.0, 0.0, 0.0],
        },
        syscall: syscall::window::Evidence { classes: syscalls },
        tcp: tcp::window::Evidence::default(),
        memory: memory::window::Evidence::default(),
        dependency: dependency::window::Evidence { remotes },
        requests: requests::window::Evidence { ports },
        psi: psi::window::Evidence::default(),
    }
}

/// Input series of a counter rising by `per_minute` a minute, sampled
/// every 15 s for 10 minutes.
fn series(out: &mut String, name_and_labels: &str, per_minute: f64) {
    let _ = writeln!(
        out,
        "      - series: '{name_and_labels}'\n        values: '0+{}x40'",
        per_minute / 4.0
    );
}

/// The exported series of one histogram, rising by `value` a minute.
fn histogram_series(out: &mut String, name: &str, labels: &str, value: &Value) {
    let Value::Histogram(h) = value else {
        unreachable!("a latency is a histogram")
    };
    for (le, cumulative) in &h.classic {
        series(
            out,
            &format!("{name}_bucket{{{labels},le=\"{le}\"}}"),
            *cumulative as f64,
        );
    }
    series(
        out,
        &format!("{name}_bucket{{{labels},le=\"+Inf\"}}"),
        h.count as f64,
    );
    series(out, &format!("{name}_count{{{labels}}}"), h.count as f64);
    series(out, &format!("{name}_sum{{{labels}}}"), h.sum);
}

/// `v` rounded to thousandths, as PromQL's `round(v, 0.001)` does.
fn thousandths(v: f64) -> f64 {
    (v / 0.001 + 0.5).floor() * 0.001
}

#[test]
fn the_rules_judge_the_same_counts_as_the_agent() {
    agree(&Thresholds::default());
}

/// Where reads and writes are not classed by their fd (lockdown), the
/// agent judges storage on `sync` alone, and says so: the rules do too.
#[test]
fn the_rules_judge_storage_on_the_classes_the_agent_does() {
    agree(&Thresholds {
        storage_classes: &SYNC_ONLY,
        ..Thresholds::default()
    });
}

/// The agent's verdict and the rules', over every scenario, judging with `t`.
fn agree(t: &Thresholds) {
    let mut inputs = String::new();
    for class in t.storage_classes {
        let _ = writeln!(
            inputs,
            "      - series: '{STORAGE_CLASS}{{class=\"{}\",node=\"n1\"}}'\n        values: '1x40'",
            class.label()
        );
    }
    let mut scores = String::new();
    let mut verdicts = String::new();
    for s in &SCENARIOS {
        let labels = format!("cgroup=\"{}\",container_id=\"c\",node=\"n1\"", s.cgroup);

        let remote = format!("{labels},remote=\"10.0.0.9:5432\"");
        for (class, calls) in [
            (SyscallClass::Sync, s.fsyncs),
            (SyscallClass::FileIo, s.reads),
        ] {
            if calls != (0, 0) {
                let slow = Some((t.storage_p95, calls.1));
                let value = syscall::metrics::latency(&histogram(calls), slow);
                let labels = format!("{labels},class=\"{}\"", class.label());
                histogram_series(&mut inputs, syscall::metrics::LATENCY, &labels, &value);
            }
        }
        if s.answers != (0, 0) {
            let slow = Some((t.dependency_p95, s.answers.1));
            let value = dependency::metrics::latency(&histogram(s.answers), slow);
            let name = dependency::metrics::RESPONSE;
            histogram_series(&mut inputs, name, &remote, &value);
        }
        if s.queued != (0, 0) {
            let slow = Some((t.queue_p95, s.queued.1));
            let value = histogram::doubling(&histogram(s.queued), slow);
            let port = format!("{labels},port=\"8080\"");
            histogram_series(&mut inputs, requests::metrics::QUEUE, &port, &value);
        }
        if s.cpu_wait > 0.0 {
            let runq = runqueue::metrics::LATENCY;
            series(&mut inputs, &format!("{runq}_sum{{{labels}}}"), s.cpu_wait);
            series(&mut inputs, &format!("{runq}_count{{{labels}}}"), 40.0);
            let behind = runqueue::metrics::WAITED_BEHIND;
            series(
                &mut inputs,
                &format!("{behind}{{{labels},by=\"same_cgroup\"}}"),
                s.cpu_wait,
            );
        }
        let diagnosis = judge(evidence(s), t);
        for finding in &diagnosis.findings {
            let _ = writeln!(
                scores,
                "          - labels: '{{{labels},bottleneck=\"{}\"}}'\n            value: {}",
                finding.bottleneck.label(),
                thousandths(finding.score)
            );
        }
        if diagnosis.bottleneck != Bottleneck::None {
            let _ = writeln!(
                verdicts,
                "          - labels: '{{{labels},bottleneck=\"{}\"}}'\n            value: {}",
                diagnosis.bottleneck.label(),
                thousandths(diagnosis.findings[0].score)
            );
        }
    }
    let dir = std::env::temp_dir().join(format!("pp-rules-agree-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("rules.yml"),
        rules::render(
            t,
            Duration::from_secs(60),
            "https://runbooks.invalid/r.md",
            0.5,
        ),
    )
    .unwrap();
    let test = format!(
        "rule_files:\n  - rules.yml\nevaluation_interval: 15s\ntests:\n  - interval: 15s\n    \
         input_series:\n{inputs}    promql_expr_test:\n      \
         - expr: round(container_bottleneck:pressure_score:window, 0.001)\n        \
         eval_time: 8m\n        exp_samples:\n{scores}      \
         - expr: round(container:pressure_bottleneck:window, 0.001)\n        \
         eval_time: 8m\n        exp_samples:\n{verdicts}"
    );
    std::fs::write(dir.join("agree.test.yml"), &test).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules", "agree.test.yml"])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool (`cargo xtask test` installs it): {e}"));
    let _ = std::fs::remove_dir_all(Path::new(&dir));
    assert!(
        out.status.success(),
        "the rules disagree with the agent:\n{}\n{test}",
        String::from_utf8_lossy(&out.stdout)
    );
}
