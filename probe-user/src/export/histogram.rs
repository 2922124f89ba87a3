//! A kernel histogram as exported: classic buckets at exact boundaries of
//! the kernel's, native buckets, and a bucket at a verdict threshold.

use probe_common::histogram::{BUCKETS, Histogram, native_index};

use super::model::{HistogramValue, NativeBuckets, Value};

/// Classic bounds of latency histograms, as powers of two of seconds:
/// 2^-20 s (0.95 µs) to 2^2 s (4 s). Every one is a boundary of the
/// kernel's buckets, so every classic count is exact.
const CLASSIC_POW2: std::ops::RangeInclusive<i32> = -20..=2;

/// A kernel latency histogram with classic buckets at every bound of
/// [`CLASSIC_POW2`] (doubling), and at `slow` (see [`latency`]).
pub fn doubling(hist: &Histogram, slow: Option<(f64, u64)>) -> Value {
    latency(hist, CLASSIC_POW2.step_by(1), slow)
}

/// The same with classic buckets at every other bound (quadrupling), for
/// families with many series per cgroup (syscall classes).
pub fn quadrupling(hist: &Histogram, slow: Option<(f64, u64)>) -> Value {
    latency(hist, CLASSIC_POW2.step_by(2), slow)
}

/// A kernel latency histogram: classic buckets at the powers of two of
/// seconds in `classic_pow2` and, given `slow` (a bound in seconds and the
/// kernel's count of observations above it), one at that bound; and every
/// native bucket.
fn latency(
    hist: &Histogram,
    classic_pow2: impl Iterator<Item = i32>,
    slow: Option<(f64, u64)>,
) -> Value {
    let count: u64 = hist.buckets.iter().sum();
    let mut classic = Vec::new();
    let mut cumulative = 0;
    let mut next = 0;
    for pow in classic_pow2 {
        // Native bucket 4·pow has the upper bound 2^pow s.
        while next < BUCKETS && (next == 0 || native_index(next) <= 4 * pow) {
            cumulative += hist.buckets[next];
            next += 1;
        }
        classic.push((f64::from(pow).exp2(), cumulative));
    }
    if let Some((bound, above)) = slow {
        let at = classic.partition_point(|(le, _)| *le < bound);
        if classic.get(at).is_none_or(|(le, _)| *le != bound) {
            // Read beside the buckets, not with them: keep the counts
            // monotonic if an observation landed between the two reads.
            let low = at.checked_sub(1).map_or(0, |i| classic[i].1);
            let high = classic.get(at).map_or(count, |(_, n)| *n);
            let within = count.saturating_sub(above).clamp(low, high.max(low));
            classic.insert(at, (bound, within));
        }
    }
    Value::Histogram(HistogramValue {
        count,
        sum: hist.sum_ns as f64 / 1e9,
        classic,
        native: Some(native(hist)),
    })
}

/// The native buckets of a kernel histogram: runs of non-empty buckets (a
/// gap of up to two empty buckets is cheaper inside a span than between
/// two).
fn native(hist: &Histogram) -> NativeBuckets {
    let mut spans: Vec<(i32, u32)> = Vec::new();
    let mut deltas = Vec::new();
    let mut previous_count = 0i64;
    // Native index just past the last bucket in a span.
    let mut end: Option<i32> = None;
    for (i, &n) in hist.buckets.iter().enumerate().skip(1) {
        if n == 0 {
            continue;
        }
        let index = native_index(i);
        match end {
            Some(past) if index - past <= 2 => {
                // Extend the span over the empty buckets between.
                for _ in past..index {
                    deltas.push(-previous_count);
                    previous_count = 0;
                }
                let last = spans.last_mut().expect("a span is open");
                last.1 += (index - past) as u32 + 1;
            }
            Some(past) => spans.push((index - past, 1)),
            None => spans.push((index, 1)),
        }
        deltas.push(n as i64 - previous_count);
        previous_count = n as i64;
        end = Some(index + 1);
    }
    NativeBuckets {
        zero_count: hist.buckets[0],
        spans,
        deltas,
    }
}

#[cfg(test)]
mod tests {
    use probe_common::histogram::bucket_upper_seconds;

    use super::*;
    use crate::test_support::histogram_of;

    fn value(hist: &Histogram) -> HistogramValue {
        match latency(hist, CLASSIC_POW2.step_by(1), None) {
            Value::Histogram(h) => h,
            Value::Number(_) => unreachable!(),
        }
    }

    #[test]
    fn classic_bounds_are_native_boundaries() {
        for pow in CLASSIC_POW2 {
            let bound = f64::from(pow).exp2();
            let i = (1..BUCKETS).find(|&i| native_index(i) == 4 * pow).unwrap();
            assert_eq!(bucket_upper_seconds(i), bound, "2^{pow} s");
        }
    }

    #[test]
    fn classic_counts_include_their_bound() {
        // 2^-20 s = 953.67431640625 ns: 953 ns is inside, 954 ns above.
        let hist = histogram_of(&[0, 953, 954, 1_907, 1_908, 1 << 33]);
        let value = value(&hist);
        assert_eq!(value.classic[0], (2f64.powi(-20), 2));
        assert_eq!(value.classic[1], (2f64.powi(-19), 4));
        assert_eq!(value.classic.last().unwrap().1, 5);
        assert_eq!(value.count, 6);
        let sum = (953 + 954 + 1_907 + 1_908 + (1u64 << 33)) as f64 / 1e9;
        assert!((value.sum - sum).abs() < 1e-12);
    }

    #[test]
    fn the_slow_threshold_is_a_bound_with_the_kernels_count() {
        // Ten answers of 60 ms, six of 95 ms and four of 103 ms: the last
        // ten share the kernel's bucket (88.4, 105.1] ms, which holds the
        // 0.1 s threshold; the kernel counted the four above it.
        let mut answers = vec![60_000_000; 10];
        answers.extend([95_000_000; 6]);
        answers.extend([103_000_000; 4]);
        let hist2 = histogram_of(&answers);
        let Value::Histogram(value) = doubling(&hist2, Some((0.1, 4))) else {
            panic!("a histogram");
        };
        let at = |le: f64| value.classic.iter().find(|(b, _)| *b == le).unwrap().1;
        assert_eq!((at(0.0625), at(0.1), at(0.125)), (10, 16, 20));
        // A count read while observations land stays between its neighbours.
        let Value::Histogram(raced) = doubling(&hist2, Some((0.1, 15))) else {
            panic!("a histogram");
        };
        let at = |le: f64| raced.classic.iter().find(|(b, _)| *b == le).unwrap().1;
        assert_eq!(at(0.1), 10);
    }

    /// The native buckets, expanded back: (native index, count) of each
    /// non-empty bucket.
    fn expand(native: &NativeBuckets) -> Vec<(i32, u64)> {
        let mut out = Vec::new();
        let (mut index, mut count, mut deltas) = (0i32, 0i64, native.deltas.iter());
        for (n, &(offset, length)) in native.spans.iter().enumerate() {
            index = if n == 0 { offset } else { index + offset };
            for _ in 0..length {
                count += deltas.next().unwrap();
                if count > 0 {
                    out.push((index, count as u64));
                }
                index += 1;
            }
        }
        assert!(deltas.next().is_none());
        out
    }

    #[test]
    fn native_buckets_round_trip() {
        let values = [
            0,
            0,
            1,
            2,
            900,
            953,
            954,
            1_000,
            5_000,
            5_001,
            5_002,
            1_000_000,
            1_000_000,
            1 << 39,
        ];
        let hist = histogram_of(&values);
        let native = native(&hist);
        assert_eq!(native.zero_count, 2);
        let expected: Vec<(i32, u64)> = (1..BUCKETS)
            .filter(|&i| hist.buckets[i] > 0)
            .map(|i| (native_index(i), hist.buckets[i]))
            .collect();
        assert_eq!(expand(&native), expected);
        assert!(
            native.spans.len() < expected.len(),
            "nearby buckets share a span"
        );
    }
}
