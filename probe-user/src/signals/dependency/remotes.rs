//! The remote endpoints of each container (the dependency signal), bounded
//! by `--max-remotes` per container (`snapshot::ranker`: the busiest keep
//! series of their own, the rest are summed as `remote="other"`).

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use probe_common::{
    dependency::{RemoteKey, RemoteStats},
    histogram::Histogram,
    tcp::AF_INET,
};

use crate::snapshot::ranker::{Counts, Series};

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
pub type RemoteSeries = Series<RemoteStats>;

impl RemoteSeries {
    /// Which remote.
    pub fn remote(&self) -> Remote {
        self.key.as_ref().map_or(Remote::Other, Remote::of)
    }
}

impl Counts for RemoteStats {
    type Key = RemoteKey;
    const ZERO: Self = RemoteStats::ZERO;

    fn cgroup(key: &RemoteKey) -> u64 {
        key.cgroup
    }

    fn events(&self) -> u64 {
        let count = |h: &Histogram| h.buckets.iter().sum::<u64>();
        count(&self.response)
            + count(&self.connect)
            + self.failures.iter().sum::<u64>()
            + self.retransmits
            + self.untimed.iter().sum::<u64>()
    }

    fn combine_counters(&mut self, b: &Self, op: fn(u64, u64) -> u64) {
        let each =
            |x: &mut [u64], y: &[u64]| x.iter_mut().zip(y).for_each(|(p, q)| *p = op(*p, *q));
        each(&mut self.response.buckets, &b.response.buckets);
        self.response.sum_ns = op(self.response.sum_ns, b.response.sum_ns);
        self.slow_responses = op(self.slow_responses, b.slow_responses);
        each(&mut self.connect.buckets, &b.connect.buckets);
        self.connect.sum_ns = op(self.connect.sum_ns, b.connect.sum_ns);
        each(&mut self.failures, &b.failures);
        self.retransmits = op(self.retransmits, b.retransmits);
        each(&mut self.untimed, &b.untimed);
    }

    fn add_gauges(&mut self, b: &Self) {
        self.established += b.established;
    }

    fn open(&self) -> bool {
        self.established > 0
    }
}

#[cfg(test)]
mod tests {
    use probe_common::{
        dependency::{reason, request},
        tcp::AF_INET6,
    };

    use std::{
        collections::{BTreeMap, HashMap, HashSet},
        time::{Duration, Instant},
    };

    use super::*;
    use crate::snapshot::ranker::{IDLE, Ranker};

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
        let names: Vec<String> = ranked[&1].iter().map(|s| s.remote().to_string()).collect();
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
            .map(|s| (s.remote(), s.stats.response.buckets[100]))
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
