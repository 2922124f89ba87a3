//! What the window keeps of a container's listeners at each sample, and
//! what they did over the window.

use probe_common::tcp::{FILL_BUCKETS, FILL_SCALE, FILL_STEPS, TcpFill};

use crate::snapshot::{CgroupStats, PortStats};

/// Fill sums are in millionths.
const FILL_UNIT: f64 = FILL_SCALE as f64;

/// A listening port at one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Port {
    /// Local port.
    pub port: u16,
    /// Connections dropped since its sockets opened.
    pub overflows: u64,
    /// Depth / limit now.
    pub fill: f64,
}

/// A container's listener counters at one sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Accept-queue fill observations: per bucket, and their sum.
    pub fill: Option<([u64; FILL_BUCKETS], u64)>,
    /// Its listening ports.
    pub ports: Vec<Port>,
}

impl Counters {
    /// The counters of a container's statistics and listening ports.
    pub fn of(stats: &CgroupStats, ports: &[&PortStats]) -> Counters {
        Counters {
            fill: stats
                .tcp_fill
                .as_ref()
                .map(|f: &TcpFill| (f.buckets, f.sum_micro)),
            ports: ports
                .iter()
                .map(|p| Port {
                    port: p.port,
                    overflows: p.overflows,
                    fill: p.depth as f64 / p.limit.max(1) as f64,
                })
                .collect(),
        }
    }
}

/// A container's accept queues over the window.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Accept-queue fill observations: per fill bucket (twentieths).
    pub fill: [u64; FILL_BUCKETS],
    /// Mean fill of the queued connections.
    pub fill_mean: f64,
    /// Per listening port: (port, connections dropped, fill now).
    pub ports: Vec<(u16, u64, f64)>,
}

impl Evidence {
    /// What was added from `then` to `now`.
    pub fn between(now: &Counters, then: &Counters) -> Evidence {
        let mut fill = [0; FILL_BUCKETS];
        let mut fill_sum = 0;
        if let Some((buckets, sum)) = now.fill {
            let (before, sum_before) = then.fill.unwrap_or(([0; FILL_BUCKETS], 0));
            for (out, (n, t)) in fill.iter_mut().zip(buckets.iter().zip(before)) {
                *out = n.saturating_sub(t);
            }
            fill_sum = sum.saturating_sub(sum_before);
        }
        let fill_count: u64 = fill.iter().sum();
        let ports = now
            .ports
            .iter()
            .map(|p| {
                let before = then
                    .ports
                    .iter()
                    .find(|b| b.port == p.port)
                    .map_or(0, |b| b.overflows);
                (p.port, p.overflows.saturating_sub(before), p.fill)
            })
            .collect();
        Evidence {
            fill,
            fill_mean: if fill_count == 0 {
                0.0
            } else {
                fill_sum as f64 / FILL_UNIT / fill_count as f64
            },
            ports,
        }
    }

    /// Quantile `q` of the accept-queue fill at each queued connection.
    pub fn fill_quantile(&self, q: f64) -> f64 {
        let count: u64 = self.fill.iter().sum();
        if count == 0 {
            return 0.0;
        }
        let rank = (q * count as f64).ceil() as u64;
        let mut below = 0;
        for (bucket, &n) in self.fill.iter().enumerate() {
            below += n;
            if below >= rank.max(1) {
                // Bucket i holds fills up to i/20; the last, above 1.
                return (bucket as f64 / f64::from(FILL_STEPS)).min(1.05);
            }
        }
        1.05
    }
}
