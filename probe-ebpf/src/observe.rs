//! Adding an observation to a latency histogram shared between CPUs.

use probe_common::histogram::{BUCKETS, Histogram, MAX_NS, bucket_index};

use crate::{atomic::atomic_add, counters::bump, kernel::ktime_ns};

/// Counts `ns` in its bucket and adds it to the sum. The caller guarantees
/// `ns < histogram::MAX_NS`.
///
/// # Safety
/// `hist` must point to a histogram in a map value that stays live for this
/// program's run (other CPUs may add to it at the same time: the adds are
/// atomic).
#[inline(always)]
pub unsafe fn observe(hist: *mut Histogram, ns: u64) {
    let index = bucket_index(ns);
    if index >= BUCKETS {
        return;
    }
    // SAFETY: `index` is within the buckets, and `hist` is live (the caller's
    // guarantee), so both targets are `u64`s in a live map value.
    unsafe {
        atomic_add((*hist).buckets.as_mut_ptr().add(index), 1);
        atomic_add(&raw mut (*hist).sum_ns, ns);
    }
}

/// Observes `since_ns` until now into `hist`; the duration observed. One
/// too long for the histogram is counted at `too_long` (a `counters`
/// index) instead.
///
/// # Safety
/// As [`observe`].
#[inline(always)]
pub unsafe fn observe_since(hist: *mut Histogram, since_ns: u64, too_long: u32) -> Option<u64> {
    let ns = ktime_ns().saturating_sub(since_ns);
    if ns >= MAX_NS {
        bump(too_long);
        return None;
    }
    // SAFETY: the caller's guarantee.
    unsafe { observe(hist, ns) };
    Some(ns)
}
