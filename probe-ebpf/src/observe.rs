//! Adding an observation to a latency histogram shared between CPUs.

use probe_common::histogram::{BUCKETS, Histogram, bucket_index};

use crate::atomic::atomic_add;

/// Counts `ns` in its bucket and adds it to the sum. The caller guarantees
/// `ns < histogram::MAX_NS`.
#[inline(always)]
pub fn observe(hist: *mut Histogram, ns: u64) {
    let index = bucket_index(ns);
    if index >= BUCKETS {
        return;
    }
    unsafe {
        atomic_add((*hist).buckets.as_mut_ptr().add(index), 1);
        atomic_add(&raw mut (*hist).sum_ns, ns);
    }
}
