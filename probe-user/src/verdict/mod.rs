//! The verdict: which bottleneck a container has over the window, and
//! whether more replicas would help. The rule lives here and only here; the
//! metric, the API, `top` and the Prometheus rules (`pressure-probe rules`)
//! all take it from this module.
//!
//! The rule. Each pressure is measured over the window, and it counts only
//! past its threshold and with enough evidence (`min_events` observations:
//! a container with three waits in a minute has no CPU pressure, whatever
//! they lasted):
//!
//! | pressure | measure | over its threshold when |
//! | --- | --- | --- |
//! | CPU | time its threads waited for a CPU / window (summed over threads) | ≥ `cpu_wait_share` (0.1), with ≥ `min_events` waits |
//! | accept queue | the fullest of: a listener's fill now, p95 of the fill at each queued connection | ≥ `accept_fill` (0.8), with ≥ `max(min_events, 20)` queued connections or the fill now; or any connection dropped |
//! | dependency | the share of each remote endpoint's answers slower than `dependency_p95` (100 ms): its p95 is over the threshold when 5% or more are (the worst remote counts) | ≥ 5%, with ≥ `max(min_events, 20)` answers from it; or ≥ `min_events` failed connects to it (not to `other`, the remotes past `--max-remotes` summed) |
//! | storage | the share of `sync` (fsync and friends), then `file_io` syscalls slower than `storage_p95` (50 ms) | ≥ 5%, with ≥ `max(min_events, 20)` calls of the class |
//! | memory | time its threads stalled in reclaim / window, or PSI memory `some` / window, whichever is larger | ≥ `memory_stall_share` (0.05); or any OOM kill |
//! | workers | the share of each listening port's requests that waited for a worker longer than `queue_p95` (50 ms) | ≥ 5%, with ≥ `max(min_events, 20)` requests; only when no other pressure is over its threshold (a symptom), and its threads waited for a CPU less than half as long as its requests waited for a worker |
//!
//! A p95 needs at least 20 observations: with fewer, the 95th percentile is
//! the largest of them. The slow share is exact: the kernel counts the
//! calls and answers above each latency threshold (the agent hands it the
//! thresholds at load), and the exported histograms have a bucket bound at
//! each threshold, so the Prometheus rules count the same.
//!
//! The score of a pressure over its threshold is its measure divided by the
//! threshold (how many times over); for a latency, the slow share divided
//! by the 5% a p95 allows (how many times the allowed share of slow calls
//! there were: an SLO's burn rate). A dropped connection scores at least
//! 2, an OOM kill at least 3, and failing connects to a remote at least 2
//! (harm done, not just pressure). The highest score is the verdict; the
//! others are still reported, with their scores, as evidence. A tie goes
//! to the first in this order: memory, accept queue, dependency, CPU (a
//! noisy neighbour, then its own threads), storage.
//!
//! Dependency comes before CPU and storage in ties because a slow
//! dependency causes the others' symptoms (a service waiting on a database
//! retries, queues, and writes more), never the other way around.
//!
//! CPU pressure is `cpu` when at least `cpu_own_share` (0.3) of the time
//! its threads waited behind someone was their own doing: the CPU ran
//! threads of their own cgroup meanwhile, or they were throttled at its
//! CPU quota. Its own threads or limit are one of the main reasons it
//! waits, it would still wait without its neighbours, and more replicas (or
//! more CPU) help. It is `cpu_neighbour` otherwise: other containers or the
//! host hold the CPUs, and a single-threaded service without a quota can
//! only ever be that. No wait behind anyone is `cpu_neighbour` too: "more
//! replicas help" needs evidence. The share weighs the time, not the
//! events: a cgroup throttled 20 times a second for 80 ms, and preempted 80
//! times a second for a few microseconds by kernel threads, waits for its
//! quota. Waits on an idle CPU (the time to switch a woken thread in) are
//! nobody's doing and count for neither side.
//!
//! Nothing over its threshold: `none`.
//!

pub mod ignore;

use std::{fmt, time::Duration};

use probe_common::syscall::SyscallClass;

use crate::{
    signals,
    snapshot::SlowBounds,
    window::{
        Evidence,
        counters::{Latency, observations_for},
    },
};

/// Which resource a container is short of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bottleneck {
    /// Short of memory: reclaim stalls or OOM kills.
    Memory,
    /// Connections arrive faster than it accepts them.
    AcceptQueue,
    /// A remote endpoint it calls answers slowly or fails.
    Dependency,
    /// Its threads wait for a CPU, behind other containers or the host.
    CpuNeighbour,
    /// Its threads wait for a CPU, behind its own threads.
    Cpu,
    /// Its file or sync syscalls are slow.
    Storage,
    /// Its requests wait for a free worker, and no cause above explains it.
    Workers,
    /// Nothing over its threshold.
    None,
}

impl Bottleneck {
    /// Every verdict, in tie-break order.
    pub const ALL: [Bottleneck; 8] = [
        Bottleneck::Memory,
        Bottleneck::AcceptQueue,
        Bottleneck::Dependency,
        Bottleneck::CpuNeighbour,
        Bottleneck::Cpu,
        Bottleneck::Storage,
        Bottleneck::Workers,
        Bottleneck::None,
    ];

    /// Whether it is a symptom, not a cause: requests waiting for a worker
    /// is what every other pressure makes too (workers blocked on a slow
    /// dependency, on storage, waiting for a CPU), so it is the verdict
    /// only when no other pressure is over its threshold.
    pub fn is_symptom(self) -> bool {
        self == Bottleneck::Workers
    }

    /// Its place in the tie order ([`Bottleneck::ALL`]).
    pub fn tie_rank(self) -> usize {
        Bottleneck::ALL
            .iter()
            .position(|b| *b == self)
            .expect("every bottleneck is in ALL")
    }

    /// The `bottleneck` label value.
    pub fn label(self) -> &'static str {
        match self {
            Bottleneck::Memory => "memory",
            Bottleneck::AcceptQueue => "accept_queue",
            Bottleneck::Dependency => "dependency",
            Bottleneck::CpuNeighbour => "cpu_neighbour",
            Bottleneck::Cpu => "cpu",
            Bottleneck::Storage => "storage",
            Bottleneck::Workers => "workers",
            Bottleneck::None => "none",
        }
    }

    /// Whether more replicas would help: `Some(true)`, `Some(false)`, or
    /// `None` when there is nothing to fix.
    pub fn replicas_help(self) -> Option<bool> {
        match self {
            Bottleneck::Cpu | Bottleneck::AcceptQueue | Bottleneck::Workers => Some(true),
            Bottleneck::CpuNeighbour
            | Bottleneck::Storage
            | Bottleneck::Memory
            | Bottleneck::Dependency => Some(false),
            Bottleneck::None => None,
        }
    }

    /// What to do about it, in a sentence.
    pub fn advice(self) -> &'static str {
        match self {
            Bottleneck::Cpu => "short of CPU for its own threads: more replicas or more CPU help",
            Bottleneck::CpuNeighbour => {
                "waits for CPUs other containers or the host hold: move or isolate it; more \
                 replicas on this node do not help"
            }
            Bottleneck::AcceptQueue => {
                "connections arrive faster than it accepts them: more replicas (or more \
                 accepting threads) help"
            }
            Bottleneck::Dependency => {
                "waits on a slow or failing dependency: fix the dependency; more replicas add \
                 load and retries to it"
            }
            Bottleneck::Storage => {
                "waits on slow storage: more replicas add load to the same disk; fix or move \
                 the storage"
            }
            Bottleneck::Memory => {
                "stalls on memory or is OOM-killed: raise its memory limit; more replicas help \
                 only if each needs less memory with less load"
            }
            Bottleneck::Workers => {
                "its requests wait for a free worker while nothing else holds the workers: more \
                 replicas (or more workers) help"
            }
            Bottleneck::None => "no pressure over its threshold",
        }
    }
}

impl fmt::Display for Bottleneck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The thresholds of the rule (flags of `run` and `rules`).
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Time waited for a CPU / window, summed over threads.
    pub cpu_wait_share: f64,
    /// Share of the time its threads waited behind someone that was its own
    /// doing (behind its own threads, or throttled at its quota) from which
    /// CPU pressure is `cpu` (else `cpu_neighbour`).
    pub cpu_own_share: f64,
    /// Accept-queue fill (depth / limit).
    pub accept_fill: f64,
    /// p95 seconds of `sync` or `file_io` syscalls.
    pub storage_p95: f64,
    /// p95 seconds a remote endpoint takes to answer.
    pub dependency_p95: f64,
    /// Time stalled on memory / window.
    pub memory_stall_share: f64,
    /// p95 seconds a request waits for a worker to read it.
    pub queue_p95: f64,
    /// Fewest observations for a pressure to count.
    pub min_events: u64,
    /// Remote endpoints whose response times dependency pressure leaves out
    /// (long polls by design).
    pub dependency_ignore: Vec<ignore::Ignored>,
    /// The syscall classes storage pressure is judged on: [`STORAGE_CLASSES`],
    /// or `sync` alone where reads and writes are not classed by what their
    /// fd is (then `file_io` holds socket and pipe waits too: a service
    /// waiting on the network is no storage pressure).
    pub storage_classes: &'static [SyscallClass],
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            cpu_wait_share: 0.1,
            cpu_own_share: 0.3,
            accept_fill: 0.8,
            storage_p95: 0.05,
            dependency_p95: 0.1,
            memory_stall_share: 0.05,
            queue_p95: 0.05,
            min_events: 10,
            dependency_ignore: Vec::new(),
            storage_classes: &STORAGE_CLASSES,
        }
    }
}

/// The syscall classes storage pressure is judged on, in the order a tie
/// is broken.
pub const STORAGE_CLASSES: [SyscallClass; 2] = [SyscallClass::Sync, SyscallClass::FileIo];

/// The storage classes where reads and writes are not classed by their fd.
pub const SYNC_ONLY: [SyscallClass; 1] = [SyscallClass::Sync];

impl Thresholds {
    /// The numbers the verdict judges with, over `window`, by the name of
    /// their flag (without its dashes): what the agent exports, and what
    /// the rules check it against.
    pub fn named(&self, window: Duration) -> [(&'static str, f64); 9] {
        [
            ("window", window.as_secs_f64()),
            ("cpu_wait_share", self.cpu_wait_share),
            ("cpu_own_share", self.cpu_own_share),
            ("accept_fill", self.accept_fill),
            ("storage_p95", self.storage_p95),
            ("dependency_p95", self.dependency_p95),
            ("memory_stall_share", self.memory_stall_share),
            ("queue_p95", self.queue_p95),
            ("min_events", self.min_events as f64),
        ]
    }

    /// Where the kernel is to count slow observations: the storage
    /// threshold for the storage classes, the dependency threshold for
    /// answers.
    pub fn slow_bounds(&self) -> SlowBounds {
        let mut bounds = SlowBounds {
            dependency: Some(self.dependency_p95),
            queue: Some(self.queue_p95),
            ..SlowBounds::default()
        };
        for class in STORAGE_CLASSES {
            bounds.syscall[class as usize] = Some(self.storage_p95);
        }
        bounds
    }
}

/// One pressure over its threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Which.
    pub bottleneck: Bottleneck,
    /// How many times over its threshold.
    pub score: f64,
    /// The port, remote endpoint or syscall class it is about, where there
    /// is one.
    pub detail: String,
}

/// A container's verdict.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// The worst pressure (or `None`).
    pub bottleneck: Bottleneck,
    /// Its detail (a port, a remote endpoint, a syscall class), or empty.
    pub detail: String,
    /// Every pressure over its threshold, worst first (the symptom,
    /// `workers`, after every cause).
    pub findings: Vec<Finding>,
    /// What it was judged on.
    pub evidence: Evidence,
}

/// Judges one container's evidence.
pub fn judge(evidence: Evidence, thresholds: &Thresholds) -> Diagnosis {
    let mut findings: Vec<Finding> = signals::ALL
        .iter()
        .flat_map(|signal| (signal.judge)(&evidence, thresholds))
        .collect();
    // Causes first, then the symptom; worst first; a tie goes to the
    // first in the tie order.
    findings.sort_by(|a, b| {
        a.bottleneck
            .is_symptom()
            .cmp(&b.bottleneck.is_symptom())
            .then_with(|| b.score.total_cmp(&a.score))
            .then_with(|| a.bottleneck.tie_rank().cmp(&b.bottleneck.tie_rank()))
    });
    let (bottleneck, detail) = findings
        .first()
        .map_or((Bottleneck::None, String::new()), |f| {
            (f.bottleneck, f.detail.clone())
        });
    Diagnosis {
        bottleneck,
        detail,
        findings,
        evidence,
    }
}

/// A finding of `bottleneck` if `score` is over its threshold (1 or more).
pub fn over(bottleneck: Bottleneck, score: f64, detail: String) -> Option<Finding> {
    (score >= 1.0).then_some(Finding {
        bottleneck,
        score,
        detail,
    })
}

/// The share of observations a p95 allows above its threshold (1 − 0.95).
pub const SLOW_BUDGET: f64 = 0.05;

/// The quantile the latency thresholds are about.
pub const P95: f64 = 0.95;

/// Fewest observations for a p95 to count: `min_events`, and at least what
/// a p95 needs to be more than the largest observation.
pub fn p95_events(t: &Thresholds) -> u64 {
    t.min_events.max(observations_for(P95))
}

/// A latency pressure's score: its share of observations above the
/// threshold over the share a p95 allows (0 without enough of them).
pub fn slow_score(latency: &Latency, t: &Thresholds) -> f64 {
    if latency.count() < p95_events(t) {
        return 0.0;
    }
    latency.slow_share() / SLOW_BUDGET
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod agreement;

/// The judge of a signal that has no pressure of its own.
pub fn no_pressure(_: &Evidence, _: &Thresholds) -> Option<Finding> {
    None
}
