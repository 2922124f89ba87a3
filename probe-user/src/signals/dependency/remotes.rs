//! The remote endpoints of each container (the dependency signal), bounded:
//! at most `--max-remotes` per container get series of their own, the
//! busiest over the last minutes (an activity score that halves every five
//! minutes of samples; a place changes hands only to a remote 1.5 times
//! busier); the rest are counted in `remote="other"`, which grows by their
//! events at each sample and by nothing else (a remote moving in or out
//! brings no past along, and leaves none behind). A
//! remote's kernel entry is dropped when its cgroup is gone, or when it has
//! had no connection and no event for ten minutes.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::{Duration, Instant},
};

use probe_common::{
    dependency::{RemoteKey, RemoteStats},
    histogram::Histogram,
    tcp::AF_INET,
};

/// A remote endpoint as exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Remote {
    /// `IP:port` of the peer.
    Endpoint(SocketAddr),
    /// The sum of the endpoints past `--max-remotes`.
    Other,
}

impl Remote {
    /// The remote of a kernel key (the kernel keys an IPv4-mapped IPv6
    /// peer by its IPv4 address, so that distinct keys print distinctly).
    pub fn of(key: &RemoteKey) -> Remote {
        let ip = if key.family == AF_INET {
            IpAddr::V4(Ipv4Addr::new(
                key.addr[0],
                key.addr[1],
                key.addr[2],
                key.addr[3],
            ))
        } else {
            IpAddr::V6(Ipv6Addr::from(key.addr))
        };
        Remote::Endpoint(SocketAddr::new(ip, key.port))
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Endpoint(addr) => write!(f, "{addr}"),
            Remote::Other => f.write_str("other"),
        }
    }
}

/// One exported remote of a container.
#[derive(Debug, Clone)]
pub struct RemoteSeries {
    /// Which.
    pub remote: Remote,
    /// Its statistics (summed, for `other`).
    pub stats: Box<RemoteStats>,
}

/// Samples over which a remote's activity score halves (five minutes at
/// the default interval).
const HALF_LIFE_SAMPLES: f64 = 300.0;
/// How long a remote with no connection and no event is kept.
const IDLE: Duration = Duration::from_secs(600);

/// How much busier than the quietest remote with a series of its own
/// another must be to take its place: remotes of about equal traffic (the
/// pods behind one Service) keep their places.
const HYSTERESIS: f64 = 1.5;

/// What the ranker remembers of a remote.
struct Seen {
    /// Events counted at the last sample.
    events: u64,
    /// Decayed events per sample.
    score: f64,
    /// When its events last changed.
    changed: Instant,
}

/// A remote at this sample, to rank.
struct Candidate {
    score: f64,
    key: RemoteKey,
    stats: RemoteStats,
    /// First seen at this sample: every event it counts is new.
    new: bool,
}

/// A remote with a series of its own.
struct Own {
    /// Its statistics when it was promoted: its series counts from there
    /// (what came before is in `other`), so that a promotion adds no past
    /// to any series.
    baseline: Box<RemoteStats>,
    /// Its statistics at the last sample: when it is demoted, `other`
    /// takes its events from there.
    last: Box<RemoteStats>,
}

/// A container's remotes as exported: which have series of their own, and
/// what its `other` carries. The events of an interval are counted once:
/// by the remote's own series if it has one at both ends, else by `other`.
#[derive(Default)]
struct Exported {
    /// The remotes with series of their own.
    own: HashMap<RemoteKey, Own>,
    /// What `other` adds to the sum of its remotes' statistics, so that it
    /// grows by their events and nothing else: the statistics of the
    /// remotes promoted out of it or dropped from it, less those demoted
    /// into it (counters modulo 2^64; `established` unused). `None` until
    /// the container first has an `other`.
    offset: Option<Box<RemoteStats>>,
}

/// Ranks each container's remotes and bounds how many are exported.
pub struct Ranker {
    max: usize,
    seen: HashMap<RemoteKey, Seen>,
    containers: HashMap<u64, Exported>,
}

/// Every event a remote's statistics count.
fn events(stats: &RemoteStats) -> u64 {
    let count = |h: &Histogram| h.buckets.iter().sum::<u64>();
    count(&stats.response)
        + count(&stats.connect)
        + stats.failures.iter().sum::<u64>()
        + stats.retransmits
        + stats.untimed.iter().sum::<u64>()
}

/// `op` of each counter of `a` and `b` into `a` (`established`, a gauge,
/// is left alone).
fn combine_counters(a: &mut RemoteStats, b: &RemoteStats, op: fn(u64, u64) -> u64) {
    let each = |x: &mut [u64], y: &[u64]| x.iter_mut().zip(y).for_each(|(p, q)| *p = op(*p, *q));
    each(&mut a.response.buckets, &b.response.buckets);
    a.response.sum_ns = op(a.response.sum_ns, b.response.sum_ns);
    a.slow_responses = op(a.slow_responses, b.slow_responses);
    each(&mut a.connect.buckets, &b.connect.buckets);
    a.connect.sum_ns = op(a.connect.sum_ns, b.connect.sum_ns);
    each(&mut a.failures, &b.failures);
    a.retransmits = op(a.retransmits, b.retransmits);
    each(&mut a.untimed, &b.untimed);
}

impl Exported {
    /// The offset, made when first needed.
    fn offset(&mut self) -> &mut RemoteStats {
        self.offset
            .get_or_insert_with(|| Box::new(RemoteStats::ZERO))
    }

    /// `remote` leaves `other` for a series of its own, which counts its
    /// events from the next sample on (a new remote's, all of them).
    fn promote(&mut self, remote: &Candidate) {
        let baseline = if remote.new {
            RemoteStats::ZERO
        } else {
            combine_counters(self.offset(), &remote.stats, u64::wrapping_add);
            remote.stats
        };
        self.own.insert(
            remote.key,
            Own {
                baseline: Box::new(baseline),
                last: Box::new(baseline),
            },
        );
    }

    /// `remote` loses its series; its events since the last sample, and
    /// from now on, are `other`'s.
    fn demote(&mut self, remote: &Candidate) {
        if let Some(own) = self.own.remove(&remote.key) {
            combine_counters(self.offset(), &own.last, u64::wrapping_sub);
        }
    }

    /// `remote`, in `other`, is dropped: `other` keeps its events.
    fn drop_from_other(&mut self, stats: &RemoteStats) {
        combine_counters(self.offset(), stats, u64::wrapping_add);
    }

    /// Chooses which of `remotes` (this container's at this sample) have
    /// series of their own: the busiest `max`, a place changing hands only
    /// when a remote is [`HYSTERESIS`] times busier than the quietest
    /// holder; returns their series, busiest first, and `other`.
    fn choose(&mut self, mut remotes: Vec<Candidate>, max: usize) -> Vec<RemoteSeries> {
        remotes.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
        let present: HashSet<RemoteKey> = remotes.iter().map(|r| r.key).collect();
        self.own.retain(|key, _| present.contains(key));
        for remote in &remotes {
            if self.own.len() < max && !self.own.contains_key(&remote.key) {
                self.promote(remote);
            }
        }
        for _ in 0..remotes.len() {
            let quietest = remotes.iter().rev().find(|r| self.own.contains_key(&r.key));
            let busiest = remotes.iter().find(|r| !self.own.contains_key(&r.key));
            match (quietest, busiest) {
                (Some(quietest), Some(busiest)) if busiest.score > HYSTERESIS * quietest.score => {
                    self.demote(quietest);
                    self.promote(busiest);
                }
                _ => break,
            }
        }
        let mut series = Vec::with_capacity(self.own.len() + 1);
        let (mut other, mut in_other) = (RemoteStats::ZERO, false);
        for remote in remotes {
            if let Some(own) = self.own.get_mut(&remote.key) {
                *own.last = remote.stats;
                let mut stats = Box::new(remote.stats);
                combine_counters(&mut stats, &own.baseline, u64::wrapping_sub);
                series.push(RemoteSeries {
                    remote: Remote::of(&remote.key),
                    stats,
                });
            } else {
                add(&mut other, &remote.stats);
                in_other = true;
            }
        }
        // Once a container has had an `other`, it keeps it (empty or not).
        if in_other || self.offset.is_some() {
            combine_counters(&mut other, self.offset(), u64::wrapping_add);
            series.push(RemoteSeries {
                remote: Remote::Other,
                stats: Box::new(other),
            });
        }
        series
    }
}

impl Ranker {
    /// At most `max` remotes per container with series of their own.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            seen: HashMap::new(),
            containers: HashMap::new(),
        }
    }

    /// Groups `entries` (those of live cgroups) per cgroup id, each
    /// container's busiest first and the rest in `other` (which grows by
    /// its remotes' events at each sample, whatever moves in or out of
    /// it); returns them and the keys to drop from the kernel (idle too
    /// long).
    pub fn rank(
        &mut self,
        entries: Vec<(RemoteKey, RemoteStats)>,
        now: Instant,
    ) -> (BTreeMap<u64, Vec<RemoteSeries>>, Vec<RemoteKey>) {
        let decay = 0.5f64.powf(1.0 / HALF_LIFE_SAMPLES);
        let mut idle = Vec::new();
        let mut per_cgroup: BTreeMap<u64, Vec<Candidate>> = BTreeMap::new();
        let mut present = HashSet::with_capacity(entries.len());
        for (key, stats) in entries {
            let count = events(&stats);
            let new = !self.seen.contains_key(&key);
            let seen = self.seen.entry(key).or_insert(Seen {
                events: 0,
                score: 0.0,
                changed: now,
            });
            let added = count.saturating_sub(seen.events);
            seen.score = seen.score * decay + added as f64;
            if count != seen.events {
                seen.changed = now;
            }
            seen.events = count;
            if stats.established <= 0 && now.duration_since(seen.changed) >= IDLE {
                if let Some(exported) = self.containers.get_mut(&key.cgroup)
                    && exported.own.remove(&key).is_none()
                {
                    exported.drop_from_other(&stats);
                }
                idle.push(key);
                continue;
            }
            present.insert(key);
            per_cgroup.entry(key.cgroup).or_default().push(Candidate {
                score: seen.score,
                key,
                stats,
                new,
            });
        }
        self.seen.retain(|key, _| present.contains(key));
        self.containers
            .retain(|cgroup, _| per_cgroup.contains_key(cgroup));
        let ranked = per_cgroup
            .into_iter()
            .map(|(cgroup, remotes)| {
                let exported = self.containers.entry(cgroup).or_default();
                (cgroup, exported.choose(remotes, self.max))
            })
            .collect();
        (ranked, idle)
    }
}

/// Adds `b` into `a`.
pub fn add(a: &mut RemoteStats, b: &RemoteStats) {
    combine_counters(a, b, u64::wrapping_add);
    a.established += b.established;
}

/// Merges `from` into `into`, remote by remote (`cgroup="other"`: the
/// remotes of folded cgroups, all summed into `remote="other"`).
pub fn merge_all_into_other(into: &mut Vec<RemoteSeries>, from: Vec<RemoteSeries>) {
    for series in from {
        match into.iter_mut().find(|s| s.remote == Remote::Other) {
            Some(other) => add(&mut other.stats, &series.stats),
            None => into.push(RemoteSeries {
                remote: Remote::Other,
                stats: series.stats,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use probe_common::{
        dependency::{reason, request},
        tcp::AF_INET6,
    };

    use super::*;

    fn key(cgroup: u64, last: u8) -> RemoteKey {
        RemoteKey {
            cgroup,
            addr: [10, 0, 0, last, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            port: 5432,
            family: AF_INET,
            pad: 0,
        }
    }

    fn stats(responses: u64) -> RemoteStats {
        let mut hist = Histogram::ZERO;
        hist.buckets[100] = responses;
        RemoteStats {
            response: hist,
            slow_responses: 0,
            connect: Histogram::ZERO,
            failures: [0; reason::COUNT],
            retransmits: 0,
            established: 1,
            untimed: [0; request::COUNT],
        }
    }

    #[test]
    fn remotes_print_as_ip_and_port() {
        assert_eq!(Remote::of(&key(1, 7)).to_string(), "10.0.0.7:5432");
        let mut v6 = key(1, 0);
        v6.family = AF_INET6;
        v6.addr = Ipv6Addr::LOCALHOST.octets();
        assert_eq!(Remote::of(&v6).to_string(), "[::1]:5432");
    }

    #[test]
    fn the_busiest_keep_series_and_the_rest_are_other() {
        let mut ranker = Ranker::new(2);
        let now = Instant::now();
        let entries = vec![
            (key(1, 1), stats(5)),
            (key(1, 2), stats(50)),
            (key(1, 3), stats(20)),
            (key(1, 4), stats(1)),
            (key(2, 1), stats(3)),
        ];
        let (ranked, idle) = ranker.rank(entries, now);
        assert!(idle.is_empty());
        let names: Vec<String> = ranked[&1].iter().map(|s| s.remote.to_string()).collect();
        assert_eq!(names, ["10.0.0.2:5432", "10.0.0.3:5432", "other"]);
        let other = &ranked[&1][2].stats;
        assert_eq!(other.response.buckets[100], 6);
        assert_eq!(other.established, 2);
        assert_eq!(ranked[&2].len(), 1);
    }

    /// Responses of each exported series at a sample, by remote.
    fn values(ranked: &BTreeMap<u64, Vec<RemoteSeries>>) -> HashMap<Remote, u64> {
        ranked[&1]
            .iter()
            .map(|s| (s.remote, s.stats.response.buckets[100]))
            .collect()
    }

    /// Each sample's events are counted once: the series' increases (a
    /// new series from 0) sum to the remotes' events since the last
    /// sample, `other` never falls, and a remote promoted out of it brings
    /// no past along. Before, a demoted remote's lifetime totals jumped
    /// into `other`, and a promoted one's left it (a fall, which
    /// Prometheus reads as a reset). Three remotes, one place: A is busy
    /// first, then B, then C.
    #[test]
    fn every_event_is_counted_once_whatever_changes_places() {
        let mut ranker = Ranker::new(1);
        let start = Instant::now();
        let mut totals = [0u64; 3];
        let mut before: HashMap<Remote, u64> = HashMap::new();
        let mut leaders = Vec::new();
        for t in 0..700u64 {
            // A place changes hands once the newly busy remote's decayed
            // score is 1.5 times the old one's (tens to hundreds of samples).
            let busiest = match t {
                0..40 => 0,
                40..300 => 1,
                _ => 2,
            };
            let added: Vec<u64> = (0..3).map(|r| if r == busiest { 50 } else { 1 }).collect();
            for (total, add) in totals.iter_mut().zip(&added) {
                *total += add;
            }
            let entries = (0..3)
                .map(|r| (key(1, r as u8 + 1), stats(totals[r])))
                .collect();
            let (ranked, _) = ranker.rank(entries, start + Duration::from_secs(t));
            let now = values(&ranked);
            let increase: u64 = now
                .iter()
                .map(|(remote, value)| value - before.get(remote).copied().unwrap_or(0))
                .sum();
            assert_eq!(increase, added.iter().sum::<u64>(), "sample {t}: {now:?}");
            assert!(now[&Remote::Other] >= before.get(&Remote::Other).copied().unwrap_or(0));
            let leader = *now.keys().find(|r| **r != Remote::Other).unwrap();
            if leaders.last() != Some(&leader) {
                leaders.push(leader);
            }
            before = now;
        }
        let names: Vec<String> = leaders.iter().map(Remote::to_string).collect();
        assert_eq!(names, ["10.0.0.1:5432", "10.0.0.2:5432", "10.0.0.3:5432"]);
    }

    /// Remotes of about equal traffic (pods behind one Service) keep their
    /// places: each sample's small differences never make one 1.5 times
    /// busier than another. Before, a plain sort swapped them every sample.
    #[test]
    fn remotes_of_equal_traffic_keep_their_places() {
        let mut ranker = Ranker::new(2);
        let start = Instant::now();
        let mut totals = [0u64; 4];
        let mut first = None;
        for t in 0..50u64 {
            for (r, total) in totals.iter_mut().enumerate() {
                *total += 10 + (t + r as u64) % 3;
            }
            let entries = (0..4)
                .map(|r| (key(1, r as u8 + 1), stats(totals[r])))
                .collect();
            let (ranked, _) = ranker.rank(entries, start + Duration::from_secs(t));
            let own: HashSet<Remote> = values(&ranked)
                .into_keys()
                .filter(|r| *r != Remote::Other)
                .collect();
            assert_eq!(own.len(), 2);
            assert_eq!(*first.get_or_insert(own.clone()), own, "sample {t}");
        }
    }

    #[test]
    fn idle_remotes_without_connections_are_dropped() {
        let mut ranker = Ranker::new(2);
        let start = Instant::now();
        let mut closed = stats(5);
        closed.established = 0;
        ranker.rank(vec![(key(1, 1), closed), (key(1, 2), stats(5))], start);
        let later = start + IDLE;
        let (ranked, idle) = ranker.rank(vec![(key(1, 1), closed), (key(1, 2), stats(5))], later);
        assert_eq!(idle, vec![key(1, 1)]);
        assert_eq!(ranked[&1].len(), 1);
    }
}
