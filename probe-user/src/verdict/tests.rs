//! The rule on recorded evidence.

use std::sync::Arc;

use super::*;
use crate::{
    identity::Labels,
    signals::dependency::remotes::Remote,
    signals::{
        dependency::{self, window::RemoteCounts},
        memory, psi, requests, runqueue, syscall, tcp,
    },
    test_support::histogram_of,
    window::counters::Latency,
};

/// The default storage and dependency thresholds, in ns.
const STORAGE_NS: u64 = 50_000_000;
const DEPENDENCY_NS: u64 = 100_000_000;

/// A histogram of `values`, with those above `slow_ns` counted as slow.
fn latency(values: &[u64], slow_ns: u64) -> Latency {
    Latency::of(
        &histogram_of(values),
        values.iter().filter(|v| **v > slow_ns).count() as u64,
    )
}

/// A histogram of `values`, no slow threshold.
fn untimed(values: &[u64]) -> Latency {
    latency(values, u64::MAX)
}

/// Five seconds of nothing.
fn quiet() -> Evidence {
    Evidence {
        labels: Arc::new(Labels::unresolved(1)),
        seconds: 5.0,
        runqueue: runqueue::window::Evidence::default(),
        syscall: syscall::window::Evidence::default(),
        tcp: tcp::window::Evidence::default(),
        memory: memory::window::Evidence::default(),
        dependency: dependency::window::Evidence::default(),
        requests: requests::window::Evidence::default(),
        psi: psi::window::Evidence::default(),
    }
}

/// 100 waits of 30 ms in 5 s: 3 s of waiting, a share of 0.6 (score 6).
/// Of those 3 s, `own` and `others` hundredths waited behind its own
/// threads and behind other cgroups (the rest on an idle CPU).
fn starved(own: u64, others: u64) -> Evidence {
    Evidence {
        runqueue: runqueue::window::Evidence {
            waits: untimed(&[30_000_000; 100]),
            waited_behind: [
                own as f64 * 0.03,
                0.0,
                others as f64 * 0.03,
                (100 - own - others) as f64 * 0.03,
            ],
            ..Default::default()
        },
        ..quiet()
    }
}

fn verdict(e: Evidence) -> (Bottleneck, String, Vec<Bottleneck>) {
    let d = judge(e, &Thresholds::default());
    let all = d.findings.iter().map(|f| f.bottleneck).collect();
    (d.bottleneck, d.detail, all)
}

#[test]
fn cpu_behind_its_own_threads_or_a_neighbour() {
    assert_eq!(verdict(starved(90, 10)).0, Bottleneck::Cpu);
    assert_eq!(verdict(starved(10, 90)).0, Bottleneck::CpuNeighbour);
    // Its own threads are one of the main reasons from 0.3 of that time
    // (four busy threads sharing a CPU with a busy one-thread service).
    assert_eq!(verdict(starved(30, 70)).0, Bottleneck::Cpu);
    assert_eq!(verdict(starved(29, 71)).0, Bottleneck::CpuNeighbour);
    // Waits on an idle CPU count for neither side.
    assert_eq!(verdict(starved(3, 7)).0, Bottleneck::Cpu);
    // No wait behind anyone: no evidence that replicas would help.
    assert_eq!(verdict(starved(0, 0)).0, Bottleneck::CpuNeighbour);
    // Throttled at its own CPU quota (the CPU idled while it was runnable):
    // long waits, against many short ones after kernel threads.
    let mut throttled = starved(0, 0);
    throttled.runqueue.waited_behind = [0.0, 1.6, 0.01, 0.0];
    throttled.runqueue.preemptions = [0, 20, 0, 170];
    assert_eq!(verdict(throttled).0, Bottleneck::Cpu);
}

#[test]
fn too_little_evidence_is_none() {
    // Three waits of ten seconds each: a large share, from three events.
    let e = Evidence {
        runqueue: runqueue::window::Evidence {
            waits: untimed(&[10_000_000_000; 3]),
            ..Default::default()
        },
        ..quiet()
    };
    assert_eq!(verdict(e).0, Bottleneck::None);
    assert_eq!(verdict(quiet()).0, Bottleneck::None);
}

#[test]
fn a_full_or_dropping_queue_names_its_port() {
    let full = Evidence {
        tcp: tcp::window::Evidence {
            ports: vec![(9090, 0, 0.1), (8080, 0, 1.0)],
            ..Default::default()
        },
        ..quiet()
    };
    assert_eq!(
        verdict(full),
        (
            Bottleneck::AcceptQueue,
            "8080".into(),
            vec![Bottleneck::AcceptQueue]
        )
    );
    let dropping = Evidence {
        tcp: tcp::window::Evidence {
            ports: vec![(8080, 0, 1.0), (7070, 3, 0.0)],
            ..Default::default()
        },
        ..quiet()
    };
    let d = judge(dropping, &Thresholds::default());
    assert_eq!(
        (d.bottleneck, d.detail.as_str()),
        (Bottleneck::AcceptQueue, "7070")
    );
    assert_eq!(d.findings[0].score, 2.0);
    let half = Evidence {
        tcp: tcp::window::Evidence {
            ports: vec![(8080, 0, 0.5)],
            ..Default::default()
        },
        ..quiet()
    };
    assert_eq!(verdict(half).0, Bottleneck::None);
}

/// Sync and file_io as slow as each other: the tie goes to sync, the
/// first of the storage classes.
#[test]
fn a_storage_tie_goes_to_sync() {
    let slow = || latency(&[200_000_000; 20], STORAGE_NS);
    for classes in [
        vec![
            (SyscallClass::Sync, slow(), 0),
            (SyscallClass::FileIo, slow(), 0),
        ],
        vec![
            (SyscallClass::FileIo, slow(), 0),
            (SyscallClass::Sync, slow(), 0),
        ],
    ] {
        let e = Evidence {
            syscall: syscall::window::Evidence { classes },
            ..quiet()
        };
        assert_eq!(verdict(e).1, "sync");
    }
}

#[test]
fn slow_sync_is_storage() {
    let e = Evidence {
        syscall: syscall::window::Evidence {
            classes: vec![(
                SyscallClass::Sync,
                latency(&[200_000_000; 20], STORAGE_NS),
                0,
            )],
        },
        ..quiet()
    };
    assert_eq!(verdict(e).0, Bottleneck::Storage);
    // Slow waits are waiting by design, never storage.
    let e = Evidence {
        syscall: syscall::window::Evidence {
            classes: vec![(SyscallClass::Wait, untimed(&[2_000_000_000; 20]), 0)],
        },
        ..quiet()
    };
    assert_eq!(verdict(e).0, Bottleneck::None);
}

#[test]
fn an_oom_kill_is_memory_whatever_else() {
    let e = Evidence {
        memory: memory::window::Evidence {
            oom_kills: 1,
            ..Default::default()
        },
        ..starved(100, 0)
    };
    // CPU scores 6, memory at least 3: CPU wins, memory is still reported.
    let (bottleneck, _, all) = verdict(e);
    assert_eq!(bottleneck, Bottleneck::Cpu);
    assert_eq!(all, vec![Bottleneck::Cpu, Bottleneck::Memory]);
    let e = Evidence {
        memory: memory::window::Evidence {
            oom_kills: 1,
            ..Default::default()
        },
        ..quiet()
    };
    assert_eq!(verdict(e).0, Bottleneck::Memory);
}

#[test]
fn ties_go_by_the_documented_order() {
    // Memory: a reclaim share of 0.1 (score 2); CPU: a wait share of 0.2 (score 2).
    let e = Evidence {
        runqueue: runqueue::window::Evidence {
            waits: untimed(&[100_000_000; 10]),
            waited_behind: [1.0, 0.0, 0.0, 0.0],
            ..Default::default()
        },
        memory: memory::window::Evidence {
            reclaim: untimed(&[50_000_000; 10]),
            ..Default::default()
        },
        ..quiet()
    };
    let d = judge(e, &Thresholds::default());
    assert_eq!(d.findings.len(), 2);
    assert_eq!(d.findings[0].score, d.findings[1].score);
    assert_eq!(d.bottleneck, Bottleneck::Memory);
}

/// Where reads and writes are not classed by their fd (lockdown
/// `confidentiality`), `file_io` holds a blocking client's socket reads:
/// slow ones are no storage pressure there; slow `sync` still is.
#[test]
fn slow_file_io_is_no_storage_where_reads_are_not_classed_by_fd() {
    let slow = |class| Evidence {
        syscall: syscall::window::Evidence {
            classes: vec![(class, latency(&[300_000_000; 25], STORAGE_NS), 0)],
        },
        ..quiet()
    };
    let sync_only = Thresholds {
        storage_classes: &SYNC_ONLY,
        ..Thresholds::default()
    };
    assert_eq!(
        judge(slow(SyscallClass::FileIo), &Thresholds::default()).bottleneck,
        Bottleneck::Storage
    );
    assert_eq!(
        judge(slow(SyscallClass::FileIo), &sync_only).bottleneck,
        Bottleneck::None
    );
    assert_eq!(
        judge(slow(SyscallClass::Sync), &sync_only).bottleneck,
        Bottleneck::Storage
    );
}

#[test]
fn the_worst_wins_and_the_rest_are_evidence() {
    let e = Evidence {
        // A tenth of its file_io over the threshold: score 2, under CPU's 6.
        syscall: syscall::window::Evidence {
            classes: vec![(
                SyscallClass::FileIo,
                latency(&mixed(90, 10, 100_000_000), STORAGE_NS),
                0,
            )],
        },
        ..starved(100, 0)
    };
    let (bottleneck, detail, all) = verdict(e);
    assert_eq!((bottleneck, detail.as_str()), (Bottleneck::Cpu, ""));
    assert_eq!(all, vec![Bottleneck::Cpu, Bottleneck::Storage]);
}

#[test]
fn replicas_help_only_where_more_of_them_relieve_the_pressure() {
    let help: Vec<(&str, Option<bool>)> = Bottleneck::ALL
        .iter()
        .map(|b| (b.label(), b.replicas_help()))
        .collect();
    assert_eq!(
        help,
        [
            ("memory", Some(false)),
            ("accept_queue", Some(true)),
            ("dependency", Some(false)),
            ("cpu_neighbour", Some(false)),
            ("cpu", Some(true)),
            ("storage", Some(false)),
            ("workers", Some(true)),
            ("none", None),
        ]
    );
}

fn remote(port: u16, responses: &[u64], failures: u64) -> RemoteCounts {
    RemoteCounts {
        remote: Remote::Endpoint(([10, 0, 0, 9], port).into()),
        response: latency(responses, DEPENDENCY_NS),
        connect: Latency::default(),
        failures,
        retransmits: 0,
        connections: 1,
    }
}

#[test]
fn a_slow_or_failing_remote_is_a_dependency_named_by_its_address() {
    // 100 answers of 200 ms from 10.0.0.9:5432, 100 of 2 ms from :6379.
    let slow = Evidence {
        dependency: dependency::window::Evidence {
            remotes: vec![
                remote(6379, &[2_000_000; 100], 0),
                remote(5432, &[200_000_000; 100], 0),
            ],
        },
        ..quiet()
    };
    let (bottleneck, detail, _) = verdict(slow);
    assert_eq!(
        (bottleneck, detail.as_str()),
        (Bottleneck::Dependency, "10.0.0.9:5432")
    );
    // Too few answers to judge.
    let few = Evidence {
        dependency: dependency::window::Evidence {
            remotes: vec![remote(5432, &[200_000_000; 5], 0)],
        },
        ..quiet()
    };
    assert_eq!(verdict(few).0, Bottleneck::None);
    // Connects that keep failing.
    let refused = Evidence {
        dependency: dependency::window::Evidence {
            remotes: vec![remote(5432, &[], 20)],
        },
        ..quiet()
    };
    assert_eq!(verdict(refused).0, Bottleneck::Dependency);
}

/// `other` sums the remotes past `--max-remotes`: its failed connects are
/// many remotes' (a scan of closed ports), never "failing connects to one
/// remote". Its answers still count: each was an answer the container
/// waited for.
#[test]
fn failed_connects_summed_in_other_are_no_failing_remote() {
    let other = |responses: &[u64], failures| RemoteCounts {
        remote: Remote::Other,
        ..remote(0, responses, failures)
    };
    let scan = Evidence {
        dependency: dependency::window::Evidence {
            remotes: vec![other(&[], 4089)],
        },
        ..quiet()
    };
    assert_eq!(verdict(scan).0, Bottleneck::None);
    let slow = Evidence {
        dependency: dependency::window::Evidence {
            remotes: vec![other(&[200_000_000; 100], 0)],
        },
        ..quiet()
    };
    let (bottleneck, detail, _) = verdict(slow);
    assert_eq!(
        (bottleneck, detail.as_str()),
        (Bottleneck::Dependency, "other")
    );
}

/// `fast` calls of 1 ms and `slow` ones of `slow_ns` ns.
fn mixed(fast: usize, slow: usize, slow_ns: u64) -> Vec<u64> {
    let mut values = vec![1_000_000; fast];
    values.extend(std::iter::repeat_n(slow_ns, slow));
    values
}

#[test]
fn a_dependency_under_its_threshold_is_not_slow() {
    // 65 ms against 100 ms: in the kernel's bucket (62.5, 74.3] ms, under.
    let e = Evidence {
        dependency: dependency::window::Evidence {
            remotes: vec![remote(5432, &[65_000_000; 100], 0)],
        },
        ..quiet()
    };
    assert_eq!(verdict(e).0, Bottleneck::None);
    // 4% of answers over it: the p95 is under; 6%: over, 1.2 times the 5%.
    let under = Evidence {
        dependency: dependency::window::Evidence {
            remotes: vec![remote(5432, &mixed(96, 4, 150_000_000), 0)],
        },
        ..quiet()
    };
    assert_eq!(verdict(under).0, Bottleneck::None);
    let over = Evidence {
        dependency: dependency::window::Evidence {
            remotes: vec![remote(5432, &mixed(94, 6, 150_000_000), 0)],
        },
        ..quiet()
    };
    let d = judge(over, &Thresholds::default());
    assert_eq!(d.bottleneck, Bottleneck::Dependency);
    assert!((d.findings[0].score - 1.2).abs() < 1e-9, "{:?}", d.findings);
}

#[test]
fn storage_edges_follow_the_share_of_slow_calls() {
    let with = |fast, slow| Evidence {
        syscall: syscall::window::Evidence {
            classes: vec![(
                SyscallClass::Sync,
                latency(&mixed(fast, slow, 60_000_000), STORAGE_NS),
                0,
            )],
        },
        ..quiet()
    };
    assert_eq!(verdict(with(96, 4)).0, Bottleneck::None);
    assert_eq!(verdict(with(90, 10)).0, Bottleneck::Storage);
    // Exactly at the threshold is not over it.
    let at = Evidence {
        syscall: syscall::window::Evidence {
            classes: vec![(
                SyscallClass::Sync,
                latency(&[STORAGE_NS; 100], STORAGE_NS),
                0,
            )],
        },
        ..quiet()
    };
    assert_eq!(verdict(at).0, Bottleneck::None);
}

#[test]
fn a_p95_needs_twenty_observations() {
    // Ten slow fsyncs: ten is enough events for min_events, not for a p95.
    let ten = Evidence {
        syscall: syscall::window::Evidence {
            classes: vec![(
                SyscallClass::Sync,
                latency(&[200_000_000; 10], STORAGE_NS),
                0,
            )],
        },
        ..quiet()
    };
    assert_eq!(verdict(ten).0, Bottleneck::None);
}

#[test]
fn an_ignored_remote_is_no_dependency_pressure_unless_it_fails() {
    let slow = Evidence {
        dependency: dependency::window::Evidence {
            remotes: vec![remote(9092, &[500_000_000; 40], 0)],
        },
        ..quiet()
    };
    let ignoring = Thresholds {
        dependency_ignore: vec![":9092".parse().unwrap()],
        ..Thresholds::default()
    };
    assert_eq!(judge(slow.clone(), &ignoring).bottleneck, Bottleneck::None);
    assert_eq!(verdict(slow).0, Bottleneck::Dependency);
    let failing = Evidence {
        dependency: dependency::window::Evidence {
            remotes: vec![remote(9092, &[], 20)],
        },
        ..quiet()
    };
    assert_eq!(judge(failing, &ignoring).bottleneck, Bottleneck::Dependency);
}

/// Port 8080's requests: `fast` read at once (1 ms), `slow` after 150 ms
/// waiting for a worker.
fn queued(fast: usize, slow: usize) -> requests::window::Evidence {
    let mut waits = vec![1_000_000; fast];
    waits.extend(vec![150_000_000; slow]);
    requests::window::Evidence {
        ports: vec![requests::window::PortCounts {
            port: requests::ports::Port::Number(8080),
            response: Latency::default(),
            queue: latency(&waits, QUEUE_NS),
            errors: [0; probe_common::requests::error::COUNT],
            waiting: 0,
            connections: 2,
        }],
    }
}

/// The default queue threshold, in ns.
const QUEUE_NS: u64 = 50_000_000;

/// Requests that wait for a worker, with nothing else over its threshold:
/// `workers`, named by the port; more replicas help.
#[test]
fn requests_waiting_for_a_worker_are_workers_named_by_their_port() {
    let busy = Evidence {
        requests: queued(72, 8),
        ..quiet()
    };
    let (bottleneck, detail, _) = verdict(busy);
    assert_eq!((bottleneck, detail.as_str()), (Bottleneck::Workers, "8080"));
    assert_eq!(Bottleneck::Workers.replicas_help(), Some(true));
    // 4% waited long: the p95 is under.
    let fine = Evidence {
        requests: queued(96, 4),
        ..quiet()
    };
    assert_eq!(verdict(fine).0, Bottleneck::None);
}

/// Workers blocked on a slow dependency leave requests waiting: the
/// dependency is the verdict, even with a lower score (1.5 against 5), and
/// the workers' pressure is still reported, after it.
#[test]
fn a_cause_is_the_verdict_before_the_workers_it_holds() {
    let mut answers = vec![2_000_000; 37];
    answers.extend([200_000_000; 3]);
    let held = Evidence {
        dependency: dependency::window::Evidence {
            remotes: vec![remote(5432, &answers, 0)],
        },
        requests: queued(60, 20),
        ..quiet()
    };
    let diagnosis = judge(held, &Thresholds::default());
    let found: Vec<(Bottleneck, f64)> = diagnosis
        .findings
        .iter()
        .map(|f| (f.bottleneck, (f.score * 1000.0).round() / 1000.0))
        .collect();
    assert_eq!(
        found,
        [(Bottleneck::Dependency, 1.5), (Bottleneck::Workers, 5.0)]
    );
    assert_eq!(diagnosis.bottleneck, Bottleneck::Dependency);
}
