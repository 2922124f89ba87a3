//! The snapshot's phases on recorded kernel counts, with a fake identity
//! and fake kernel maps.

use std::collections::{BTreeMap, HashMap, HashSet};

use probe_common::{
    dependency::{reason, request},
    histogram::Histogram,
    tcp::{FILL_BUCKETS, ListenerRecord, SYN_QUEUE_UNKNOWN, TcpFill},
};

use super::*;
use crate::signals::tcp::overflows::SynDrops;

/// A sampling interval at which folded cgroups are read at every sample.
const READ_EVERY_SAMPLE: Duration = folded_reads::FOLDED_REFRESH;

/// What a fake cgroup id is.
#[derive(Clone)]
enum Fake {
    Live(&'static str),
    NoPath,
    Gone,
    Unknown,
}

#[derive(Default)]
struct FakeCgroups {
    ids: HashMap<u64, Fake>,
    last_known: HashMap<u64, Labels>,
    forgotten: Vec<u64>,
    /// The ids resolved as folded.
    resolved_folded: Vec<u64>,
}

impl FakeCgroups {
    fn with(ids: &[(u64, Fake)]) -> Self {
        Self {
            ids: ids.iter().cloned().collect(),
            ..Self::default()
        }
    }

    fn set(&mut self, id: u64, fake: Fake) {
        self.ids.insert(id, fake);
    }
}

fn labels_at(path: &str) -> Labels {
    Labels {
        cgroup: path.into(),
        ..Labels::default()
    }
}

impl Cgroups for FakeCgroups {
    fn begin_sample(&mut self) {}

    fn resolve_folded(&mut self, id: u64) -> Resolution {
        self.resolved_folded.push(id);
        self.resolve(id)
    }

    fn resolve(&mut self, id: u64) -> Resolution {
        match self.ids.get(&id).cloned().unwrap_or(Fake::Unknown) {
            Fake::Live(path) => {
                self.last_known.insert(id, labels_at(path));
                Resolution::Live {
                    labels: Arc::new(labels_at(path)),
                    dir: None,
                }
            }
            Fake::NoPath => Resolution::Live {
                labels: Arc::new(Labels::unresolved(id)),
                dir: None,
            },
            Fake::Gone => Resolution::Gone,
            Fake::Unknown => Resolution::Unknown,
        }
    }

    fn last_known(&self, id: u64) -> Option<&Labels> {
        self.last_known.get(&id)
    }

    fn forget(&mut self, id: u64) {
        self.forgotten.push(id);
        self.last_known.remove(&id);
    }
}

#[derive(Default)]
struct FakeKernel {
    /// Run-queue waits per cgroup (one bucket), or an unreadable state.
    waits: HashMap<u64, Result<u64, &'static str>>,
    forgotten_cgroups: Vec<u64>,
    forgotten_pairs: Vec<PreemptionKey>,
    forgotten_fills: Vec<u64>,
    forgotten_remotes: Vec<RemoteKey>,
    forgotten_ports: Vec<probe_common::requests::PortKey>,
    /// The cgroups whose PSI was asked for.
    psi_read: Vec<u64>,
}

/// `cgroups` cgroups of their own, 20 remotes and 8 ports each.
fn bounds(cgroups: usize) -> Bounds {
    Bounds {
        cgroups,
        remotes: 20,
        ports: 8,
    }
}

impl KernelState for FakeKernel {
    fn cgroup_data(&mut self, id: u64, _dir: Option<&OwnedFd>, psi: bool) -> Result<CgroupData> {
        self.psi_read.extend(psi.then_some(id));
        match self.waits.get(&id) {
            None => Ok(CgroupData::default()),
            Some(Err(why)) => Err(anyhow::anyhow!("{why}")),
            Some(Ok(waits)) => {
                let mut hist = Histogram::ZERO;
                hist.buckets[40] = *waits;
                Ok(CgroupData {
                    runq: Some(Box::new(hist)),
                    ..CgroupData::default()
                })
            }
        }
    }

    fn forget_cgroup(&mut self, id: u64) {
        self.forgotten_cgroups.push(id);
    }

    fn forget_pair(&mut self, key: &PreemptionKey) {
        self.forgotten_pairs.push(*key);
    }

    fn forget_tcp_fill(&mut self, id: u64) {
        self.forgotten_fills.push(id);
    }

    fn forget_remote(&mut self, key: &RemoteKey) {
        self.forgotten_remotes.push(*key);
    }

    fn forget_request_port(&mut self, key: &probe_common::requests::PortKey) {
        self.forgotten_ports.push(*key);
    }
}

fn pair(victim: u64, by: u64, count: u64) -> (PreemptionKey, u64) {
    (PreemptionKey { victim, by }, count)
}

fn raw(cgroups: &[u64], preemptions: &[(PreemptionKey, u64)]) -> RawSnapshot {
    RawSnapshot {
        cgroups: cgroups.to_vec(),
        preemptions: preemptions.to_vec(),
        ..RawSnapshot::default()
    }
}

fn stats_of(snapshot: &Snapshot, id: u64) -> &CgroupStats {
    snapshot
        .cgroups
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no statistics for cgroup {id}"))
}

#[test]
fn preemptors_are_classified() {
    // (preemptor, what it is) -> class, for a victim at /app (id 1).
    let table = [
        (1, Fake::Live("/app"), Preemptor::SameCgroup),
        (2, Fake::Live("/other-app"), Preemptor::OtherContainer),
        (3, Fake::Live("/"), Preemptor::Host),
        (4, Fake::Live("/system.slice/sshd.service"), Preemptor::Host),
        (5, Fake::Live("/init.scope"), Preemptor::Host),
        (6, Fake::Unknown, Preemptor::Host),
        (7, Fake::NoPath, Preemptor::OtherContainer),
        (8, Fake::Gone, Preemptor::Host),
        // The CPU went idle: the victim was throttled.
        (0, Fake::Gone, Preemptor::Throttled),
    ];
    for (by, fake, class) in table {
        let mut cgroups = FakeCgroups::with(&[(1, Fake::Live("/app")), (by, fake)]);
        let mut kernel = FakeKernel::default();
        let snapshot = SnapshotBuilder::new(bounds(10), READ_EVERY_SAMPLE).build(
            raw(&[], &[pair(1, by, 5)]),
            None,
            &mut kernel,
            &mut cgroups,
        );
        let mut expected = [0; Preemptor::COUNT];
        expected[class.index()] = 5;
        assert_eq!(
            stats_of(&snapshot, 1).preemptions,
            Some(expected),
            "preemptor {by}"
        );
    }
}

#[test]
fn a_removed_preemptor_is_retired_and_no_count_goes_back() {
    let mut builder = SnapshotBuilder::new(bounds(10), READ_EVERY_SAMPLE);
    let mut cgroups = FakeCgroups::with(&[(1, Fake::Live("/app")), (2, Fake::Live("/noisy"))]);
    let mut kernel = FakeKernel::default();
    let first = builder.build(raw(&[], &[pair(1, 2, 7)]), None, &mut kernel, &mut cgroups);
    assert_eq!(stats_of(&first, 1).preemptions, Some([0, 0, 7, 0]));

    // The preemptor goes: its count is kept, its kernel pair dropped, and it
    // is still a container (known from when it was live).
    cgroups.set(2, Fake::Gone);
    let second = builder.build(raw(&[], &[pair(1, 2, 9)]), None, &mut kernel, &mut cgroups);
    assert_eq!(stats_of(&second, 1).preemptions, Some([0, 0, 9, 0]));
    assert_eq!(kernel.forgotten_pairs, [PreemptionKey { victim: 1, by: 2 }]);
    assert!(cgroups.forgotten.contains(&2));

    // The kernel no longer has the pair: the count stays.
    let third = builder.build(raw(&[], &[pair(1, 1, 1)]), None, &mut kernel, &mut cgroups);
    assert_eq!(stats_of(&third, 1).preemptions, Some([1, 0, 9, 0]));

    // The victim goes: its retired counts go with it.
    cgroups.set(1, Fake::Gone);
    let fourth = builder.build(raw(&[1], &[pair(1, 1, 1)]), None, &mut kernel, &mut cgroups);
    assert!(fourth.cgroups.is_empty());
    assert!(builder.retired.is_empty());
}

#[test]
fn removed_cgroups_are_reclaimed() {
    let mut cgroups = FakeCgroups::with(&[(1, Fake::Live("/kept")), (2, Fake::Gone)]);
    let mut kernel = FakeKernel {
        waits: [(1, Ok(3)), (2, Ok(4))].into(),
        ..FakeKernel::default()
    };
    let mut input = raw(&[1, 2], &[pair(2, 1, 5)]);
    input.tcp_fill = vec![(
        2,
        TcpFill {
            buckets: [1; FILL_BUCKETS],
            sum_micro: 1,
        },
    )];
    let remote = |cgroup| RemoteKey {
        cgroup,
        addr: [10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        port: 5432,
        family: probe_common::tcp::AF_INET,
        pad: 0,
    };
    let no_events = probe_common::dependency::RemoteStats {
        response: Histogram::ZERO,
        slow_responses: 0,
        connect: Histogram::ZERO,
        failures: [0; reason::COUNT],
        retransmits: 0,
        established: 1,
        untimed: [0; request::COUNT],
    };
    input.remotes = vec![(remote(1), no_events), (remote(2), no_events)];
    let port = |cgroup| probe_common::requests::PortKey {
        cgroup,
        port: 8080,
        pad: [0; 3],
    };
    let serving = probe_common::requests::PortStats {
        connections: 1,
        ..probe_common::requests::PortStats::ZERO
    };
    input.request_ports = vec![(port(1), serving), (port(2), serving)];
    let snapshot = SnapshotBuilder::new(bounds(10), READ_EVERY_SAMPLE).build(
        input,
        None,
        &mut kernel,
        &mut cgroups,
    );
    assert_eq!(snapshot.cgroups.len(), 1);
    assert_eq!(
        stats_of(&snapshot, 1).kernel.runq.as_ref().unwrap().buckets[40],
        3
    );
    assert_eq!(stats_of(&snapshot, 1).remotes.len(), 1);
    assert_eq!(kernel.forgotten_remotes, [remote(2)]);
    assert_eq!(stats_of(&snapshot, 1).request_ports.len(), 1);
    assert_eq!(kernel.forgotten_ports, [port(2)]);
    assert_eq!(kernel.forgotten_cgroups, [2]);
    assert_eq!(kernel.forgotten_pairs, [PreemptionKey { victim: 2, by: 1 }]);
    assert_eq!(kernel.forgotten_fills, [2]);
    assert_eq!(cgroups.forgotten, [2]);
}

#[test]
fn an_unreadable_cgroup_does_not_fail_the_others() {
    let mut cgroups = FakeCgroups::with(&[(1, Fake::Live("/a")), (2, Fake::Live("/b"))]);
    let mut kernel = FakeKernel {
        waits: [(1, Err("EIO")), (2, Ok(6))].into(),
        ..FakeKernel::default()
    };
    let snapshot = SnapshotBuilder::new(bounds(10), READ_EVERY_SAMPLE).build(
        raw(&[1, 2], &[]),
        None,
        &mut kernel,
        &mut cgroups,
    );
    assert_eq!(snapshot.unreadable, 1);
    assert_eq!(
        stats_of(&snapshot, 2).kernel.runq.as_ref().unwrap().buckets[40],
        6
    );
    assert!(snapshot.cgroups.iter().all(|c| c.id != 1));
}

/// Past the bound, the cgroups folded at the last sample are read without
/// their PSI (`other` has none) and resolved as folded (their path is not
/// read again), and stay folded: none leaves `other` for lack of PSI.
#[test]
fn folded_cgroups_are_read_without_their_psi() {
    let mut cgroups = FakeCgroups::with(&[
        (1, Fake::Live("/a")),
        (2, Fake::Live("/b")),
        (3, Fake::Live("/c")),
    ]);
    let mut kernel = FakeKernel {
        waits: [(1, Ok(1)), (2, Ok(2)), (3, Ok(3))].into(),
        ..FakeKernel::default()
    };
    let mut builder = SnapshotBuilder::new(bounds(1), READ_EVERY_SAMPLE);
    let mut read = Vec::new();
    for _ in 0..3 {
        let snapshot = builder.build(raw(&[1, 2, 3], &[]), None, &mut kernel, &mut cgroups);
        assert_eq!(snapshot.folded, 2);
        assert!(
            snapshot
                .cgroups
                .iter()
                .all(|c| c.id != 0 || c.kernel.psi.is_none())
        );
        read.push(std::mem::take(&mut kernel.psi_read));
    }
    assert_eq!(read, [vec![1, 2, 3], vec![1], vec![1]]);
    assert_eq!(cgroups.resolved_folded, [2, 3, 2, 3]);
}

#[test]
fn folded_cgroups_are_read_in_turns() {
    let mut cgroups = FakeCgroups::with(&[
        (1, Fake::Live("/a")),
        (2, Fake::Live("/b")),
        (3, Fake::Live("/c")),
    ]);
    let mut kernel = FakeKernel::default();
    // Two samples a refresh period: each folded cgroup read every other sample.
    let mut builder = SnapshotBuilder::new(bounds(1), folded_reads::FOLDED_REFRESH / 2);
    let mut other = Vec::new();
    let mut forgotten = Vec::new();
    for sample in 1..=5u64 {
        kernel.waits = [(1, Ok(sample)), (2, Ok(10 * sample)), (3, Ok(100 * sample))].into();
        if sample == 4 {
            cgroups.set(3, Fake::Gone);
        }
        let snapshot = builder.build(raw(&[1, 2, 3], &[]), None, &mut kernel, &mut cgroups);
        let sum = snapshot.cgroups.iter().find(|c| c.id == 0).unwrap();
        other.push(sum.kernel.runq.as_ref().unwrap().buckets[40]);
        forgotten.push(kernel.forgotten_cgroups.len());
    }
    // Sample 1 reads every cgroup, sample 2 every cgroup it had folded;
    // then 3 (odd) and 2 (even) take turns, each counting with what it
    // last held between them. 3, removed before sample 4, is found gone
    // at its turn, sample 5.
    assert_eq!(cgroups.resolved_folded, [2, 3, 3, 2, 3]);
    assert_eq!(other, [110, 220, 20 + 300, 40 + 300, 40]);
    assert_eq!(forgotten, [0, 0, 0, 0, 1]);
}

#[test]
fn cgroups_without_a_path_are_exported_by_id() {
    let mut cgroups =
        FakeCgroups::with(&[(1, Fake::NoPath), (2, Fake::Unknown), (3, Fake::Live("/c"))]);
    let mut kernel = FakeKernel {
        // Hash-map state is read by id even when the cgroup cannot be opened.
        waits: [(1, Ok(1)), (2, Ok(2)), (3, Ok(3))].into(),
        ..FakeKernel::default()
    };
    let snapshot = SnapshotBuilder::new(bounds(10), READ_EVERY_SAMPLE).build(
        raw(&[1, 2, 3], &[]),
        None,
        &mut kernel,
        &mut cgroups,
    );
    assert_eq!(snapshot.unresolved, 2);
    let names: Vec<&str> = snapshot
        .cgroups
        .iter()
        .map(|c| c.labels.cgroup.as_str())
        .collect();
    assert_eq!(names, ["id:1", "id:2", "/c"]);
}

#[test]
fn listeners_add_up_per_port() {
    let listener = |inode, netns, port, depth, limit, syn_queue| ListenerRecord {
        inode,
        cgroup: 1,
        netns,
        port,
        depth,
        limit,
        syn_queue,
        ..ListenerRecord::default()
    };
    let records = [
        listener(10, 100, 80, 2, 8, 1),
        listener(11, 100, 80, 1, 8, 2), // IPv6 or SO_REUSEPORT: the same port
        listener(12, 200, 80, 5, 4, SYN_QUEUE_UNKNOWN), // another namespace
    ];
    let tcp = TcpInput {
        listeners: records.iter().map(|r| ((r.netns, r.inode), *r)).collect(),
        overflows: Overflows {
            listeners: BTreeMap::from([((100, 10), 3), ((100, 11), 4)]),
            // Closed listeners of port 80 in namespace 100 and of a port
            // with no listener left.
            retired: BTreeMap::from([((1, 100, 80), 6), ((1, 100, 81), 9)]),
            syn_drops: Some(SynDrops {
                listeners: BTreeMap::from([((100, 11), 2)]),
                retired: BTreeMap::from([((1, 100, 80), 1)]),
            }),
        },
    };
    let mut cgroups = FakeCgroups::with(&[(1, Fake::Live("/web"))]);
    let snapshot = SnapshotBuilder::new(bounds(10), READ_EVERY_SAMPLE).build(
        raw(&[], &[]),
        Some(tcp),
        &mut FakeKernel::default(),
        &mut cgroups,
    );
    let summary: Vec<(u32, u16, u64, u64, u64)> = snapshot
        .ports
        .iter()
        .map(|p| (p.netns, p.port, p.depth, p.limit, p.overflows))
        .collect();
    assert_eq!(summary, [(100, 80, 3, 16, 13), (200, 80, 5, 4, 0)]);
    let syn_drops: Vec<Option<u64>> = snapshot.ports.iter().map(|p| p.syn_drops).collect();
    assert_eq!(syn_drops, [Some(3), Some(0)]);
    // The SYN queues add up; one that could not be read (lockdown) makes
    // its port's unknown.
    let syn_queues: Vec<Option<u64>> = snapshot.ports.iter().map(|p| p.syn_queue).collect();
    assert_eq!(syn_queues, [Some(3), None]);
    let cgroups: HashSet<&str> = snapshot
        .ports
        .iter()
        .map(|p| p.labels.cgroup.as_str())
        .collect();
    assert_eq!(cgroups, HashSet::from(["/web"]));
}
