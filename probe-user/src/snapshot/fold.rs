//! Bounded cardinality: at most `--max-cgroups` cgroups get series of their
//! own; the signals of the rest are summed into series labelled
//! `cgroup="other"`. A cgroup keeps its own series for as long as it lives
//! (first come, first served), so series do not flap between scrapes.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use probe_common::histogram::Histogram;

use crate::{
    collect::maps::CgroupData,
    identity::Labels,
    signals,
    snapshot::{CgroupStats, PortStats, folded_reads::BetweenTurns},
};

/// Decides which cgroups have series of their own.
pub struct Folder {
    max: usize,
    tracked: HashSet<u64>,
    /// The cgroups folded into `other` at the last sample.
    folded: HashSet<u64>,
}

/// What folding made of a sample's cgroups and ports.
pub struct Folded {
    /// The cgroups with series of their own, and `other`.
    pub cgroups: Vec<CgroupStats>,
    /// Their ports, and `other`'s.
    pub ports: Vec<PortStats>,
    /// How many cgroups were folded into `other`.
    pub folded: usize,
    /// Cgroups with series of their own now that were folded at the last
    /// sample: their kernel counters hold their time in `other`.
    pub promoted: Vec<u64>,
}

impl Folder {
    /// At most `max` cgroups with series of their own.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            tracked: HashSet::new(),
            folded: HashSet::new(),
        }
    }

    /// Whether cgroup `id` was folded into `other` at the last sample.
    pub fn was_folded(&self, id: u64) -> bool {
        self.folded.contains(&id)
    }

    /// Folds everything beyond the bound into `other`. The folded cgroups
    /// `between` turns of reading stay folded (a free place goes to one
    /// at its next turn, when it is read whole).
    pub fn fold(
        &mut self,
        cgroups: Vec<CgroupStats>,
        between: BetweenTurns,
        ports: Vec<PortStats>,
    ) -> Folded {
        let present: HashSet<u64> = cgroups
            .iter()
            .map(|c| c.id)
            .chain(ports.iter().map(|p| p.cgroup_id))
            .chain(between.ids.iter().copied())
            .collect();
        self.tracked.retain(|id| present.contains(id));
        // Free places go to the new cgroups with the lowest ids.
        let mut new: Vec<u64> = present
            .iter()
            .filter(|id| !self.tracked.contains(id) && !between.ids.contains(id))
            .copied()
            .collect();
        new.sort_unstable();
        let room = self.max.saturating_sub(self.tracked.len());
        let promoted: Vec<u64> = new
            .iter()
            .take(room)
            .filter(|id| self.folded.contains(id))
            .copied()
            .collect();
        self.tracked.extend(new.into_iter().take(room));
        self.folded = present.difference(&self.tracked).copied().collect();
        let folded = self.folded.len();
        if folded == 0 {
            return Folded {
                cgroups,
                ports,
                folded,
                promoted,
            };
        }
        let other = Arc::new(Labels::other());
        let (mut kept, rest): (Vec<_>, Vec<_>) = cgroups
            .into_iter()
            .partition(|c| self.tracked.contains(&c.id));
        let between =
            (!between.ids.is_empty()).then(|| CgroupStats::of_state(0, Some(&other), between.sum));
        let mut parts = rest.into_iter().chain(between).peekable();
        if parts.peek().is_some() {
            // Summed into an empty `other`, one part as many: each signal
            // adds its own (no PSI: stall times do not add up across
            // cgroups; remotes into `other`).
            let empty = CgroupStats::of_state(0, Some(&other), CgroupData::default());
            kept.push(parts.fold(empty, merge));
        }
        let mut folded_ports: BTreeMap<(u32, u16), PortStats> = BTreeMap::new();
        let mut kept_ports = Vec::new();
        for port in ports {
            if self.tracked.contains(&port.cgroup_id) {
                kept_ports.push(port);
                continue;
            }
            let sum = folded_ports
                .entry((port.netns, port.port))
                .or_insert_with(|| PortStats {
                    cgroup_id: 0,
                    labels: other.clone(),
                    depth: 0,
                    limit: 0,
                    syn_queue: port.syn_queue.map(|_| 0),
                    overflows: 0,
                    syn_drops: port.syn_drops.map(|_| 0),
                    ..port.clone()
                });
            sum.depth += port.depth;
            sum.limit += port.limit;
            sum.syn_queue = sum.syn_queue.zip(port.syn_queue).map(|(a, b)| a + b);
            sum.overflows += port.overflows;
            if let (Some(sum), Some(drops)) = (&mut sum.syn_drops, port.syn_drops) {
                *sum += drops;
            }
        }
        kept_ports.extend(folded_ports.into_values());
        Folded {
            cgroups: kept,
            ports: kept_ports,
            folded,
            promoted,
        }
    }
}

/// The sum of two cgroups' signals: each signal adds its own.
fn merge(mut a: CgroupStats, mut b: CgroupStats) -> CgroupStats {
    for signal in signals::ALL {
        (signal.fold)(&mut a, &mut b);
    }
    a
}

/// `b` added into `a` by `combine`, or whichever of them is there.
pub fn sum<T>(a: Option<T>, b: Option<T>, combine: impl FnOnce(&mut T, &T)) -> Option<T> {
    match (a, b) {
        (Some(mut a), Some(b)) => {
            combine(&mut a, &b);
            Some(a)
        }
        (a, b) => a.or(b),
    }
}

/// Each of `from` added to `into`'s.
pub fn add(into: &mut [u64], from: &[u64]) {
    for (x, y) in into.iter_mut().zip(from) {
        *x += y;
    }
}

/// `from`'s observations added to `into`.
pub fn add_histogram(into: &mut Histogram, from: &Histogram) {
    add(&mut into.buckets, &from.buckets);
    into.sum_ns += from.sum_ns;
}

#[cfg(test)]
mod tests {
    use probe_common::tcp::TcpFill;

    use super::*;
    use crate::signals::psi::files::Psi;

    fn cgroup(id: u64, waits: u64) -> CgroupStats {
        let mut hist = Histogram::ZERO;
        hist.buckets[10] = waits;
        hist.sum_ns = waits * 100;
        CgroupStats {
            id,
            labels: Arc::new(Labels {
                cgroup: format!("/c{id}"),
                ..Labels::default()
            }),
            kernel: CgroupData {
                runq: Some(Box::new(hist)),
                waited_behind_ns: None,
                syscalls: None,
                memory: None,
                psi: Some(Psi([[id, 1], [0, 0], [2, 0]])),
            },
            tcp_fill: None::<TcpFill>,
            preemptions: Some([id, 0, 0, 1]),
            remotes: Vec::new(),
            request_ports: Vec::new(),
        }
    }

    #[test]
    fn beyond_the_bound_is_summed_into_other() {
        let mut folder = Folder::new(2);
        let Folded {
            cgroups: kept,
            folded,
            ..
        } = folder.fold(
            vec![cgroup(1, 1), cgroup(2, 2), cgroup(3, 3), cgroup(4, 4)],
            BetweenTurns::default(),
            vec![],
        );
        assert_eq!(folded, 2);
        let names: Vec<&str> = kept.iter().map(|c| c.labels.cgroup.as_str()).collect();
        assert_eq!(names, ["/c1", "/c2", "other"]);
        let other = kept.last().unwrap();
        assert_eq!(other.kernel.runq.as_ref().unwrap().buckets[10], 7);
        assert_eq!(other.preemptions, Some([7, 0, 0, 2]));
        assert_eq!(other.kernel.psi, None, "stall times do not add up");
    }

    /// One folded cgroup is summed like many: `other` has no PSI, and its
    /// remotes are `other` too.
    #[test]
    fn a_single_folded_cgroup_is_summed_like_many() {
        use crate::{
            signals::dependency::remotes::{Remote, RemoteSeries},
            test_support::remote_key,
        };

        let mut folded = cgroup(3, 3);
        folded.remotes = vec![RemoteSeries {
            key: Some(remote_key("10.0.0.9:5432")),
            stats: Box::new(crate::collect::zeroed()),
        }];
        let mut folder = Folder::new(2);
        let Folded { cgroups: kept, .. } = folder.fold(
            vec![cgroup(1, 1), cgroup(2, 2), folded],
            BetweenTurns::default(),
            vec![],
        );
        let other = kept.last().unwrap();
        assert_eq!(other.labels.cgroup, "other");
        assert_eq!(other.kernel.psi, None, "stall times do not add up");
        let remotes: Vec<Remote> = other.remotes.iter().map(|r| r.remote()).collect();
        assert_eq!(remotes, [Remote::Other]);
    }

    #[test]
    fn tracked_cgroups_keep_their_series_and_freed_slots_are_reused() {
        let mut folder = Folder::new(2);
        folder.fold(
            vec![cgroup(5, 1), cgroup(6, 1)],
            BetweenTurns::default(),
            vec![],
        );
        // A lower id arrives: it does not take a tracked cgroup's place.
        let next = folder.fold(
            vec![cgroup(1, 1), cgroup(5, 1), cgroup(6, 1)],
            BetweenTurns::default(),
            vec![],
        );
        let (kept, folded) = (next.cgroups, next.folded);
        assert_eq!((folded, next.promoted.len()), (1, 0));
        assert!(
            kept.iter().any(|c| c.labels.cgroup == "/c5")
                && kept.iter().any(|c| c.labels.cgroup == "/c6")
        );
        // 5 goes away: 1 gets its slot, promoted from `other`.
        let next = folder.fold(
            vec![cgroup(1, 1), cgroup(6, 1)],
            BetweenTurns::default(),
            vec![],
        );
        assert_eq!(next.folded, 0);
        assert_eq!(next.cgroups.len(), 2);
        assert_eq!(next.promoted, [1]);
    }
}
