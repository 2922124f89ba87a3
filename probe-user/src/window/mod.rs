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

use probe_common::{
    runqueue::behind,
    syscall::{CLASSES, SyscallClass},
    tcp::{FILL_BUCKETS, FILL_STEPS},
};

use self::counters::{Counters, FILL_UNIT, Latency};
use crate::{
    identity::Labels,
    snapshot::{Preemptor, Snapshot, remotes::Remote},
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

/// What one container did over the window.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// Labels of its series.
    pub labels: Arc<Labels>,
    /// Seconds the evidence covers (less than the window while the agent is young).
    pub seconds: f64,
    /// Run-queue waits.
    pub runq: Latency,
    /// Preemptions by class.
    pub preemptions: [u64; Preemptor::COUNT],
    /// Seconds its threads waited for a CPU, by what the CPU did meanwhile
    /// (`runqueue::behind`: its own threads, throttled, other cgroups, idle).
    pub waited_behind: [f64; behind::COUNT],
    /// Syscalls by class: durations (slow: above the class's threshold)
    /// and errors.
    pub syscalls: Vec<(SyscallClass, Latency, u64)>,
    /// Accept-queue fill observations: per fill bucket (twentieths).
    pub fill: [u64; FILL_BUCKETS],
    /// Mean fill of the queued connections.
    pub fill_mean: f64,
    /// Per listening port: (port, connections dropped, fill now).
    pub ports: Vec<(u16, u64, f64)>,
    /// Reclaim stalls.
    pub reclaim: Latency,
    /// OOM kills.
    pub oom_kills: u64,
    /// PSI stall seconds over the window: `[resource][some, full]`.
    pub psi: Option<[[f64; 2]; 3]>,
    /// Its remote endpoints: what each did over the window.
    pub remotes: Vec<RemoteEvidence>,
}

/// What one remote endpoint of a container did over the window.
#[derive(Debug, Clone)]
pub struct RemoteEvidence {
    /// Which.
    pub remote: Remote,
    /// Response times (slow: above the dependency threshold).
    pub response: Latency,
    /// Connect times.
    pub connect: Latency,
    /// Failed connects (abandoned ones are none).
    pub failures: u64,
    /// Retransmitted segments.
    pub retransmits: u64,
    /// Connections established now.
    pub connections: i64,
}

impl Evidence {
    /// The share of the window the container's threads spent waiting for a
    /// CPU, summed over its threads (above 1 when several wait at once).
    pub fn wait_share(&self) -> f64 {
        self.runq.sum_seconds() / self.seconds.max(f64::EPSILON)
    }

    /// The share of the time its threads waited behind someone that was
    /// its own doing (behind its own threads, or throttled at its CPU
    /// quota) rather than other cgroups'; `None` when it waited behind
    /// nobody. Waits on an idle CPU (the time to switch in) count for
    /// neither.
    pub fn own_wait_share(&self) -> Option<f64> {
        let [same, throttled, other, _idle] = self.waited_behind;
        let all = same + throttled + other;
        (all > 0.0).then(|| (same + throttled) / all)
    }

    /// The share of the window its threads stalled in reclaim.
    pub fn reclaim_share(&self) -> f64 {
        self.reclaim.sum_seconds() / self.seconds.max(f64::EPSILON)
    }

    /// Quantile `q` of the accept-queue fill at each queued connection.
    pub fn fill_quantile(&self, q: f64) -> f64 {
        let count: u64 = self.fill.iter().sum();
        if count == 0 {
            return 0.0;
        }
        let rank = (q * count as f64).ceil() as u64;
        let mut below = 0;
        for (bucket, &n) in self.fill.iter().enumerate() {
            below += n;
            if below >= rank.max(1) {
                // Bucket i holds fills up to i/20; the last, above 1.
                return (bucket as f64 / f64::from(FILL_STEPS)).min(1.05);
            }
        }
        1.05
    }
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
                            psi: counters.psi,
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
    let latency = |now: &Option<Latency>, then: &Option<Latency>| match (now, then) {
        (Some(now), Some(then)) => now.since(then),
        (Some(now), None) => now.clone(),
        _ => Latency::default(),
    };
    let mut waited_behind = [0.0; behind::COUNT];
    for (out, (n, t)) in waited_behind
        .iter_mut()
        .zip(now.waited_behind_ns.iter().zip(then.waited_behind_ns))
    {
        *out = n.saturating_sub(t) as f64 / 1e9;
    }
    let mut preemptions = [0; Preemptor::COUNT];
    for (out, (n, t)) in preemptions
        .iter_mut()
        .zip(now.preemptions.iter().zip(then.preemptions))
    {
        *out = n.saturating_sub(t);
    }
    let syscalls = (0..CLASSES)
        .filter_map(|class| {
            let (hist, errors) = now.syscalls[class].as_ref()?;
            let (before, errors_before) = then.syscalls[class].clone().unwrap_or_default();
            let delta = hist.since(&before);
            (delta.count() > 0).then(|| {
                (
                    SyscallClass::ALL[class],
                    delta,
                    errors.saturating_sub(errors_before),
                )
            })
        })
        .collect();
    let mut fill = [0; FILL_BUCKETS];
    let mut fill_sum = 0;
    if let Some((buckets, sum)) = now.fill {
        let (before, sum_before) = then.fill.unwrap_or(([0; FILL_BUCKETS], 0));
        for (out, (n, t)) in fill.iter_mut().zip(buckets.iter().zip(before)) {
            *out = n.saturating_sub(t);
        }
        fill_sum = sum.saturating_sub(sum_before);
    }
    let fill_count: u64 = fill.iter().sum();
    let ports = now
        .ports
        .iter()
        .map(|p| {
            let before = then
                .ports
                .iter()
                .find(|b| b.port == p.port)
                .map_or(0, |b| b.overflows);
            (p.port, p.overflows.saturating_sub(before), p.fill)
        })
        .collect();
    let psi = now.psi.map(|psi| {
        let before = then.psi.unwrap_or_default();
        let mut shares = [[0.0; 2]; 3];
        for (r, row) in shares.iter_mut().enumerate() {
            for (k, share) in row.iter_mut().enumerate() {
                *share = psi.0[r][k].saturating_sub(before.0[r][k]) as f64 / 1e6;
            }
        }
        shares
    });
    let remotes = now
        .remotes
        .iter()
        .map(|r| {
            let before = then.remotes.iter().find(|b| b.remote == r.remote);
            RemoteEvidence {
                remote: r.remote,
                response: before.map_or(r.response.clone(), |b| r.response.since(&b.response)),
                connect: before.map_or(r.connect.clone(), |b| r.connect.since(&b.connect)),
                failures: r.failures - before.map_or(0, |b| b.failures.min(r.failures)),
                retransmits: r.retransmits - before.map_or(0, |b| b.retransmits.min(r.retransmits)),
                connections: r.connections,
            }
        })
        .collect();
    Evidence {
        labels,
        seconds,
        remotes,
        runq: latency(&now.runq, &then.runq),
        preemptions,
        waited_behind,
        syscalls,
        fill,
        fill_mean: if fill_count == 0 {
            0.0
        } else {
            fill_sum as f64 / FILL_UNIT / fill_count as f64
        },
        ports,
        reclaim: latency(&now.reclaim, &then.reclaim),
        oom_kills: now.oom_kills.saturating_sub(then.oom_kills),
        psi,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{collect::psi::Psi, snapshot::CgroupStats};

    /// A cgroup with `psi_us` µs of memory `some` stall since it was made.
    fn cgroup(id: u64, psi_us: u64) -> CgroupStats {
        CgroupStats {
            id,
            labels: Arc::new(Labels {
                cgroup: format!("/c{id}"),
                ..Labels::default()
            }),
            runq: None,
            waited_behind_ns: None,
            syscalls: None,
            tcp_fill: None,
            preemptions: None,
            memory: None,
            psi: Some(Psi([[0, 0], [psi_us, 0], [0, 0]])),
            remotes: Vec::new(),
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
        (e.psi.unwrap()[1][0], e.seconds)
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
            memory: Some(Box::new(probe_common::memory::CgroupMemory {
                reclaim: probe_common::histogram::Histogram::ZERO,
                oom_kills: 1,
                registered: 1,
            })),
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
                .oom_kills
        };
        assert_eq!((kills("/c2"), kills("/c3")), (1, 0));
    }
}
