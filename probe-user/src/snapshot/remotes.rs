//! The remote endpoints of each container (the dependency signal), bounded:
//! at most `--max-remotes` per container get series of their own, the
//! busiest over the last minutes (an activity score that halves every five
//! minutes of samples); the rest are summed into `remote="other"`. A
//! remote's kernel entry is dropped when its cgroup is gone, or when it has
//! had no connection and no event for ten minutes.

use std::{
    collections::{BTreeMap, HashMap},
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
    /// The remote of a kernel key (an IPv4-mapped IPv6 peer is its IPv4).
    pub fn of(key: &RemoteKey) -> Remote {
        let ip = if key.family == AF_INET {
            IpAddr::V4(Ipv4Addr::new(
                key.addr[0],
                key.addr[1],
                key.addr[2],
                key.addr[3],
            ))
        } else {
            let v6 = Ipv6Addr::from(key.addr);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
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

/// What the ranker remembers of a remote.
struct Seen {
    /// Events counted at the last sample.
    events: u64,
    /// Decayed events per sample.
    score: f64,
    /// When its events last changed.
    changed: Instant,
}

/// Ranks each container's remotes and bounds how many are exported.
pub struct Ranker {
    max: usize,
    seen: HashMap<RemoteKey, Seen>,
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

impl Ranker {
    /// At most `max` remotes per container with series of their own.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            seen: HashMap::new(),
        }
    }

    /// Groups `entries` (those of live cgroups) per cgroup id, each
    /// container's busiest first and the rest in `other`; returns them and
    /// the keys to drop from the kernel (idle too long).
    pub fn rank(
        &mut self,
        entries: Vec<(RemoteKey, RemoteStats)>,
        now: Instant,
    ) -> (BTreeMap<u64, Vec<RemoteSeries>>, Vec<RemoteKey>) {
        let decay = 0.5f64.powf(1.0 / HALF_LIFE_SAMPLES);
        let mut idle = Vec::new();
        let mut per_cgroup: BTreeMap<u64, Vec<(f64, RemoteKey, RemoteStats)>> = BTreeMap::new();
        let mut present = HashMap::with_capacity(entries.len());
        for (key, stats) in entries {
            let count = events(&stats);
            let seen = self.seen.entry(key).or_insert(Seen {
                events: 0,
                score: 0.0,
                changed: now,
            });
            let new = count.saturating_sub(seen.events);
            seen.score = seen.score * decay + new as f64;
            if count != seen.events {
                seen.changed = now;
            }
            seen.events = count;
            if stats.established <= 0 && now.duration_since(seen.changed) >= IDLE {
                idle.push(key);
                continue;
            }
            present.insert(key, ());
            per_cgroup
                .entry(key.cgroup)
                .or_default()
                .push((seen.score, key, stats));
        }
        self.seen.retain(|key, _| present.contains_key(key));
        let ranked = per_cgroup
            .into_iter()
            .map(|(cgroup, mut remotes)| {
                remotes.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                let mut series: Vec<RemoteSeries> = Vec::new();
                for (rank, (_, key, stats)) in remotes.into_iter().enumerate() {
                    if rank < self.max {
                        series.push(RemoteSeries {
                            remote: Remote::of(&key),
                            stats: Box::new(stats),
                        });
                    } else if let Some(other) =
                        series.iter_mut().find(|s| s.remote == Remote::Other)
                    {
                        add(&mut other.stats, &stats);
                    } else {
                        series.push(RemoteSeries {
                            remote: Remote::Other,
                            stats: Box::new(stats),
                        });
                    }
                }
                (cgroup, series)
            })
            .collect();
        (ranked, idle)
    }
}

/// Adds `b` into `a`.
pub fn add(a: &mut RemoteStats, b: &RemoteStats) {
    let hist = |x: &mut Histogram, y: &Histogram| {
        for (p, q) in x.buckets.iter_mut().zip(&y.buckets) {
            *p += q;
        }
        x.sum_ns += y.sum_ns;
    };
    hist(&mut a.response, &b.response);
    a.slow_responses += b.slow_responses;
    hist(&mut a.connect, &b.connect);
    for (p, q) in a.failures.iter_mut().zip(&b.failures) {
        *p += q;
    }
    a.retransmits += b.retransmits;
    a.established += b.established;
    for (p, q) in a.untimed.iter_mut().zip(&b.untimed) {
        *p += q;
    }
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
    use probe_common::tcp::AF_INET6;

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
            failures: [0; 4],
            retransmits: 0,
            established: 1,
            untimed: [0; 4],
        }
    }

    #[test]
    fn remotes_print_as_ip_and_port() {
        assert_eq!(Remote::of(&key(1, 7)).to_string(), "10.0.0.7:5432");
        let mut v6 = key(1, 0);
        v6.family = AF_INET6;
        v6.addr = Ipv6Addr::LOCALHOST.octets();
        assert_eq!(Remote::of(&v6).to_string(), "[::1]:5432");
        v6.addr = Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped().octets();
        assert_eq!(Remote::of(&v6).to_string(), "127.0.0.1:5432");
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
