//! Log-linear latency histogram in nanoseconds.
//!
//! Each power of two is split into [`SUBS`] equal sub-buckets, so a bucket
//! `[lo, hi)` always has `hi <= lo * 1.25`: any quantile read from the kernel
//! histogram is within 25% of the true value (12.5% when the bucket midpoint
//! is reported). Values below 8 ns get one bucket each. Values at or above
//! [`MAX_NS`] do not fit and are counted as discarded by the caller.

/// log2 of the number of sub-buckets per power of two.
pub const SUB_BITS: u32 = 2;
/// Sub-buckets per power of two.
pub const SUBS: u64 = 1 << SUB_BITS;
/// Largest power of two covered: values must be below `2^MAX_POW2` ns (about 18 minutes).
pub const MAX_POW2: u32 = 40;
/// Exclusive upper bound of the histogram in nanoseconds.
pub const MAX_NS: u64 = 1 << MAX_POW2;
/// Number of buckets.
pub const BUCKETS: usize = ((MAX_POW2 - SUB_BITS) as usize) * SUBS as usize + SUBS as usize;

/// Floor of log2 of `v` for `v > 0`, written as a branchy binary search
/// because BPF has no count-leading-zeros instruction.
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

/// Bucket index of `ns`; the caller guarantees `ns < MAX_NS`.
#[inline(always)]
pub fn bucket_index(ns: u64) -> usize {
    if ns < SUBS {
        return ns as usize;
    }
    let k = log2_floor(ns);
    let sub = (ns >> (k - SUB_BITS)) & (SUBS - 1);
    ((k - SUB_BITS + 1) as u64 * SUBS + sub) as usize
}

/// Inclusive lower bound of bucket `i`, in nanoseconds.
pub fn bucket_lower_ns(i: usize) -> u64 {
    let subs = SUBS as usize;
    if i < subs {
        return i as u64;
    }
    let k = (i / subs) as u32 + SUB_BITS - 1;
    let sub = (i % subs) as u64;
    (1u64 << k) + (sub << (k - SUB_BITS))
}

/// Exclusive upper bound of bucket `i`, in nanoseconds.
pub fn bucket_upper_ns(i: usize) -> u64 {
    if i + 1 < BUCKETS {
        bucket_lower_ns(i + 1)
    } else {
        MAX_NS
    }
}

/// One latency histogram as the kernel keeps it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Histogram {
    /// Observations per bucket.
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
    use super::*;

    #[test]
    fn small_values_get_one_bucket_each() {
        for v in 0..8 {
            assert_eq!(bucket_index(v), v as usize);
            assert_eq!(bucket_lower_ns(v as usize), v);
        }
    }

    #[test]
    fn powers_of_two_start_a_bucket() {
        for k in 3..MAX_POW2 {
            let v = 1u64 << k;
            let i = bucket_index(v);
            assert_eq!(bucket_lower_ns(i), v, "2^{k}");
            assert_eq!(bucket_index(v - 1), i - 1, "just below 2^{k}");
            assert_eq!(bucket_upper_ns(i - 1), v);
        }
    }

    #[test]
    fn every_edge_maps_to_its_own_bucket() {
        for i in 0..BUCKETS {
            let lo = bucket_lower_ns(i);
            let hi = bucket_upper_ns(i);
            assert_eq!(bucket_index(lo), i, "lower edge of bucket {i}");
            assert_eq!(bucket_index(hi - 1), i, "last value of bucket {i}");
            assert!(hi > lo);
        }
    }

    #[test]
    fn relative_width_is_bounded() {
        for i in SUBS as usize..BUCKETS {
            let (lo, hi) = (bucket_lower_ns(i), bucket_upper_ns(i));
            assert!(
                (hi - lo) * 4 <= lo,
                "bucket {i} [{lo}, {hi}) is wider than 25%"
            );
        }
    }

    #[test]
    fn largest_value_fits() {
        assert_eq!(bucket_index(MAX_NS - 1), BUCKETS - 1);
        assert_eq!(bucket_upper_ns(BUCKETS - 1), MAX_NS);
    }

    #[test]
    fn log2_matches_leading_zeros() {
        for v in [1u64, 2, 3, 255, 256, 1 << 20, (1 << 33) + 5, u64::MAX] {
            assert_eq!(log2_floor(v), 63 - v.leading_zeros());
        }
    }
}
