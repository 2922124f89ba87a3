//! Turns raw kernel counts into per-cgroup signals, and reclaims the kernel
//! entries of removed cgroups without letting any counter go backwards.

mod fold;

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use anyhow::Result;
use probe_common::{
    histogram::Histogram,
    syscall::CgroupSyscalls,
    tcp::{ListenerRecord, TcpFill},
};

use crate::{
    collect::{
        listeners::ListenerId,
        maps::{CgroupData, KernelMaps, RawSnapshot},
    },
    identity::{Identity, Labels, cgroupfs::CgroupLookup, is_host_cgroup},
    snapshot::fold::Folder,
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

    /// Its index in [`CgroupSignals::preemptions`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The signals of one cgroup.
#[derive(Debug, Clone)]
pub struct CgroupSignals {
    /// Cgroup id.
    pub id: u64,
    /// Labels of its series.
    pub labels: Arc<Labels>,
    /// Run-queue latency, when any wait was recorded.
    pub runq: Option<Histogram>,
    /// Syscall latency and errors by class, when any syscall was recorded.
    pub syscalls: Option<Box<CgroupSyscalls>>,
    /// Accept-queue fill of its listeners, when a connection was queued.
    pub tcp_fill: Option<TcpFill>,
    /// Preemptions by class, indexed like [`Preemptor::ALL`]; `None` when none was recorded.
    pub preemptions: Option<[u64; 3]>,
}

/// The listening sockets of one port of one cgroup in one network
/// namespace (IPv4, IPv6 and `SO_REUSEPORT` sockets of a port add up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSignals {
    /// Id of the sockets' cgroup.
    pub cgroup_id: u64,
    /// Labels of the sockets' cgroup.
    pub labels: Arc<Labels>,
    /// Inode number of the network namespace.
    pub netns: u32,
    /// Local port.
    pub port: u16,
    /// Connections waiting to be accepted.
    pub depth: u64,
    /// Accept queue limit (listen backlog).
    pub limit: u64,
    /// Connections dropped because the accept queue was full.
    pub overflows: u64,
}

/// The listeners of one scrape and their overflow counts.
pub struct TcpInput {
    /// Every listening socket.
    pub listeners: BTreeMap<ListenerId, ListenerRecord>,
    /// Overflows per listening socket.
    pub overflows: BTreeMap<ListenerId, u64>,
}

/// One scrape's worth of signals.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Per-cgroup signals, ordered by cgroup id.
    pub cgroups: Vec<CgroupSignals>,
    /// Listening ports, ordered by cgroup, namespace and port.
    pub ports: Vec<PortSignals>,
    /// Lost and discarded events: (signal, reason, count).
    pub lost: Vec<(&'static str, &'static str, u64)>,
    /// Cgroups summed into `cgroup="other"` (past `--max-cgroups`).
    pub folded: usize,
    /// Live cgroups exported as `cgroup="id:N"`: their path could not be read.
    pub unresolved: usize,
}

/// Builds snapshots; remembers the counts of pairs whose preemptor is gone.
pub struct SnapshotBuilder {
    retired: HashMap<u64, [u64; 3]>,
    folder: Folder,
}

/// What became of a cgroup id during one build.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Live(Arc<Labels>),
    Gone,
    Unknown,
}

impl SnapshotBuilder {
    /// A builder that gives at most `max_cgroups` cgroups series of their own.
    pub fn new(max_cgroups: usize) -> Self {
        Self {
            retired: HashMap::new(),
            folder: Folder::new(max_cgroups),
        }
    }

    /// Resolves every cgroup in `raw`, reads its histogram, drops removed
    /// cgroups from the kernel maps, and groups the rest per cgroup.
    pub fn build(
        &mut self,
        raw: RawSnapshot,
        tcp: Option<TcpInput>,
        maps: &mut KernelMaps,
        identity: &mut Identity,
    ) -> Result<Snapshot> {
        let mut statuses: HashMap<u64, Status> = HashMap::new();
        let mut per_cgroup: BTreeMap<u64, CgroupSignals> = BTreeMap::new();

        for id in raw.cgroups {
            let (status, data) = match identity.lookup(id) {
                CgroupLookup::Live(cgroup) => (
                    Status::Live(identity.labels(id, cgroup.path.as_deref())),
                    maps.cgroup_data(id, Some(&cgroup.dir))?,
                ),
                CgroupLookup::Gone => {
                    maps.forget_cgroup(id);
                    (Status::Gone, CgroupData::default())
                }
                // Hash-map state can still be read by id.
                CgroupLookup::Unknown => (Status::Unknown, maps.cgroup_data(id, None)?),
            };
            if data.runq.is_some() || data.syscalls.is_some() {
                let signals = entry(&mut per_cgroup, id, status.labels());
                signals.runq = data.runq;
                signals.syscalls = data.syscalls;
            }
            statuses.insert(id, status);
        }
        let mut resolve = |id: u64, identity: &mut Identity| {
            statuses
                .entry(id)
                .or_insert_with(|| match identity.lookup(id) {
                    CgroupLookup::Live(cgroup) => {
                        Status::Live(identity.labels(id, cgroup.path.as_deref()))
                    }
                    CgroupLookup::Gone => Status::Gone,
                    CgroupLookup::Unknown => Status::Unknown,
                })
                .clone()
        };
        for (key, count) in raw.preemptions {
            let victim = resolve(key.victim, identity);
            if victim == Status::Gone {
                maps.forget_pair(&key);
                continue;
            }
            let by = resolve(key.by, identity);
            let class = classify(key.victim, key.by, &by, identity);
            if by == Status::Gone {
                // Keep the count, drop the kernel entry: the preemptor has no tasks left.
                self.retired.entry(key.victim).or_default()[class.index()] += count;
                maps.forget_pair(&key);
            }
            entry(&mut per_cgroup, key.victim, victim.labels())
                .preemptions
                .get_or_insert([0; 3])[class.index()] += count;
        }
        for (id, fill) in raw.tcp_fill {
            match resolve(id, identity) {
                Status::Gone => {
                    maps.forget_tcp_fill(id);
                }
                status => entry(&mut per_cgroup, id, status.labels()).tcp_fill = Some(fill),
            }
        }
        let mut ports: BTreeMap<(u64, u32, u16), PortSignals> = BTreeMap::new();
        if let Some(tcp) = &tcp {
            for (id, record) in &tcp.listeners {
                let status = resolve(record.cgroup, identity);
                let labels = status
                    .labels()
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Labels::unresolved(record.cgroup)));
                let port = ports
                    .entry((record.cgroup, record.netns, record.port))
                    .or_insert(PortSignals {
                        cgroup_id: record.cgroup,
                        labels,
                        netns: record.netns,
                        port: record.port,
                        depth: 0,
                        limit: 0,
                        overflows: 0,
                    });
                port.depth += u64::from(record.depth);
                port.limit += u64::from(record.limit);
                port.overflows += tcp.overflows.get(id).copied().unwrap_or(0);
            }
        }
        self.retired.retain(|&id, counts| {
            let status = resolve(id, identity);
            if status == Status::Gone {
                return false;
            }
            let total = entry(&mut per_cgroup, id, status.labels())
                .preemptions
                .get_or_insert([0; 3]);
            for (sum, retired) in total.iter_mut().zip(*counts) {
                *sum += retired;
            }
            true
        });
        // Every id looked at this scrape is in `statuses`.
        for (id, _) in statuses.iter().filter(|(_, s)| **s == Status::Gone) {
            identity.forget(*id);
        }
        let unresolved = statuses
            .iter()
            .filter(|(id, status)| match status {
                Status::Live(labels) => labels.cgroup == Labels::unresolved(**id).cgroup,
                Status::Unknown => true,
                Status::Gone => false,
            })
            .count();
        let (cgroups, ports, folded) = self.folder.fold(
            per_cgroup.into_values().collect(),
            ports.into_values().collect(),
        );
        Ok(Snapshot {
            cgroups,
            ports,
            lost: raw.lost,
            folded,
            unresolved,
        })
    }
}

impl Status {
    fn labels(&self) -> Option<&Arc<Labels>> {
        match self {
            Status::Live(labels) => Some(labels),
            _ => None,
        }
    }
}

fn entry<'a>(
    per_cgroup: &'a mut BTreeMap<u64, CgroupSignals>,
    id: u64,
    labels: Option<&Arc<Labels>>,
) -> &'a mut CgroupSignals {
    per_cgroup.entry(id).or_insert_with(|| CgroupSignals {
        id,
        labels: labels
            .cloned()
            .unwrap_or_else(|| Arc::new(Labels::unresolved(id))),
        runq: None,
        syscalls: None,
        tcp_fill: None,
        preemptions: None,
    })
}

fn classify(victim: u64, by: u64, status: &Status, identity: &Identity) -> Preemptor {
    if victim == by {
        return Preemptor::SameCgroup;
    }
    match status
        .labels()
        .map(Arc::as_ref)
        .or_else(|| identity.last_known(by))
    {
        Some(labels) if !is_host_cgroup(labels) => Preemptor::OtherContainer,
        _ => Preemptor::Host,
    }
}
