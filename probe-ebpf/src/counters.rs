//! Per-CPU counters of events that could not be recorded or were discarded.

use aya_ebpf::{macros::map, maps::PerCpuArray};
use probe_common::counters::COUNT;

use crate::names::named;

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNT, 0);
named!(COUNTERS, probe_common::counters::MAP);

/// Adds one to counter `index` (see `probe_common::counters`).
#[inline(always)]
pub fn bump(index: u32) {
    if let Some(counter) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: this CPU's slot of the array, live for this program's run:
        // no other CPU writes it, and tracing programs do not nest on one CPU.
        unsafe { *counter += 1 };
    }
}
