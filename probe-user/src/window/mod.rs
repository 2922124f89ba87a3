//! The recent past: what each container did over the last `--window`
//! seconds, as the verdict and the API need it.
//!
//! The window keeps each container's cumulative counters at a dozen
//! checkpoints spread over the window (compact: a few hundred bytes per
//! container each), and the evidence over the window is the latest sample
//! less the oldest checkpoint inside it; shares are of the window's seconds
//! (`Evidence::seconds`, less while the agent is young), for every
//! container. A container that checkpoint does not hold (new since, or the
//! agent just started) counts from its first sample: what the kernel
//! counted of it before then is not its window where it
//! predates the previous sample. So its PSI totals (kept since the cgroup
//! was made) and, for a cgroup promoted from `cgroup="other"`, all its
//! counters (kept while it was folded) count from that first sample. The
//! probe's other counters of a new container all count: its kernel entries
//! were made by its first event, after the previous sample (or after the
//! programs were attached), an OOM kill or a burst of waits just before it
//! was first seen included.

pub mod counters;

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    identity::Labels,
    signals::{dependency, memory, psi, requests, runqueue, syscall, tcp},
    snapshot::{CgroupStats, PortStats, Snapshot},
};

/// Checkpoints per window.
const CHECKPOINTS: u32 = 12;

/// Recent counters of every container.
pub struct Window {
    span: Duration,
    checkpoints: VecDeque<(Instant, HashMap<u64, Counters>)>,
    /// When the first sample was taken.
    started: Option<Instant>,
    /// The base of each container the oldest checkpoint lacks: its first
    /// sample's counters that predate the window (see the module's docs).
    first_seen: HashMap<u64, Counters>,
}

/// A container's cumulative counters at one sample: each signal's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Waits for a CPU.
    pub runqueue: runqueue::window::Counters,
    /// Syscalls.
    pub syscall: syscall::window::Counters,
    /// Listeners.
    pub tcp: tcp::window::Counters,
    /// Reclaim stalls and OOM kills.
    pub memory: memory::window::Counters,
    /// Remote endpoints.
    pub dependency: dependency::window::Counters,
    /// Listening ports' requests.
    pub requests: requests::window::Counters,
    /// PSI totals.
    pub psi: psi::window::Counters,
}

impl Counters {
    /// A container's counters from its statistics and listening ports.
    pub fn of(stats: &CgroupStats, ports: &[&PortStats]) -> Counters {
        Counters {
            runqueue: runqueue::window::Counters::of(stats),
            syscall: syscall::window::Counters::of(stats),
            tcp: tcp::window::Counters::of(stats, ports),
            memory: memory::window::Counters::of(stats),
            dependency: dependency::window::Counters::of(stats),
            requests: requests::window::Counters::of(stats),
            psi: psi::window::Counters::of(stats),
        }
    }
}

/// What one container did over the window: each signal's evidence.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// Labels of its series.
    pub labels: Arc<Labels>,
    /// Seconds the evidence covers (less than the window while the agent is young).
    pub seconds: f64,
    /// Waits for a CPU.
    pub runqueue: runqueue::window::Evidence,
    /// Syscalls.
    pub syscall: syscall::window::Evidence,
    /// Accept queues.
    pub tcp: tcp::window::Evidence,
    /// Reclaim stalls and OOM kills.
    pub memory: memory::window::Evidence,
    /// Remote endpoints.
    pub dependency: dependency::window::Evidence,
    /// Listening ports' requests.
    pub requests: requests::window::Evidence,
    /// PSI stalls.
    pub psi: psi::window::Evidence,
}

impl Window {
    /// A window of `span`.
    pub fn new(span: Duration) -> Window {
        Window {
            span,
            checkpoints: VecDeque::new(),
            started: None,
            first_seen: HashMap::new(),
        }
    }

    /// Its length.
    pub fn span(&self) -> Duration {
        self.span
    }

    /// Takes `snapshot` (taken `now`): the evidence of each container over
    /// the window, and keeps a checkpoint when one is due.
    pub fn observe(&mut self, snapshot: &Snapshot, now: Instant) -> Vec<Evidence> {
        let mut ports: HashMap<u64, Vec<&crate::snapshot::PortStats>> = HashMap::new();
        for port in &snapshot.ports {
            ports.entry(port.cgroup_id).or_default().push(port);
        }
        let latest: HashMap<u64, Counters> = snapshot
            .cgroups
            .iter()
            .filter(|c| c.id != 0)
            .map(|c| {
                let own = ports.get(&c.id).map_or(&[][..], Vec::as_slice);
                (c.id, Counters::of(c, own))
            })
            .collect();
        // The base: the oldest checkpoint still inside the window.
        while self
            .checkpoints
            .get(1)
            .is_some_and(|(at, _)| now.duration_since(*at) >= self.span)
        {
            self.checkpoints.pop_front();
        }
        let base = self.checkpoints.front();
        // Shares are of the window the base starts (the agent's first
        // sample while none is older), for every container, however young.
        let started = *self.started.get_or_insert(now);
        let seconds = now
            .duration_since(base.map_or(started, |(at, _)| *at))
            .as_secs_f64();
        // A container the base lacks counts from its first sample.
        let in_base = |id: &u64| base.is_some_and(|(_, counters)| counters.contains_key(id));
        self.first_seen
            .retain(|id, _| latest.contains_key(id) && !in_base(id));
        for (id, counters) in &latest {
            if !in_base(id) {
                self.first_seen.entry(*id).or_insert_with(|| {
                    if snapshot.promoted.contains(id) {
                        counters.clone()
                    } else {
                        Counters {
                            psi: counters.psi.clone(),
                            ..Counters::default()
                        }
                    }
                });
            }
        }
        let evidence = snapshot
            .cgroups
            .iter()
            .filter(|c| c.id != 0)
            .filter_map(|c| {
                let latest = latest.get(&c.id)?;
                let then = match base {
                    Some((_, counters)) if counters.contains_key(&c.id) => &counters[&c.id],
                    _ => &self.first_seen[&c.id],
                };
                Some(evidence(c.labels.clone(), seconds, latest, then))
            })
            .collect();
        let due = self
            .checkpoints
            .back()
            .is_none_or(|(at, _)| now.duration_since(*at) >= self.span / CHECKPOINTS);
        if due {
            self.checkpoints.push_back((now, latest));
        }
        evidence
    }
}

fn evidence(labels: Arc<Labels>, seconds: f64, now: &Counters, then: &Counters) -> Evidence {
    Evidence {
        labels,
        seconds,
        runqueue: runqueue::window::Evidence::between(&now.runqueue, &then.runqueue),
        syscall: syscall::window::Evidence::between(&now.syscall, &then.syscall),
        tcp: tcp::window::Evidence::between(&now.tcp, &then.tcp),
        memory: memory::window::Evidence::between(&now.memory, &then.memory),
        dependency: dependency::window::Evidence::between(&now.dependency, &then.dependency),
        requests: requests::window::Evidence::between(&now.requests, &then.requests),
        psi: psi::window::Evidence::between(&now.psi, &then.psi),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{collect::maps::CgroupData, signals::psi::files::Psi, snapshot::CgroupStats};

    /// A cgroup with `psi_us` µs of memory `some` stall since it was made.
    fn cgroup(id: u64, psi_us: u64) -> CgroupStats {
        CgroupStats {
            id,
            labels: Arc::new(Labels {
                cgroup: format!("/c{id}"),
                ..Labels::default()
            }),
            kernel: CgroupData {
                runq: None,
                waited_behind_ns: None,
                syscalls: None,
                memory: None,
                psi: Some(Psi([[0, 0], [psi_us, 0], [0, 0]])),
            },
            tcp_fill: None,
            preemptions: None,
            remotes: Vec::new(),
            request_ports: Vec::new(),
        }
    }

    fn snapshot(cgroups: Vec<CgroupStats>) -> Snapshot {
        Snapshot {
            cgroups,
            ..Snapshot::default()
        }
    }

    fn memory_some(evidence: &[Evidence], cgroup: &str) -> (f64, f64) {
        let e = evidence.iter().find(|e| e.labels.cgroup == cgroup).unwrap();
        (e.psi.stalls.unwrap()[1][0], e.seconds)
    }

    #[test]
    fn a_container_the_base_lacks_counts_from_its_first_sample() {
        let mut window = Window::new(Duration::from_secs(60));
        let t0 = Instant::now();
        // Both cgroups stalled for an hour before the agent started.
        let first = window.observe(&snapshot(vec![cgroup(1, 3_600_000_000)]), t0);
        assert_eq!(memory_some(&first, "/c1"), (0.0, 0.0));
        let t1 = t0 + Duration::from_secs(5);
        let second = window.observe(
            &snapshot(vec![cgroup(1, 3_601_000_000), cgroup(2, 7_200_000_000)]),
            t1,
        );
        assert_eq!(memory_some(&second, "/c1"), (1.0, 5.0));
        // Cgroup 2 appeared after the base: nothing of its past counts.
        assert_eq!(memory_some(&second, "/c2"), (0.0, 5.0));
        let t2 = t1 + Duration::from_secs(5);
        let third = window.observe(
            &snapshot(vec![cgroup(1, 3_602_000_000), cgroup(2, 7_200_500_000)]),
            t2,
        );
        assert_eq!(memory_some(&third, "/c1"), (2.0, 10.0));
        assert_eq!(memory_some(&third, "/c2"), (0.5, 10.0));
    }

    #[test]
    fn a_new_containers_first_events_count_a_promoted_ones_past_does_not() {
        let mut window = Window::new(Duration::from_secs(60));
        let t0 = Instant::now();
        window.observe(&snapshot(vec![cgroup(1, 0)]), t0);
        let killed = |id| CgroupStats {
            kernel: CgroupData {
                memory: Some(Box::new(probe_common::memory::CgroupMemory {
                    reclaim: probe_common::histogram::Histogram::ZERO,
                    oom_kills: 1,
                    registered: 1,
                })),
                ..CgroupData::default()
            },
            ..cgroup(id, 0)
        };
        // Cgroup 2 is new: its OOM kill happened since the last sample.
        // Cgroup 3 was folded into `other` and is promoted: its kill may be old.
        let mut next = snapshot(vec![cgroup(1, 0), killed(2), killed(3)]);
        next.promoted = vec![3];
        let e = window.observe(&next, t0 + Duration::from_secs(5));
        let kills = |cgroup: &str| {
            e.iter()
                .find(|e| e.labels.cgroup == cgroup)
                .unwrap()
                .memory
                .oom_kills
        };
        assert_eq!((kills("/c2"), kills("/c3")), (1, 0));
    }
}
