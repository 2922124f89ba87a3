//! Helpers the unit tests share.

use probe_common::histogram::{Histogram, bucket_index};

/// A kernel histogram of `values` (nanoseconds), as the programs record them.
pub fn histogram_of(values: &[u64]) -> Histogram {
    let mut hist = Histogram::ZERO;
    for &v in values {
        hist.buckets[bucket_index(v)] += 1;
        hist.sum_ns += v;
    }
    hist
}
