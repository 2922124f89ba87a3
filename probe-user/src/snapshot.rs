//! Turns raw kernel counts into per-cgroup signals, and reclaims the kernel
//! entries of removed cgroups without letting any counter go backwards.

use std::collections::{BTreeMap, HashMap};

use probe_common::histogram::Histogram;

use crate::{
    cgroupfs::CgroupLookup,
    collect::{KernelMaps, RawSnapshot},
    identity::{Identity, is_host_cgroup},
};

/// Who ran instead of a preempted thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preemptor {
    /// A thread of the same cgroup.
    SameCgroup,
    /// A thread of another container.
    OtherContainer,
    /// A host thread: root cgroup, kernel threads, system services, user
    /// sessions, or a cgroup removed before it could be identified.
    Host,
}

impl Preemptor {
    /// Every class, in export order.
    pub const ALL: [Preemptor; 3] = [
        Preemptor::SameCgroup,
        Preemptor::OtherContainer,
        Preemptor::Host,
    ];

    /// The `by` label value.
    pub fn label(self) -> &'static str {
        match self {
            Preemptor::SameCgroup => "same_cgroup",
            Preemptor::OtherContainer => "other_container",
            Preemptor::Host => "host",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The signals of one cgroup.
#[derive(Debug, Clone)]
pub struct CgroupSignals {
    /// The `cgroup` label: path below the cgroup2 root, or `id:N` when unresolved.
    pub cgroup: String,
    /// Run-queue latency, when any wait was recorded.
    pub runq: Option<Histogram>,
    /// Preemptions by class, indexed like [`Preemptor::ALL`]; `None` when none was recorded.
    pub preemptions: Option<[u64; 3]>,
}

/// One scrape's worth of signals.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Per-cgroup signals, ordered by cgroup id.
    pub cgroups: Vec<CgroupSignals>,
    /// Lost and discarded events: (signal, reason, count).
    pub lost: Vec<(&'static str, &'static str, u64)>,
}

/// Builds snapshots; remembers the counts of pairs whose preemptor is gone.
#[derive(Default)]
pub struct SnapshotBuilder {
    retired: HashMap<u64, [u64; 3]>,
}

impl SnapshotBuilder {
    /// Resolves every cgroup in `raw`, drops removed ones from the kernel
    /// maps, and groups the rest per cgroup.
    pub fn build(
        &mut self,
        raw: RawSnapshot,
        maps: &mut KernelMaps,
        identity: &mut Identity,
    ) -> Snapshot {
        let mut lookups: HashMap<u64, CgroupLookup> = HashMap::new();
        let mut resolve = |id: u64, identity: &mut Identity| {
            lookups
                .entry(id)
                .or_insert_with(|| identity.lookup(id))
                .clone()
        };
        let mut per_cgroup: BTreeMap<u64, CgroupSignals> = BTreeMap::new();
        let mut gone = Vec::new();

        for (id, hist) in raw.runq {
            match resolve(id, identity) {
                CgroupLookup::Gone => {
                    maps.forget_cgroup(id);
                    gone.push(id);
                }
                lookup => entry(&mut per_cgroup, id, &lookup).runq = Some(hist),
            }
        }
        for (key, count) in raw.preemptions {
            let victim = resolve(key.victim, identity);
            if victim == CgroupLookup::Gone {
                maps.forget_pair(&key);
                gone.push(key.victim);
                continue;
            }
            let by = resolve(key.by, identity);
            let class = classify(key.victim, key.by, &by, identity);
            if by == CgroupLookup::Gone {
                // Keep the count, drop the kernel entry: the preemptor has no tasks left.
                self.retired.entry(key.victim).or_default()[class.index()] += count;
                maps.forget_pair(&key);
                gone.push(key.by);
            }
            entry(&mut per_cgroup, key.victim, &victim)
                .preemptions
                .get_or_insert([0; 3])[class.index()] += count;
        }
        let retired: Vec<_> = self
            .retired
            .iter()
            .map(|(id, counts)| (*id, *counts))
            .collect();
        for (id, counts) in retired {
            let lookup = resolve(id, identity);
            if lookup == CgroupLookup::Gone {
                self.retired.remove(&id);
                gone.push(id);
                continue;
            }
            let total = entry(&mut per_cgroup, id, &lookup)
                .preemptions
                .get_or_insert([0; 3]);
            for (sum, retired) in total.iter_mut().zip(counts) {
                *sum += retired;
            }
        }
        for id in gone {
            identity.forget(id);
        }
        Snapshot {
            cgroups: per_cgroup.into_values().collect(),
            lost: raw.lost,
        }
    }
}

fn entry<'a>(
    per_cgroup: &'a mut BTreeMap<u64, CgroupSignals>,
    id: u64,
    lookup: &CgroupLookup,
) -> &'a mut CgroupSignals {
    per_cgroup.entry(id).or_insert_with(|| CgroupSignals {
        cgroup: match lookup {
            CgroupLookup::Path(path) => path.clone(),
            _ => format!("id:{id}"),
        },
        runq: None,
        preemptions: None,
    })
}

fn classify(victim: u64, by: u64, lookup: &CgroupLookup, identity: &Identity) -> Preemptor {
    if victim == by {
        return Preemptor::SameCgroup;
    }
    let path = match lookup {
        CgroupLookup::Path(path) => Some(path.as_str()),
        _ => identity.last_known(by),
    };
    match path {
        Some(path) if !is_host_cgroup(path) => Preemptor::OtherContainer,
        _ => Preemptor::Host,
    }
}
