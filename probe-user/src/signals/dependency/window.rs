//! What the window keeps of a container's remote endpoints at each
//! sample, and what each did over the window.

use probe_common::dependency::reason;

use crate::{
    signals::dependency::remotes::Remote, snapshot::CgroupStats, window::counters::Latency,
};

/// A remote endpoint's counts: cumulative at one sample (its counters),
/// or what was added over the window (its evidence).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteCounts {
    /// Which.
    pub remote: Remote,
    /// Response times (slow: above the dependency threshold).
    pub response: Latency,
    /// Connect times.
    pub connect: Latency,
    /// Failed connects, all reasons but `abandoned` (the caller gave up).
    pub failures: u64,
    /// Retransmitted segments.
    pub retransmits: u64,
    /// Connections established now.
    pub connections: i64,
}

/// A container's remote endpoints at one sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Each exported remote.
    pub remotes: Vec<RemoteCounts>,
}

impl Counters {
    /// The counters of a container's statistics.
    pub fn of(stats: &CgroupStats) -> Counters {
        Counters {
            remotes: stats
                .remotes
                .iter()
                .map(|r| RemoteCounts {
                    remote: r.remote(),
                    response: Latency::of(&r.stats.response, r.stats.slow_responses),
                    connect: Latency::of(&r.stats.connect, 0),
                    failures: reason::failed(&r.stats.failures),
                    retransmits: r.stats.retransmits,
                    connections: r.stats.established.max(0),
                })
                .collect(),
        }
    }
}

/// A container's remote endpoints over the window.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// What each did.
    pub remotes: Vec<RemoteCounts>,
}

impl Evidence {
    /// What was added from `then` to `now`.
    pub fn between(now: &Counters, then: &Counters) -> Evidence {
        let remotes = now
            .remotes
            .iter()
            .map(|r| {
                let before = then.remotes.iter().find(|b| b.remote == r.remote);
                RemoteCounts {
                    remote: r.remote,
                    response: before.map_or(r.response.clone(), |b| r.response.since(&b.response)),
                    connect: before.map_or(r.connect.clone(), |b| r.connect.since(&b.connect)),
                    failures: r.failures - before.map_or(0, |b| b.failures.min(r.failures)),
                    retransmits: r.retransmits
                        - before.map_or(0, |b| b.retransmits.min(r.retransmits)),
                    connections: r.connections,
                }
            })
            .collect();
        Evidence { remotes }
    }
}
