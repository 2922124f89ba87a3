//! What the window keeps of a container's listening ports' requests at
//! each sample, and what each port served over the window.

use probe_common::requests::error;

use super::ports::Port;
use crate::{snapshot::CgroupStats, window::counters::Latency};

/// A port's request counts: cumulative at one sample (its counters), or
/// what was added over the window (its evidence); its gauges are now.
#[derive(Debug, Clone, PartialEq)]
pub struct PortCounts {
    /// Which.
    pub port: Port,
    /// Response times.
    pub response: Latency,
    /// Queue times (slow: above the workers' threshold).
    pub queue: Latency,
    /// Errors, by `requests::error` reason.
    pub errors: [u64; error::COUNT],
    /// Requests waiting to be read now.
    pub waiting: i64,
    /// Inbound connections established now.
    pub connections: i64,
}

/// A container's ports at one sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Each exported port.
    pub ports: Vec<PortCounts>,
}

impl Counters {
    /// The counters of a container's statistics.
    pub fn of(stats: &CgroupStats) -> Counters {
        Counters {
            ports: stats
                .request_ports
                .iter()
                .map(|p| PortCounts {
                    port: p.port(),
                    response: Latency::of(&p.stats.response, 0),
                    queue: Latency::of(&p.stats.queue, p.stats.slow_queued),
                    errors: p.stats.errors,
                    waiting: p.stats.waiting.max(0),
                    connections: p.stats.connections.max(0),
                })
                .collect(),
        }
    }
}

/// A container's ports over the window.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// What each served.
    pub ports: Vec<PortCounts>,
}

impl Evidence {
    /// What was added from `then` to `now`.
    pub fn between(now: &Counters, then: &Counters) -> Evidence {
        let ports = now
            .ports
            .iter()
            .map(|p| {
                let before = then.ports.iter().find(|b| b.port == p.port);
                let mut errors = p.errors;
                if let Some(before) = before {
                    for (e, b) in errors.iter_mut().zip(before.errors) {
                        *e -= b.min(*e);
                    }
                }
                PortCounts {
                    port: p.port,
                    response: before.map_or(p.response.clone(), |b| p.response.since(&b.response)),
                    queue: before.map_or(p.queue.clone(), |b| p.queue.since(&b.queue)),
                    errors,
                    waiting: p.waiting,
                    connections: p.connections,
                }
            })
            .collect();
        Evidence { ports }
    }
}
