//! Latency histogram in nanoseconds, with the buckets of a Prometheus
//! native histogram of schema 2 in seconds.
//!
//! Native histograms of schema 2 split every power of two into four buckets
//! with exponential boundaries: bucket `i` holds values in
//! `(2^((i-1)/4), 2^(i/4)]` seconds. The kernel counts durations in those
//! very buckets, so the agent exports them as a native histogram without
//! any approximation, and as classic buckets at powers of two of seconds
//! (boundaries of the same grid). A bucket's upper bound is `2^(1/4)`
//! (1.19) times its lower: a quantile read from it is within 19%. Zero goes
//! to a bucket of its own (the zero bucket); values at or above [`MAX_NS`]
//! do not fit and are counted as discarded by the caller.
//!
//! A value of `x` ns falls in native bucket
//! `ceil(4·log2(x·10⁻⁹)) = ceil(4·log2(x) − 4·log2(10⁹))`. With
//! `k = floor(log2 x)` and `f = x / 2^k` in `[1, 2)`, that is
//! `4k − 119 + #{j in 0..4 : f > 2^((j + φ)/4)}`, where `φ = 0.5894…` is the
//! fractional part of `4·log2(10⁹)`. The four thresholds are irrational, so
//! comparing `f` scaled to 40 bits against them rounded up is exact for
//! every integer `x`. BPF has no count-leading-zeros instruction, so
//! `log2` is a branchy binary search.

/// Largest power of two covered: values must be below `2^MAX_POW2` ns (about 18 minutes).
pub const MAX_POW2: u32 = 40;
/// Exclusive upper bound of the histogram in nanoseconds.
pub const MAX_NS: u64 = 1 << MAX_POW2;
/// Native histogram schema of the buckets: four per power of two.
pub const SCHEMA: i32 = 2;
/// Native bucket index of 1 ns (the first positive bucket).
pub const FIRST_INDEX: i32 = -119;
/// Native bucket index of `MAX_NS - 1`.
pub const LAST_INDEX: i32 = 41;
/// Number of buckets: the zero bucket, then native indices `FIRST_INDEX..=LAST_INDEX`.
pub const BUCKETS: usize = (LAST_INDEX - FIRST_INDEX) as usize + 2;

/// The smallest mantissa (a value scaled to `[2^40, 2^41)`) above
/// `2^40 · 2^((j + φ)/4)`, for `j` in `0..4`: a mantissa at or above
/// threshold `j` is past boundary `j` of its power of two. The first three
/// boundaries are irrational (rounded up); the last is `10⁹ · 2^11`
/// exactly, the mantissa of every whole power of two of seconds, which
/// belongs below the boundary (native buckets include their upper bound).
const THRESHOLDS: [u64; 4] = [
    1_217_748_085_763,
    1_448_154_687_871,
    1_722_155_858_440,
    2_048_000_000_001,
];

/// Floor of log2 of `v` for `v > 0`.
#[inline(always)]
pub fn log2_floor(mut v: u64) -> u32 {
    let mut r = 0;
    if v >= 1 << 32 {
        v >>= 32;
        r += 32;
    }
    if v >= 1 << 16 {
        v >>= 16;
        r += 16;
    }
    if v >= 1 << 8 {
        v >>= 8;
        r += 8;
    }
    if v >= 1 << 4 {
        v >>= 4;
        r += 4;
    }
    if v >= 1 << 2 {
        v >>= 2;
        r += 2;
    }
    if v >= 1 << 1 {
        r += 1;
    }
    r
}

/// Bucket of `ns` in [`Histogram::buckets`]: 0 for zero, else 1 + its
/// native index − [`FIRST_INDEX`]. The caller guarantees `ns < MAX_NS`.
#[inline(always)]
pub fn bucket_index(ns: u64) -> usize {
    if ns == 0 {
        return 0;
    }
    let k = log2_floor(ns);
    let mantissa = ns << (MAX_POW2 - k);
    let above = (mantissa >= THRESHOLDS[0]) as u32
        + (mantissa >= THRESHOLDS[1]) as u32
        + (mantissa >= THRESHOLDS[2]) as u32
        + (mantissa >= THRESHOLDS[3]) as u32;
    // 4k - 119 + above, shifted by 1 - FIRST_INDEX = 120.
    (4 * k + above + 1) as usize
}

/// Native index of bucket `i` (`i >= 1`).
pub const fn native_index(i: usize) -> i32 {
    i as i32 - 1 + FIRST_INDEX
}

/// Upper bound of bucket `i`, in seconds (0 for the zero bucket):
/// `2^(native index / 4)` (exact at whole powers of two; within an ulp
/// between them).
pub fn bucket_upper_seconds(i: usize) -> f64 {
    /// `2^(j/4)` for `j` in `0..4`.
    const QUARTERS: [f64; 4] = [
        1.0,
        1.189_207_115_002_721,
        core::f64::consts::SQRT_2,
        1.681_792_830_507_429,
    ];
    if i == 0 {
        return 0.0;
    }
    let index = native_index(i);
    let (whole, quarter) = (index.div_euclid(4), index.rem_euclid(4));
    // 2^whole, built from its exponent bits (no libm in no_std).
    let power = f64::from_bits(((whole + 1023) as u64) << 52);
    power * QUARTERS[quarter as usize]
}

/// One latency histogram as the kernel keeps it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Histogram {
    /// Observations per bucket: the zero bucket, then native buckets.
    pub buckets: [u64; BUCKETS],
    /// Sum of all observed values, in nanoseconds.
    pub sum_ns: u64,
}

impl Histogram {
    /// An empty histogram.
    pub const ZERO: Histogram = Histogram {
        buckets: [0; BUCKETS],
        sum_ns: 0,
    };
}

#[cfg(feature = "user")]
// SAFETY: `Histogram` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for Histogram {}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// The native bucket of `ns` computed in floating point, with the one
    /// kind of exact boundary an integer can hit decided exactly: whole
    /// powers of two of seconds, `10⁹ · 2^m` ns.
    fn reference(ns: u64) -> i32 {
        let power_of_two_seconds =
            ns.is_multiple_of(1_000_000_000) && (ns / 1_000_000_000).is_power_of_two();
        if power_of_two_seconds {
            return 4 * (ns / 1_000_000_000).trailing_zeros() as i32;
        }
        (4.0 * (ns as f64).log2() - 4.0 * 1e9f64.log2()).ceil() as i32
    }

    #[test]
    fn thresholds_follow_the_grid() {
        let phi = 4.0 * 1e9f64.log2() - 119.0;
        for (j, &t) in THRESHOLDS.iter().enumerate() {
            let exact = (1u64 << 40) as f64 * ((j as f64 + phi) / 4.0).exp2();
            assert!(
                (t as f64 - exact).abs() <= 1.0,
                "threshold {j}: {t} against {exact}"
            );
        }
        assert_eq!(THRESHOLDS[3], 1_000_000_000 * 2048 + 1);
    }

    #[test]
    fn zero_has_its_own_bucket() {
        assert_eq!(bucket_index(0), 0);
        assert_eq!(bucket_index(1), 1);
        assert_eq!(native_index(1), FIRST_INDEX);
    }

    #[test]
    fn buckets_follow_the_native_grid() {
        // Every value up to 2^20, then values around every boundary and
        // every power of two up to MAX_NS.
        let mut values: std::vec::Vec<u64> = (1..1 << 20).collect();
        for i in 1..BUCKETS {
            let edge = (bucket_upper_seconds(i) * 1e9) as u64;
            values.extend(edge.saturating_sub(2)..=edge + 2);
        }
        for k in 0..MAX_POW2 {
            values.extend([(1u64 << k) - 1, 1 << k, (1 << k) + 1]);
        }
        for ns in values.into_iter().filter(|&v| v > 0 && v < MAX_NS) {
            let i = bucket_index(ns);
            assert_eq!(native_index(i), reference(ns), "{ns} ns");
            assert!(i < BUCKETS, "{ns} ns");
            let (lower, upper) = (bucket_upper_seconds(i - 1), bucket_upper_seconds(i));
            let seconds = ns as f64 * 1e-9;
            assert!(
                seconds <= upper * (1.0 + 1e-12) && seconds > lower * (1.0 - 1e-12),
                "{ns} ns"
            );
        }
    }

    #[test]
    fn largest_value_fits() {
        assert_eq!(bucket_index(MAX_NS - 1), BUCKETS - 1);
        assert_eq!(native_index(BUCKETS - 1), LAST_INDEX);
    }

    #[test]
    fn relative_width_is_bounded() {
        for i in 2..BUCKETS {
            let ratio = bucket_upper_seconds(i) / bucket_upper_seconds(i - 1);
            assert!((ratio - 2f64.powf(0.25)).abs() < 1e-12, "bucket {i}");
        }
    }

    #[test]
    fn log2_matches_leading_zeros() {
        for v in [1u64, 2, 3, 255, 256, 1 << 20, (1 << 33) + 5, u64::MAX] {
            assert_eq!(log2_floor(v), 63 - v.leading_zeros());
        }
    }
}
