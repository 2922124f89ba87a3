//! The guard of the house moves (#38): a fixed sample, made without a
//! kernel, through every encoder (text, protobuf, gzip, the API's JSON),
//! compared byte for byte with files committed before the moves
//! (`probe-user/tests/golden/`). Moving code must not change a byte; a
//! change meant to change the output regenerates them with
//! `PP_BLESS_GOLDEN=1 cargo test -p probe-user golden` and says why in its
//! commit.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use probe_common::{
    dependency::{RemoteStats, reason, request},
    histogram::Histogram,
    memory::CgroupMemory,
    requests::{PortKey, PortStats as RequestPortStats, error},
    syscall::CgroupSyscalls,
    tcp::TcpFill,
};

use crate::{
    collect::{maps::CgroupData, program_cost::ProgramCost, zeroed},
    export::{self, Format, model},
    identity::Labels,
    rules,
    sampler::Sample,
    serve::api,
    signals::{dependency::remotes::RemoteSeries, psi::files::Psi, requests::ports::PortSeries},
    snapshot::{CgroupStats, PortStats, Snapshot},
    test_support::remote_key,
    verdict::{self, Thresholds},
    window::Window,
};

/// A histogram with `count` observations in bucket index `at` each.
fn histogram(buckets: &[(usize, u64)], sum_ns: u64) -> Histogram {
    let mut h = Histogram::ZERO;
    for &(at, count) in buckets {
        h.buckets[at] = count;
    }
    h.sum_ns = sum_ns;
    h
}

/// Cgroup `id`'s statistics after `k` seconds of work (k = 1, then 11).
fn web(k: u64) -> CgroupStats {
    let mut syscalls: CgroupSyscalls = zeroed();
    syscalls.latency[0] = histogram(&[(60, 100 * k), (80, 3 * k)], 2_000_000 * k);
    syscalls.latency[2] = histogram(&[(70, 40 * k), (100, 2 * k)], 90_000_000 * k);
    syscalls.errors[2] = 5 * k;
    syscalls.slow[2] = k;
    let mut memory: CgroupMemory = zeroed();
    memory.reclaim = histogram(&[(90, k)], 4_000_000 * k);
    memory.oom_kills = k / 10;
    let mut tcp_fill = TcpFill {
        buckets: [0; probe_common::tcp::FILL_BUCKETS],
        sum_micro: 300_000 * k,
    };
    tcp_fill.buckets[3] = 6 * k;
    let mut db = RemoteStats::ZERO;
    db.response = histogram(&[(85, 20 * k), (95, 10 * k)], 3_000_000_000 * k);
    db.slow_responses = 10 * k;
    db.connect = histogram(&[(60, 2)], 200_000);
    db.failures[reason::REFUSED] = k;
    db.retransmits = 3 * k;
    db.established = 4;
    db.untimed[usize::from(request::LONG_POLL)] = k;
    let mut rest = RemoteStats::ZERO;
    rest.response = histogram(&[(70, k)], 5_000 * k);
    let mut http = RequestPortStats::ZERO;
    http.response = histogram(&[(80, 90 * k), (92, 10 * k)], 900_000_000 * k);
    http.queue = histogram(&[(40, 95 * k), (88, 5 * k)], 80_000_000 * k);
    http.slow_queued = 5 * k;
    http.waiting = 2;
    http.connections = 12;
    http.errors[error::RESET] = k;
    http.errors[error::HTTP_5XX] = 3 * k;
    CgroupStats {
        id: 100,
        labels: Arc::new(Labels {
            cgroup: "/kubepods.slice/pod-web/cri-containerd-abc.scope".into(),
            namespace: Some("shop".into()),
            pod: Some("web-7d9f".into()),
            container: Some("web".into()),
            pod_uid: Some("0b1c2d3e-0000-4000-8000-000000000001".into()),
            container_id: Some("ab".repeat(32)),
            qos: Some("burstable".into()),
            unit: None,
        }),
        kernel: CgroupData {
            runq: Some(Box::new(histogram(
                &[(50, 500 * k), (75, 20 * k)],
                40_000_000 * k,
            ))),
            waited_behind_ns: Some([10_000_000 * k, 0, 30_000_000 * k, 100_000 * k]),
            syscalls: Some(Box::new(syscalls)),
            memory: Some(Box::new(memory)),
            psi: Some(Psi([
                [30_000 * k, 0],
                [2_000 * k, 1_000 * k],
                [500 * k, 100 * k],
            ])),
        },
        tcp_fill: Some(tcp_fill),
        preemptions: Some([50 * k, 0, 150 * k, 5 * k]),
        remotes: vec![
            RemoteSeries {
                key: Some(remote_key("10.0.0.5:5432")),
                stats: Box::new(db),
            },
            RemoteSeries {
                key: None,
                stats: Box::new(rest),
            },
        ],
        request_ports: vec![PortSeries {
            key: Some(PortKey {
                cgroup: 100,
                port: 8080,
                pad: [0; 3],
            }),
            stats: Box::new(http),
        }],
    }
}

/// A host service, busy on the CPU, and `other`.
fn batch_and_other(k: u64) -> [CgroupStats; 2] {
    let stats = |id: u64, labels: Labels, waits: u64| CgroupStats {
        id,
        labels: Arc::new(labels),
        kernel: CgroupData {
            runq: Some(Box::new(histogram(&[(90, waits)], waits * 8_000_000))),
            waited_behind_ns: Some([waits * 8_000_000, 0, 0, 0]),
            syscalls: None,
            memory: None,
            psi: None,
        },
        tcp_fill: None,
        preemptions: Some([waits, 0, 0, 0]),
        remotes: Vec::new(),
        request_ports: Vec::new(),
    };
    [
        stats(
            200,
            Labels {
                cgroup: "/system.slice/batch.service".into(),
                unit: Some("batch.service".into()),
                ..Labels::default()
            },
            2_000 * k,
        ),
        stats(0, Labels::other(), 7 * k),
    ]
}

fn snapshot(k: u64) -> Snapshot {
    let [batch, other] = batch_and_other(k);
    Snapshot {
        cgroups: vec![web(k), batch, other],
        ports: vec![PortStats {
            cgroup_id: 100,
            labels: web(k).labels,
            netns: 4_026_531_840,
            port: 8080,
            depth: 3,
            limit: 128,
            syn_queue: Some(1),
            overflows: 5 * k,
            syn_drops: Some(2 * k),
        }],
        lost: vec![
            ("runq", "storage_unavailable", k),
            ("tcp", "overflow_unattributed", 0),
        ],
        folded: 3,
        promoted: Vec::new(),
        unresolved: 1,
        unreadable: 0,
        programs: vec![ProgramCost {
            program: "runq_switch".into(),
            runs: 1_000 * k,
            run_ns: 250_000 * k,
        }],
        slow: Thresholds::default().slow_bounds(),
    }
}

/// The fixed sample: two snapshots ten seconds apart, judged.
fn sample() -> Sample {
    let thresholds = Thresholds::default();
    let mut window = Window::new(Duration::from_secs(60));
    let start = Instant::now();
    window.observe(&snapshot(1), start);
    let last = snapshot(11);
    let diagnoses = window
        .observe(&last, start + Duration::from_secs(10))
        .into_iter()
        .map(|evidence| verdict::judge(evidence, &thresholds))
        .collect();
    let mut sample = Sample::new(last, Duration::from_millis(7), diagnoses, window.span())
        .judged_with(thresholds);
    sample.sequence = 2;
    sample
}

/// Compares `got` with the committed `name` (or writes it when blessing).
fn check(name: &str, got: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("PP_BLESS_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        got == want,
        "{name} differs from {}: the sample's encoding changed (regenerate with \
         PP_BLESS_GOLDEN=1 only if the change is meant)",
        path.display()
    );
}

#[test]
fn every_encoding_of_a_fixed_sample_is_unchanged() {
    let sample = sample();
    // The sample's own families: not the agent process's, which change
    // from moment to moment.
    let encode = |format| export::write_families(model::families(&sample), format).unwrap();
    let text = encode(Format::Text);
    check("metrics.txt", &text);
    check("metrics.pb", &encode(Format::Protobuf));
    check("metrics.txt.gz", &export::gzip(&text).unwrap());
    let api = serde_json::to_string_pretty(&api::containers(&sample)).unwrap();
    check("containers.json", api.as_bytes());
}

/// `top` reads the server's document into the very types the server
/// wrote: nothing of a full sample's answer is lost or changed on the way.
#[test]
fn top_reads_back_every_field_of_the_api() {
    let written = serde_json::to_string(&api::containers(&sample())).unwrap();
    let read: crate::api::Document = serde_json::from_str(&written).unwrap();
    assert_eq!(serde_json::to_string(&read).unwrap(), written);
}

/// The rules with the defaults are the committed files, byte for byte
/// (`tests/deploy.rs` checks the same through the binary; this guards the
/// moves without one).
#[test]
fn the_rules_with_the_defaults_are_the_committed_files() {
    use clap::Parser;

    let cli = crate::cli::Cli::try_parse_from(["pressure-probe", "rules"]).unwrap();
    let crate::cli::Command::Rules(args) = cli.command else {
        panic!("rules parsed as another command");
    };
    let rules = rules::render(
        &args.verdict.thresholds(),
        args.verdict.window,
        &args.runbook_url,
        args.latency_p95,
    );
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let committed = |path: &str| std::fs::read_to_string(repo.join(path)).unwrap();
    assert!(
        rules == committed("deploy/prometheus/rules.yml"),
        "the rules differ from deploy/prometheus/rules.yml"
    );
    let operator = rules::prometheus_rule(&rules, &args.namespace);
    assert!(
        operator == committed("deploy/kubernetes/monitoring/prometheusrule.yaml"),
        "the PrometheusRule differs from deploy/kubernetes/monitoring/prometheusrule.yaml"
    );
}
