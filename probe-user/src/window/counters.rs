//! What the window keeps of a container at one sample: its cumulative
//! counters, compact (the verdict and the API need quantiles at powers of
//! two, not every kernel bucket).

use probe_common::{
    histogram::{BUCKETS, Histogram, native_index},
    runqueue::behind,
    syscall::CLASSES,
    tcp::{FILL_BUCKETS, FILL_SCALE, TcpFill},
};

use crate::{
    collect::psi::Psi,
    snapshot::{CgroupStats, PortStats, Preemptor, remotes::Remote},
};

/// Coarse bins: `(-inf, 2^-20]`, then `(2^(k-1), 2^k]` seconds for `k` in
/// `-19..=2`, then `(4 s, inf)`.
pub const BINS: usize = 24;
/// The power of two of the first bin's upper bound.
const FIRST_POW: i32 = -20;

/// A latency histogram in coarse bins (each a union of kernel buckets).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Coarse {
    /// Observations per bin.
    pub bins: [u64; BINS],
    /// Sum of the observations, in nanoseconds.
    pub sum_ns: u64,
}

impl Coarse {
    /// The kernel histogram `hist`, binned.
    pub fn of(hist: &Histogram) -> Coarse {
        let mut coarse = Coarse {
            sum_ns: hist.sum_ns,
            ..Coarse::default()
        };
        for (i, &count) in hist.buckets.iter().enumerate().take(BUCKETS) {
            let bin = if i == 0 {
                0
            } else {
                // Native bucket n is in bin ceil(n / 4) - FIRST_POW, clamped.
                let pow =
                    native_index(i).div_euclid(4) + i32::from(native_index(i).rem_euclid(4) != 0);
                (pow - FIRST_POW).clamp(0, BINS as i32 - 1) as usize
            };
            coarse.bins[bin] += count;
        }
        coarse
    }

    /// What was added since `earlier`.
    pub fn since(&self, earlier: &Coarse) -> Coarse {
        let mut out = Coarse {
            sum_ns: self.sum_ns.saturating_sub(earlier.sum_ns),
            ..Coarse::default()
        };
        for (bin, (now, then)) in out.bins.iter_mut().zip(self.bins.iter().zip(earlier.bins)) {
            *bin = now.saturating_sub(then);
        }
        out
    }

    /// Observations.
    pub fn count(&self) -> u64 {
        self.bins.iter().sum()
    }

    /// Sum of the observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns as f64 / 1e9
    }

    /// Quantile `q` in seconds, interpolated within its bin as Prometheus
    /// does with classic buckets (0 without observations).
    pub fn quantile(&self, q: f64) -> f64 {
        let count = self.count();
        if count == 0 {
            return 0.0;
        }
        let rank = q * count as f64;
        let mut below = 0u64;
        for (bin, &n) in self.bins.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= rank {
                let upper = f64::from(FIRST_POW + bin as i32).exp2();
                let lower = if bin == 0 { 0.0 } else { upper / 2.0 };
                if bin == BINS - 1 {
                    // Above the last bound: the bound is all one can say.
                    return lower;
                }
                let within = ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
                return lower + (upper - lower) * within;
            }
            below += n;
        }
        f64::from(FIRST_POW + BINS as i32 - 2).exp2()
    }
}

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

/// A remote endpoint at one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteCounters {
    /// Which.
    pub remote: Remote,
    /// Response times.
    pub response: Coarse,
    /// Connect times.
    pub connect: Coarse,
    /// Failed connects, all reasons.
    pub failures: u64,
    /// Retransmitted segments.
    pub retransmits: u64,
    /// Connections established now.
    pub connections: i64,
}

/// A container's cumulative counters at one sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Run-queue waits.
    pub runq: Option<Coarse>,
    /// Preemptions by class.
    pub preemptions: [u64; Preemptor::COUNT],
    /// Nanoseconds waited, by what the CPU did meanwhile (`runqueue::behind`).
    pub waited_behind_ns: [u64; behind::COUNT],
    /// Syscalls by class: durations and errors.
    pub syscalls: [Option<(Coarse, u64)>; CLASSES],
    /// Accept-queue fill observations.
    pub fill: Option<([u64; FILL_BUCKETS], u64)>,
    /// Its listening ports.
    pub ports: Vec<Port>,
    /// Reclaim stalls.
    pub reclaim: Option<Coarse>,
    /// OOM kills.
    pub oom_kills: u64,
    /// PSI totals.
    pub psi: Option<Psi>,
    /// Its remote endpoints.
    pub remotes: Vec<RemoteCounters>,
}

impl Counters {
    /// A container's counters from its statistics and listening ports.
    pub fn of(stats: &CgroupStats, ports: &[&PortStats]) -> Counters {
        let mut syscalls: [Option<(Coarse, u64)>; CLASSES] = Default::default();
        if let Some(s) = &stats.syscalls {
            for (slot, (hist, errors)) in syscalls.iter_mut().zip(s.latency.iter().zip(s.errors)) {
                let coarse = Coarse::of(hist);
                if coarse.count() > 0 {
                    *slot = Some((coarse, errors));
                }
            }
        }
        Counters {
            runq: stats.runq.as_ref().map(Coarse::of),
            preemptions: stats.preemptions.unwrap_or_default(),
            waited_behind_ns: stats.waited_behind_ns.unwrap_or_default(),
            syscalls,
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
            reclaim: stats.memory.as_ref().map(|m| Coarse::of(&m.reclaim)),
            oom_kills: stats.memory.as_ref().map_or(0, |m| m.oom_kills),
            psi: stats.psi,
            remotes: stats
                .remotes
                .iter()
                .map(|r| RemoteCounters {
                    remote: r.remote,
                    response: Coarse::of(&r.stats.response),
                    connect: Coarse::of(&r.stats.connect),
                    failures: r.stats.failures.iter().sum(),
                    retransmits: r.stats.retransmits,
                    connections: r.stats.established.max(0),
                })
                .collect(),
        }
    }
}

/// Fill sums are in millionths.
pub const FILL_UNIT: f64 = FILL_SCALE as f64;

#[cfg(test)]
mod tests {
    use probe_common::histogram::bucket_index;

    use super::*;

    fn histogram_of(values: &[u64]) -> Histogram {
        let mut hist = Histogram::ZERO;
        for &v in values {
            hist.buckets[bucket_index(v)] += 1;
            hist.sum_ns += v;
        }
        hist
    }

    #[test]
    fn bins_follow_powers_of_two_of_seconds() {
        // 2^-20 s = 953.67 ns.
        let coarse = Coarse::of(&histogram_of(&[0, 953, 954, 1_907, 1_908, 5_000_000_000]));
        assert_eq!(coarse.bins[0], 2);
        assert_eq!(coarse.bins[1], 2);
        assert_eq!(coarse.bins[2], 1);
        assert_eq!(coarse.bins[BINS - 1], 1);
        assert_eq!(coarse.count(), 6);
    }

    #[test]
    fn quantiles_interpolate_within_a_bin() {
        // 100 waits of 10 ms: all in (2^-7, 2^-6] = (7.8 ms, 15.6 ms].
        let coarse = Coarse::of(&histogram_of(&[10_000_000; 100]));
        let p50 = coarse.quantile(0.5);
        assert!((0.0078..=0.0157).contains(&p50), "{p50}");
        assert_eq!(Coarse::default().quantile(0.95), 0.0);
        let later = Coarse::of(&histogram_of(&[10_000_000; 150]));
        assert_eq!(later.since(&coarse).count(), 50);
    }
}
