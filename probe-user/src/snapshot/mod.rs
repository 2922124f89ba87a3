//! Turns raw kernel counts into per-cgroup statistics, and reclaims the
//! kernel entries of removed cgroups without letting any counter go
//! backwards.
//!
//! One build runs in phases, each its own function over small interfaces
//! ([`Cgroups`] for identity, [`KernelState`] for the kernel maps), so that
//! each is tested on its own with fakes:
//! 1. `resolve`: what each cgroup id is now (live with labels, gone,
//!    unknown), once per id and build;
//! 2. per-cgroup state (histograms) of the listed cgroups; removed ones
//!    are forgotten in the kernel;
//! 3. the run queue's `preemptions`: who preempted whom, classified, with
//!    the counts of removed preemptors kept (retired) so that no counter
//!    goes back;
//! 4. accept-queue fill, and the listeners' `ports`;
//! 5. the dependencies' `remotes`: each container's remote endpoints, at
//!    most `--max-remotes` of them, and the requests' `request_ports`:
//!    each container's listening ports, at most `--max-ports` of them;
//! 6. `fold`: at most `--max-cgroups` cgroups get series of their own;
//!    the rest are read in turns (`folded_reads`).
//!
//! The phases of one signal are in its folder (`signals/<signal>/`).

pub mod fold;
mod folded_reads;
pub mod ranker;
pub mod resolve;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use std::os::fd::OwnedFd;

use anyhow::Result;
use probe_common::{
    dependency::{RemoteKey, RemoteStats},
    requests::{PortKey, PortStats as RequestPortStats},
    runqueue::PreemptionKey,
    syscall,
    tcp::{ListenerRecord, TcpFill},
};
use tracing::warn;

use self::{
    fold::Folder,
    folded_reads::FoldedReads,
    ranker::{Counts, Ranker, Series},
    resolve::Resolutions,
};
use crate::{
    collect::maps::{CgroupData, KernelMaps, RawSnapshot},
    identity::{Identity, Labels, cgroupfs::CgroupLookup},
    signals::{
        dependency::remotes::RemoteSeries,
        requests::ports::PortSeries,
        runqueue::preemptions::RetiredPreemptions,
        tcp::{listeners::ListenerId, overflows::Overflows, ports},
    },
};

/// Who ran instead of a preempted thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preemptor {
    /// A thread of the same cgroup.
    SameCgroup,
    /// Its cgroup's CPU quota (`cpu.max`): the thread was throttled.
    Throttled,
    /// A thread of another container.
    OtherContainer,
    /// A host thread: root cgroup, kernel threads, system services, user
    /// sessions, or a cgroup removed before it could be identified.
    Host,
}

impl Preemptor {
    /// How many classes.
    pub const COUNT: usize = 4;

    /// Every class, in export order.
    pub const ALL: [Preemptor; Preemptor::COUNT] = [
        Preemptor::SameCgroup,
        Preemptor::Throttled,
        Preemptor::OtherContainer,
        Preemptor::Host,
    ];

    /// The `by` label value.
    pub fn label(self) -> &'static str {
        match self {
            Preemptor::SameCgroup => "same_cgroup",
            Preemptor::Throttled => "throttled",
            Preemptor::OtherContainer => "other_container",
            Preemptor::Host => "host",
        }
    }

    /// Its index in [`CgroupStats::preemptions`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The statistics of one cgroup.
#[derive(Debug, Clone)]
pub struct CgroupStats {
    /// Cgroup id.
    pub id: u64,
    /// Labels of its series.
    pub labels: Arc<Labels>,
    /// What the kernel holds for it (each signal's per-cgroup state, and
    /// its PSI).
    pub kernel: CgroupData,
    /// Accept-queue fill of its listeners, when a connection was queued.
    pub tcp_fill: Option<TcpFill>,
    /// Preemptions by class, indexed like [`Preemptor::ALL`]; `None` when none was recorded.
    pub preemptions: Option<[u64; Preemptor::COUNT]>,
    /// The remote endpoints it connects to, busiest first (`other` last).
    pub remotes: Vec<RemoteSeries>,
    /// The listening ports its requests arrive on, busiest first (`other`
    /// last).
    pub request_ports: Vec<PortSeries>,
}

impl CgroupStats {
    /// Cgroup `id`, labelled `labels` (or `id:N`), with what its storages
    /// hold and nothing else yet.
    pub(super) fn of_state(id: u64, labels: Option<&Arc<Labels>>, data: CgroupData) -> CgroupStats {
        CgroupStats {
            id,
            labels: labels
                .cloned()
                .unwrap_or_else(|| Arc::new(Labels::unresolved(id))),
            kernel: data,
            tcp_fill: None,
            preemptions: None,
            remotes: Vec::new(),
            request_ports: Vec::new(),
        }
    }
}

/// The listening sockets of one port of one cgroup in one network
/// namespace (IPv4, IPv6 and `SO_REUSEPORT` sockets of a port add up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStats {
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
    /// Handshakes under way in the SYN queue, where programs may read it.
    pub syn_queue: Option<u64>,
    /// Connections dropped because the accept queue was full.
    pub overflows: u64,
    /// SYNs dropped because the SYN queue was full, where the kernel
    /// counts them at each listener.
    pub syn_drops: Option<u64>,
}

/// The listeners of one scrape and their overflow counts.
pub struct TcpInput {
    /// Every listening socket.
    pub listeners: BTreeMap<ListenerId, ListenerRecord>,
    /// Overflows per listening socket, and of closed ones per port.
    pub overflows: Overflows,
}

/// One scrape's worth of statistics.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Per-cgroup statistics, ordered by cgroup id.
    pub cgroups: Vec<CgroupStats>,
    /// Listening ports, ordered by cgroup, namespace and port.
    pub ports: Vec<PortStats>,
    /// Lost and discarded events: (signal, reason, count).
    pub lost: Vec<(&'static str, &'static str, u64)>,
    /// Cgroups summed into `cgroup="other"` (past `--max-cgroups`).
    pub folded: usize,
    /// Cgroups with series of their own that were in `other` at the last
    /// sample (their kernel counters hold their time there).
    pub promoted: Vec<u64>,
    /// Live cgroups exported as `cgroup="id:N"`: their path could not be read.
    pub unresolved: usize,
    /// Cgroups whose kernel state could not be read in this build.
    pub unreadable: usize,
    /// What the probe's programs cost so far (empty where the kernel keeps
    /// no statistics).
    pub programs: Vec<crate::collect::program_cost::ProgramCost>,
    /// Where the kernel counts slow observations.
    pub slow: SlowBounds,
}

/// The latency bounds (seconds) above which the kernel counts observations
/// as slow: the verdict's thresholds, handed to the programs at load. The
/// exported histograms have a bucket bound at each, with an exact count.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SlowBounds {
    /// Per syscall class (`None`: not counted).
    pub syscall: [Option<f64>; syscall::CLASSES],
    /// Of dependency response times.
    pub dependency: Option<f64>,
    /// Of request queue times.
    pub queue: Option<f64>,
}

impl SlowBounds {
    /// Per syscall class, the bound in whole nanoseconds (`u64::MAX`: none).
    pub fn syscall_ns(&self) -> [u64; syscall::CLASSES] {
        self.syscall.map(nanoseconds)
    }

    /// The dependency bound in whole nanoseconds (`u64::MAX`: none).
    pub fn dependency_ns(&self) -> u64 {
        nanoseconds(self.dependency)
    }

    /// The queue bound in whole nanoseconds (`u64::MAX`: none).
    pub fn queue_ns(&self) -> u64 {
        nanoseconds(self.queue)
    }
}

/// `seconds` in whole nanoseconds; `u64::MAX` for none.
fn nanoseconds(seconds: Option<f64>) -> u64 {
    seconds.map_or(u64::MAX, |s| (s * 1e9).round() as u64)
}

/// What a cgroup id refers to now.
#[derive(Debug)]
pub enum Resolution {
    /// A live cgroup, with the labels of its series and, when it could be
    /// opened, its directory (the key of cgroup local storage).
    Live {
        /// Labels (`cgroup="id:N"` when its path cannot be read).
        labels: Arc<Labels>,
        /// Its open directory.
        dir: Option<OwnedFd>,
    },
    /// Removed.
    Gone,
    /// Could not be resolved (not opened: no permission).
    Unknown,
}

/// Cgroup identity, as the snapshot needs it.
pub trait Cgroups {
    /// A sample begins: what holds for all of its lookups is read now.
    fn begin_sample(&mut self);
    /// What `id` is now.
    fn resolve(&mut self, id: u64) -> Resolution;
    /// What `id` is now, for a cgroup folded into `other`: its labels,
    /// which are not exported, may be those last computed (its path is not
    /// read again).
    fn resolve_folded(&mut self, id: u64) -> Resolution;
    /// The labels `id` had when it was last live.
    fn last_known(&self, id: u64) -> Option<&Labels>;
    /// Forgets a removed cgroup.
    fn forget(&mut self, id: u64);
}

/// The kernel's per-cgroup state, as the snapshot needs it.
pub trait KernelState {
    /// What the kernel holds for cgroup `id` (open as `dir`, if it could
    /// be); its PSI too if `psi`.
    fn cgroup_data(&mut self, id: u64, dir: Option<&OwnedFd>, psi: bool) -> Result<CgroupData>;
    /// Drops a removed cgroup's state and stops listing it.
    fn forget_cgroup(&mut self, id: u64);
    /// Drops one preemption pair.
    fn forget_pair(&mut self, key: &PreemptionKey);
    /// Drops a removed cgroup's accept-queue fill histogram.
    fn forget_tcp_fill(&mut self, id: u64);
    /// Drops one (cgroup, remote) entry.
    fn forget_remote(&mut self, key: &RemoteKey);
    /// Drops one (cgroup, listening port) entry of the request signal.
    fn forget_request_port(&mut self, key: &PortKey);
}

/// How many series of their own the snapshot gives.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Cgroups (`--max-cgroups`).
    pub cgroups: usize,
    /// Remote endpoints per container (`--max-remotes`).
    pub remotes: usize,
    /// Listening ports per container (`--max-ports`).
    pub ports: usize,
}

/// Builds snapshots; remembers what must outlive one build (retired
/// preemption counts, which cgroups have series of their own).
pub struct SnapshotBuilder {
    retired: RetiredPreemptions,
    folder: Folder,
    folded_reads: FoldedReads,
    ranker: Ranker<RemoteStats>,
    port_ranker: Ranker<RequestPortStats>,
}

impl SnapshotBuilder {
    /// A builder that gives at most `bounds.cgroups` cgroups series of
    /// their own, and each at most `bounds.remotes` remote endpoints and
    /// `bounds.ports` listening ports, for samples taken every `interval`
    /// (folded cgroups are read in turns over
    /// [`folded_reads::FOLDED_REFRESH`]).
    pub fn new(bounds: Bounds, interval: Duration) -> Self {
        Self {
            retired: RetiredPreemptions::default(),
            folder: Folder::new(bounds.cgroups),
            folded_reads: FoldedReads::new(interval),
            ranker: Ranker::new(bounds.remotes),
            port_ranker: Ranker::new(bounds.ports),
        }
    }

    /// Resolves every cgroup in `raw`, reads its state, drops removed
    /// cgroups from the kernel maps, and groups the rest per cgroup.
    pub fn build(
        &mut self,
        raw: RawSnapshot,
        tcp: Option<TcpInput>,
        kernel: &mut impl KernelState,
        cgroups: &mut impl Cgroups,
    ) -> Snapshot {
        cgroups.begin_sample();
        self.folded_reads.begin_sample();
        let mut resolutions = Resolutions::default();
        let mut stats = PerCgroup::default();
        let unreadable = read_cgroup_state(
            &raw.cgroups,
            &self.folder,
            &mut self.folded_reads,
            kernel,
            cgroups,
            &mut resolutions,
            &mut stats,
        );
        for (key, count) in raw.preemptions {
            if let Some((victim, class)) =
                self.retired
                    .attribute(key, count, kernel, cgroups, &mut resolutions)
            {
                stats
                    .entry(key.victim, victim.as_ref())
                    .preemptions
                    .get_or_insert([0; Preemptor::COUNT])[class.index()] += count;
            }
        }
        for (id, fill) in raw.tcp_fill {
            match resolutions.status(id, cgroups) {
                resolve::Status::Gone => kernel.forget_tcp_fill(id),
                status => stats.entry(id, status.labels()).tcp_fill = Some(fill),
            }
        }
        rank_entries(
            raw.remotes,
            &mut self.ranker,
            (&mut resolutions, &mut *cgroups, &mut stats),
            |key| kernel.forget_remote(key),
            |c| &mut c.remotes,
        );
        rank_entries(
            raw.request_ports,
            &mut self.port_ranker,
            (&mut resolutions, &mut *cgroups, &mut stats),
            |key| kernel.forget_request_port(key),
            |c| &mut c.request_ports,
        );
        let ports = tcp.map_or_else(Vec::new, |tcp| {
            ports::per_port(&tcp, cgroups, &mut resolutions)
        });
        self.retired.carry(&mut stats, cgroups, &mut resolutions);
        for id in resolutions.gone() {
            cgroups.forget(id);
        }
        let unresolved = resolutions.unresolved();
        let between = self.folded_reads.take_between();
        let folded = self.folder.fold(stats.into_values(), between, ports);
        let folder = &self.folder;
        self.folded_reads.retain(|id| folder.was_folded(id));
        Snapshot {
            cgroups: folded.cgroups,
            ports: folded.ports,
            lost: raw.lost,
            folded: folded.folded,
            promoted: folded.promoted,
            unresolved,
            unreadable,
            programs: Vec::new(),
            slow: SlowBounds::default(),
        }
    }
}

/// Phase 5, for one signal's keyed entries (the dependencies' remotes, the
/// requests' ports): those of removed cgroups, and those idle too long, are
/// dropped from the kernel (`forget`); the rest are ranked and handed to
/// their cgroup's statistics (`into`).
fn rank_entries<S: Counts>(
    entries: Vec<(S::Key, S)>,
    ranker: &mut Ranker<S>,
    (resolutions, cgroups, stats): (&mut Resolutions, &mut impl Cgroups, &mut PerCgroup),
    mut forget: impl FnMut(&S::Key),
    into: fn(&mut CgroupStats) -> &mut Vec<Series<S>>,
) {
    let mut live = Vec::with_capacity(entries.len());
    for (key, entry) in entries {
        match resolutions.status(S::cgroup(&key), cgroups) {
            resolve::Status::Gone => forget(&key),
            status => {
                stats.entry(S::cgroup(&key), status.labels());
                live.push((key, entry));
            }
        }
    }
    let (ranked, idle) = ranker.rank(live, std::time::Instant::now());
    for key in idle {
        forget(&key);
    }
    for (id, series) in ranked {
        if let Some(entry) = stats.0.get_mut(&id) {
            *into(entry) = series;
        }
    }
}

/// Per-cgroup statistics being built, by cgroup id.
#[derive(Default)]
pub struct PerCgroup(BTreeMap<u64, CgroupStats>);

impl PerCgroup {
    /// The statistics of `id`, made with `labels` (or `id:N`) if new.
    pub fn entry(&mut self, id: u64, labels: Option<&Arc<Labels>>) -> &mut CgroupStats {
        self.0
            .entry(id)
            .or_insert_with(|| CgroupStats::of_state(id, labels, CgroupData::default()))
    }

    /// Makes `id`'s statistics with what its storages hold (the first
    /// phase to write them).
    fn set_state(&mut self, id: u64, labels: Option<&Arc<Labels>>, data: CgroupData) {
        self.0.insert(id, CgroupStats::of_state(id, labels, data));
    }

    fn into_values(self) -> Vec<CgroupStats> {
        self.0.into_values().collect()
    }
}

/// Phase 2: the histograms of every listed cgroup; removed cgroups are
/// forgotten in the kernel. Of those `folder` says were folded into
/// `other` at the last sample, the PSI is not read (`other` has none:
/// stall times do not add up across cgroups, and reading thousands of
/// folded cgroups' pressure files took most of a sample), the labels are
/// those last computed, and only those whose turn it is are read
/// (`folded_reads`): the others count with what they last held. A cgroup
/// whose state cannot be read is left out of this build (logged); returns
/// how many were.
fn read_cgroup_state(
    ids: &[u64],
    folder: &Folder,
    folded_reads: &mut FoldedReads,
    kernel: &mut impl KernelState,
    cgroups: &mut impl Cgroups,
    resolutions: &mut Resolutions,
    stats: &mut PerCgroup,
) -> usize {
    let mut unreadable = 0;
    for &id in ids {
        let folded = folder.was_folded(id);
        if folded && let Some(status) = folded_reads.count_between_turns(id) {
            resolutions.record(id, status);
            continue;
        }
        let resolution = if folded {
            cgroups.resolve_folded(id)
        } else {
            cgroups.resolve(id)
        };
        let (labels, dir) = match resolution {
            Resolution::Live { labels, dir } => (Some(labels), dir),
            Resolution::Gone => {
                kernel.forget_cgroup(id);
                resolutions.record(id, resolve::Status::Gone);
                continue;
            }
            Resolution::Unknown => (None, None),
        };
        resolutions.record(id, labels.clone().into());
        // Hash-map state can be read by id even when the cgroup cannot be opened.
        match kernel.cgroup_data(id, dir.as_ref(), !folded) {
            // A folded cgroup stays listed whatever it holds (it was, with
            // its PSI): otherwise it would leave `other` and come back.
            Ok(data) if !data.is_empty() || folded => {
                if folded {
                    folded_reads.keep(id, labels.clone(), &data);
                }
                stats.set_state(id, labels.as_ref(), data);
            }
            Ok(_) => {}
            Err(err) => {
                unreadable += 1;
                warn!(
                    cgroup = id,
                    "cannot read this cgroup's kernel state: {err:#}"
                );
            }
        }
    }
    unreadable
}

/// The agent's identity stage, as the snapshot's [`Cgroups`].
impl Cgroups for Identity {
    fn begin_sample(&mut self) {
        self.refresh_root();
    }

    fn resolve(&mut self, id: u64) -> Resolution {
        match self.lookup(id) {
            CgroupLookup::Live(cgroup) => Resolution::Live {
                labels: self.labels(id, cgroup.path.as_deref()),
                dir: Some(cgroup.dir),
            },
            CgroupLookup::Gone => Resolution::Gone,
            CgroupLookup::Unknown => {
                // Warns once that it is exported by id.
                self.labels(id, None);
                Resolution::Unknown
            }
        }
    }

    fn resolve_folded(&mut self, id: u64) -> Resolution {
        let Some(labels) = self.cached_labels(id) else {
            return self.resolve(id);
        };
        match self.open(id) {
            Ok(dir) => Resolution::Live {
                labels,
                dir: Some(dir),
            },
            Err(CgroupLookup::Gone) => Resolution::Gone,
            Err(_) => Resolution::Unknown,
        }
    }

    fn last_known(&self, id: u64) -> Option<&Labels> {
        Identity::last_known(self, id)
    }

    fn forget(&mut self, id: u64) {
        Identity::forget(self, id);
    }
}

/// The kernel maps, as the snapshot's [`KernelState`].
impl KernelState for KernelMaps {
    fn cgroup_data(&mut self, id: u64, dir: Option<&OwnedFd>, psi: bool) -> Result<CgroupData> {
        KernelMaps::cgroup_data(self, id, dir, psi)
    }

    fn forget_cgroup(&mut self, id: u64) {
        KernelMaps::forget_cgroup(self, id);
    }

    fn forget_pair(&mut self, key: &PreemptionKey) {
        KernelMaps::forget_pair(self, key);
    }

    fn forget_tcp_fill(&mut self, id: u64) {
        KernelMaps::forget_tcp_fill(self, id);
    }

    fn forget_remote(&mut self, key: &RemoteKey) {
        KernelMaps::forget_remote(self, key);
    }

    fn forget_request_port(&mut self, key: &PortKey) {
        KernelMaps::forget_request_port(self, key);
    }
}

#[cfg(test)]
mod tests;
