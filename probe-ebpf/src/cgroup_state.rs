//! Per-cgroup state of the signals, found from the cgroup itself.
//!
//! The default build keeps it in each cgroup's local storage
//! (`BPF_MAP_TYPE_CGRP_STORAGE`, Linux 6.2 and later): no hashing on the hot
//! path, and the kernel frees it with the cgroup. The `cgroup-state-hash` build, for
//! older kernels, keeps it in hash maps keyed by cgroup id, which the agent
//! reclaims when a cgroup goes. Either way, a cgroup's first state also lists
//! its id in `CGROUPS`, which is how the agent finds what to read.

use aya_ebpf::EbpfContext;
use probe_common::{memory::CgroupMemory, runqueue::CgroupRunqueue, syscall::CgroupSyscalls};

use crate::{cgroups::register, counters::bump, kernel::KernelPtr};

/// Counters a signal bumps when its state cannot be had.
pub struct StateCounters {
    /// The state could not be allocated (or its map is full).
    pub unavailable: u32,
    /// The cgroup's id could not be read.
    pub unreadable: u32,
    /// The cgroup could not be listed for the agent.
    pub set_full: u32,
}

/// State that knows whether its cgroup is listed for the agent yet.
pub trait Listed {
    /// Non-zero once listed.
    fn registered(&mut self) -> &mut u64;
}

impl Listed for CgroupRunqueue {
    fn registered(&mut self) -> &mut u64 {
        &mut self.registered
    }
}

impl Listed for CgroupSyscalls {
    fn registered(&mut self) -> &mut u64 {
        &mut self.registered
    }
}

impl Listed for CgroupMemory {
    fn registered(&mut self) -> &mut u64 {
        &mut self.registered
    }
}

/// The memory state of `cgroup`, created on first use.
#[inline(always)]
pub fn memory<C: EbpfContext>(
    ctx: &C,
    cgroup: KernelPtr,
    counters: &StateCounters,
) -> Option<&'static mut CgroupMemory> {
    listed(ctx, cgroup, store::memory(cgroup), counters)
}

/// The run-queue state of `cgroup`, created on first use.
#[inline(always)]
pub fn runq<C: EbpfContext>(
    ctx: &C,
    cgroup: KernelPtr,
    counters: &StateCounters,
) -> Option<&'static mut CgroupRunqueue> {
    listed(ctx, cgroup, store::runq(cgroup), counters)
}

/// The syscall state of `cgroup`, created on first use.
#[inline(always)]
pub fn syscalls<C: EbpfContext>(
    ctx: &C,
    cgroup: KernelPtr,
    counters: &StateCounters,
) -> Option<&'static mut CgroupSyscalls> {
    listed(ctx, cgroup, store::syscalls(cgroup), counters)
}

/// `state`, after listing its cgroup if that is not done yet.
#[inline(always)]
fn listed<C: EbpfContext, S: Listed>(
    ctx: &C,
    cgroup: KernelPtr,
    state: *mut S,
    counters: &StateCounters,
) -> Option<&'static mut S> {
    // SAFETY: null, or the cgroup's state in a map value (or its local
    // storage), live for this program's run.
    let Some(state) = (unsafe { state.as_mut() }) else {
        bump(counters.unavailable);
        return None;
    };
    if *state.registered() == 0 {
        register(
            ctx,
            cgroup,
            state.registered(),
            counters.unreadable,
            counters.set_full,
        );
    }
    Some(state)
}

#[cfg(not(feature = "cgroup-state-hash"))]
mod store {
    use aya_ebpf::{bindings::cgroup, btf_maps::CgrpStorage, macros::btf_map};
    use probe_common::{memory::CgroupMemory, runqueue::CgroupRunqueue, syscall::CgroupSyscalls};

    use crate::{kernel::KernelPtr, names::named};

    #[btf_map]
    static RUNQ_STORAGE: CgrpStorage<CgroupRunqueue> = CgrpStorage::new();

    #[btf_map]
    static SYSCALL_STORAGE: CgrpStorage<CgroupSyscalls> = CgrpStorage::new();

    #[btf_map]
    static MEMORY_STORAGE: CgrpStorage<CgroupMemory> = CgrpStorage::new();

    named!(RUNQ_STORAGE, probe_common::runqueue::STORAGE_MAP);
    named!(SYSCALL_STORAGE, probe_common::syscall::STORAGE_MAP);
    named!(MEMORY_STORAGE, probe_common::memory::STORAGE_MAP);

    #[inline(always)]
    pub fn runq(cgroup: KernelPtr) -> *mut CgroupRunqueue {
        // SAFETY: `cgroup` is a task's RCU-protected `css_set->dfl_cgrp`.
        unsafe { RUNQ_STORAGE.get_or_insert_ptr_mut(cgroup.as_ptr() as *mut cgroup, None) }
    }

    #[inline(always)]
    pub fn syscalls(cgroup: KernelPtr) -> *mut CgroupSyscalls {
        // SAFETY: as above.
        unsafe { SYSCALL_STORAGE.get_or_insert_ptr_mut(cgroup.as_ptr() as *mut cgroup, None) }
    }

    #[inline(always)]
    pub fn memory(cgroup: KernelPtr) -> *mut CgroupMemory {
        // SAFETY: as above.
        unsafe { MEMORY_STORAGE.get_or_insert_ptr_mut(cgroup.as_ptr() as *mut cgroup, None) }
    }
}

#[cfg(feature = "cgroup-state-hash")]
mod store {
    use aya_ebpf::{
        bindings::BPF_F_NO_PREALLOC,
        macros::map,
        maps::{Array, HashMap},
    };
    use probe_common::{
        cgroups::MAX_CGROUPS, memory::CgroupMemory, runqueue::CgroupRunqueue,
        syscall::CgroupSyscalls,
    };

    use crate::{
        hash_entry::get_or_insert_zeroed,
        kernel::{KernelPtr, cgroup_id},
        names::named,
    };

    #[map]
    static RUNQ_STATE: HashMap<u64, CgroupRunqueue> =
        HashMap::with_max_entries(MAX_CGROUPS, BPF_F_NO_PREALLOC);

    #[map]
    static SYSCALL_STATE: HashMap<u64, CgroupSyscalls> =
        HashMap::with_max_entries(MAX_CGROUPS, BPF_F_NO_PREALLOC);

    #[map]
    static MEMORY_STATE: HashMap<u64, CgroupMemory> =
        HashMap::with_max_entries(MAX_CGROUPS, BPF_F_NO_PREALLOC);

    named!(RUNQ_STATE, probe_common::runqueue::STATE_MAP);
    named!(SYSCALL_STATE, probe_common::syscall::STATE_MAP);
    named!(MEMORY_STATE, probe_common::memory::STATE_MAP);

    /// All-zero initial values.
    #[map]
    static ZERO_RUNQ: Array<CgroupRunqueue> = Array::with_max_entries(1, 0);

    #[map]
    static ZERO_SYSCALLS: Array<CgroupSyscalls> = Array::with_max_entries(1, 0);

    #[map]
    static ZERO_MEMORY: Array<CgroupMemory> = Array::with_max_entries(1, 0);

    #[inline(always)]
    fn state<V>(map: &HashMap<u64, V>, zero: &Array<V>, cgroup: KernelPtr) -> *mut V {
        cgroup_id(cgroup)
            .and_then(|id| get_or_insert_zeroed(map, &id, zero))
            .unwrap_or(core::ptr::null_mut())
    }

    #[inline(always)]
    pub fn runq(cgroup: KernelPtr) -> *mut CgroupRunqueue {
        state(&RUNQ_STATE, &ZERO_RUNQ, cgroup)
    }

    #[inline(always)]
    pub fn syscalls(cgroup: KernelPtr) -> *mut CgroupSyscalls {
        state(&SYSCALL_STATE, &ZERO_SYSCALLS, cgroup)
    }

    #[inline(always)]
    pub fn memory(cgroup: KernelPtr) -> *mut CgroupMemory {
        state(&MEMORY_STATE, &ZERO_MEMORY, cgroup)
    }
}
