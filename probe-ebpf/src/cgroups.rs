//! The set of cgroups that have storage: the agent lists it to find the
//! cgroup local storages to read.

use aya_ebpf::{EbpfContext, macros::map, maps::HashMap};
use aya_log_ebpf::debug;
use probe_common::cgroups::MAX_CGROUPS;

use crate::{
    counters::bump,
    kernel::{KernelPtr, cgroup_id},
    names::named,
};

#[map]
static CGROUPS: HashMap<u64, u8> = HashMap::with_max_entries(MAX_CGROUPS, 0);
named!(CGROUPS, probe_common::cgroups::CGROUPS_MAP);

/// Lists `cgroup` for the agent and sets `*registered` once it is listed.
/// Kept out of line: it runs once per cgroup and storage, not per event.
/// `unreadable` and `full` are the counters to bump on failure; a failure is
/// retried on the cgroup's next event.
#[inline(never)]
pub fn register<C: EbpfContext>(
    ctx: &C,
    cgroup: KernelPtr,
    registered: &mut u64,
    unreadable: u32,
    full: u32,
) {
    let Some(id) = cgroup_id(cgroup) else {
        bump(unreadable);
        return;
    };
    if CGROUPS.insert(id, 1u8, 0).is_ok() {
        *registered = 1;
    } else {
        bump(full);
        debug!(ctx, "cgroup set full, cgroup {} not listed yet", id);
    }
}
