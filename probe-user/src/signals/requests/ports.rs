//! The listening ports of each container's inbound requests, bounded by
//! `--max-ports` per container (`snapshot::ranker`: the busiest keep
//! series of their own, the rest are summed as `port="other"`).

use std::fmt;

use probe_common::{
    histogram::Histogram,
    requests::{PortKey, PortStats},
};

use crate::snapshot::ranker::{Counts, Series};

/// A listening port as exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Port {
    /// The local port number.
    Number(u16),
    /// The sum of the ports past `--max-ports`.
    Other,
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Port::Number(port) => write!(f, "{port}"),
            Port::Other => f.write_str("other"),
        }
    }
}

/// One exported port of a container.
pub type PortSeries = Series<PortStats>;

impl PortSeries {
    /// Which port.
    pub fn port(&self) -> Port {
        self.key.map_or(Port::Other, |key| Port::Number(key.port))
    }
}

impl Counts for PortStats {
    type Key = PortKey;
    const ZERO: Self = PortStats::ZERO;

    fn cgroup(key: &PortKey) -> u64 {
        key.cgroup
    }

    fn events(&self) -> u64 {
        let count = |h: &Histogram| h.buckets.iter().sum::<u64>();
        count(&self.response)
            + count(&self.queue)
            + self.errors.iter().sum::<u64>()
            + self.multiplexed
    }

    fn combine_counters(&mut self, b: &Self, op: fn(u64, u64) -> u64) {
        let each =
            |x: &mut [u64], y: &[u64]| x.iter_mut().zip(y).for_each(|(p, q)| *p = op(*p, *q));
        each(&mut self.response.buckets, &b.response.buckets);
        self.response.sum_ns = op(self.response.sum_ns, b.response.sum_ns);
        each(&mut self.queue.buckets, &b.queue.buckets);
        self.queue.sum_ns = op(self.queue.sum_ns, b.queue.sum_ns);
        each(&mut self.errors, &b.errors);
        self.multiplexed = op(self.multiplexed, b.multiplexed);
    }

    fn add_gauges(&mut self, b: &Self) {
        self.waiting += b.waiting;
        self.connections += b.connections;
    }

    fn open(&self) -> bool {
        self.connections > 0 || self.waiting > 0
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::{snapshot::ranker::Ranker, test_support::histogram_of};

    fn port(cgroup: u64, port: u16, requests: usize) -> (PortKey, PortStats) {
        let key = PortKey {
            cgroup,
            port,
            pad: [0; 3],
        };
        let stats = PortStats {
            response: histogram_of(&vec![1_000_000; requests]),
            connections: 1,
            ..PortStats::ZERO
        };
        (key, stats)
    }

    #[test]
    fn the_busiest_ports_keep_series_and_the_rest_are_other() {
        let mut ranker = Ranker::new(1);
        let (ranked, idle) = ranker.rank(
            vec![port(1, 8080, 50), port(1, 9090, 3), port(1, 9100, 2)],
            Instant::now(),
        );
        assert!(idle.is_empty());
        let ports: Vec<String> = ranked[&1].iter().map(|s| s.port().to_string()).collect();
        assert_eq!(ports, ["8080", "other"]);
        let other = &ranked[&1][1].stats;
        assert_eq!(other.response.buckets.iter().sum::<u64>(), 5);
        assert_eq!(other.connections, 2);
    }
}
