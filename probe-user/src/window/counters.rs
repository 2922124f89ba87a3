//! The window's latency counters: a histogram kept compact (its non-empty
//! buckets only) and what was added between two readings of it.

use probe_common::histogram::{BUCKETS, Histogram, bucket_upper_seconds};

/// Observations a quantile `q` needs before it means more than the
/// largest one: `ceil(1 / (1 - q))` (20 for a p95, 100 for a p99; with
/// fewer, the rank `q·n` falls on the last observation).
pub fn observations_for(q: f64) -> u64 {
    (1.0 / (1.0 - q) - 1e-9).ceil().max(1.0) as u64
}

/// A latency histogram at the kernel's own resolution (buckets a quarter
/// of a power of two wide: a quantile within 19%), kept sparse (the
/// non-empty buckets only, most histograms fill a few), with the count of
/// observations above the verdict's threshold where the kernel counts one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    /// (kernel bucket index, observations), by index; none empty.
    buckets: Vec<(u8, u64)>,
    /// Sum of the observations, in nanoseconds.
    pub sum_ns: u64,
    /// Observations above the slow threshold (0 where none is counted).
    pub slow: u64,
}

impl Latency {
    /// The kernel histogram `hist`, with `slow` of its observations above
    /// the slow threshold.
    pub fn of(hist: &Histogram, slow: u64) -> Latency {
        Latency {
            buckets: hist
                .buckets
                .iter()
                .enumerate()
                .take(BUCKETS)
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (i as u8, *n))
                .collect(),
            sum_ns: hist.sum_ns,
            slow,
        }
    }

    /// What was added since `earlier` (a reading of the same counters).
    pub fn since(&self, earlier: &Latency) -> Latency {
        let before = |i: u8| {
            earlier
                .buckets
                .binary_search_by_key(&i, |(j, _)| *j)
                .map_or(0, |at| earlier.buckets[at].1)
        };
        Latency {
            buckets: self
                .buckets
                .iter()
                .map(|&(i, n)| (i, n.saturating_sub(before(i))))
                .filter(|(_, n)| *n > 0)
                .collect(),
            sum_ns: self.sum_ns.saturating_sub(earlier.sum_ns),
            slow: self.slow.saturating_sub(earlier.slow),
        }
    }

    /// Observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|(_, n)| n).sum()
    }

    /// Sum of the observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns as f64 / 1e9
    }

    /// The share of the observations above the slow threshold.
    pub fn slow_share(&self) -> f64 {
        self.slow as f64 / self.count().max(1) as f64
    }

    /// Quantile `q` in seconds, interpolated within its kernel bucket as
    /// Prometheus does within a bucket; `None` with fewer than
    /// [`observations_for`] `q` observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count < observations_for(q) {
            return None;
        }
        let rank = q * count as f64;
        let mut below = 0u64;
        for &(i, n) in &self.buckets {
            if (below + n) as f64 >= rank {
                let i = usize::from(i);
                let upper = bucket_upper_seconds(i);
                let lower = if i == 0 {
                    0.0
                } else {
                    bucket_upper_seconds(i - 1)
                };
                let within = ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
                return Some(lower + (upper - lower) * within);
            }
            below += n;
        }
        self.buckets
            .last()
            .map(|(i, _)| bucket_upper_seconds(usize::from(*i)))
    }
}

/// What was added to `now` since `then` (all of it where `then` has
/// none; nothing where `now` has none).
pub fn since(now: &Option<Latency>, then: &Option<Latency>) -> Latency {
    match (now, then) {
        (Some(now), Some(then)) => now.since(then),
        (Some(now), None) => now.clone(),
        _ => Latency::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::histogram_of;

    #[test]
    fn quantiles_keep_the_kernels_resolution() {
        // 100 answers of 65 ms: one kernel bucket, (62.5 ms, 74.3 ms].
        let latency = Latency::of(&histogram_of(&[65_000_000; 100]), 0);
        let p95 = latency.quantile(0.95).unwrap();
        assert!((0.0625..=0.0744).contains(&p95), "{p95}");
        let later = Latency::of(&histogram_of(&[65_000_000; 150]), 7);
        let added = later.since(&latency);
        assert_eq!((added.count(), added.slow), (50, 7));
        assert_eq!(Latency::default().quantile(0.95), None);
    }

    #[test]
    fn a_quantile_needs_enough_observations() {
        assert_eq!(observations_for(0.5), 2);
        assert_eq!(observations_for(0.95), 20);
        assert_eq!(observations_for(0.99), 100);
        // Ten answers: their p95 would be the slowest of them.
        let ten = Latency::of(&histogram_of(&[1_000_000; 10]), 0);
        assert_eq!(ten.quantile(0.95), None);
        assert!(ten.quantile(0.5).is_some());
    }
}
