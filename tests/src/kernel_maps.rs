//! Direct reads of the probe's kernel maps, to check kernel-side state that
//! no metric shows (such as stale per-thread entries).

use std::fs;

use aya::maps::{Array, HashMap, Map, MapData, MapInfo, loaded_maps};
use probe_common::{
    cgroups::CGROUPS_MAP,
    runqueue::{self, CgroupRunqueue, PREEMPTIONS_MAP, PreemptionKey},
    syscall::{self, CgroupSyscalls, SLOTS_MAP, SyscallSlot},
    tcp::{FILL_MAP, TcpFill},
};

/// Ids of the BPF maps process `pid` holds open (from its fdinfo).
fn map_ids_of(pid: u32) -> Vec<u32> {
    fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .unwrap_or_else(|e| panic!("cannot list the agent's fds: {e}"))
        .filter_map(|entry| fs::read_to_string(entry.ok()?.path()).ok())
        .filter_map(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("map_id:")?.trim().parse().ok())
        })
        .collect()
}

/// The map called `name` that the agent `pid` holds, if any (the kernel
/// keeps the first 15 bytes of a map's name).
fn agent_map(pid: u32, name: &str) -> Option<MapInfo> {
    let kept = &name[..name.len().min(15)];
    let ids = map_ids_of(pid);
    loaded_maps()
        .filter_map(Result::ok)
        .find(|m| ids.contains(&m.id()) && m.name_as_str() == Some(kept))
}

fn hash_map<K: aya::Pod, V: aya::Pod>(pid: u32, name: &str) -> Option<HashMap<MapData, K, V>> {
    let data = MapData::from_id(agent_map(pid, name)?.id()).unwrap();
    Some(HashMap::try_from(Map::HashMap(data)).unwrap_or_else(|e| panic!("{name}: {e}")))
}

fn keys<V: aya::Pod>(pid: u32, name: &str) -> Vec<u64> {
    hash_map::<u64, V>(pid, name)
        .map(|map| map.keys().map(Result::unwrap).collect())
        .unwrap_or_default()
}

/// The bound (`max_entries`) of the map called `name` of agent `pid`.
pub fn max_entries(pid: u32, name: &str) -> u32 {
    agent_map(pid, name)
        .unwrap_or_else(|| panic!("the agent has no map {name}"))
        .max_entries()
}

/// Every cgroup id the kernel maps of agent `pid` hold: the listed cgroups,
/// both sides of every preemption pair, the accept-queue fill keys, and the
/// per-cgroup state maps (in the `cgroup-state-hash` build).
pub fn cgroup_ids_in_kernel_maps(pid: u32) -> Vec<u64> {
    let mut ids = keys::<u8>(pid, CGROUPS_MAP);
    let preemptions =
        hash_map::<PreemptionKey, u64>(pid, PREEMPTIONS_MAP).expect("no preemption map");
    for key in preemptions.keys() {
        let key = key.unwrap();
        ids.extend([key.victim, key.by]);
    }
    ids.extend(keys::<TcpFill>(pid, FILL_MAP));
    ids.extend(keys::<CgroupRunqueue>(pid, runqueue::STATE_MAP));
    ids.extend(keys::<CgroupSyscalls>(pid, syscall::STATE_MAP));
    ids
}

/// The syscall entry slots of the running agent.
pub struct SyscallSlots {
    slots: Array<MapData, SyscallSlot>,
    mask: u32,
}

impl SyscallSlots {
    /// The slots of agent `pid`.
    pub fn open(pid: u32) -> SyscallSlots {
        let info = agent_map(pid, SLOTS_MAP).expect("the agent has no SYSCALL_SLOTS map");
        let mask = info.max_entries() - 1;
        let data = MapData::from_id(info.id()).expect("cannot open SYSCALL_SLOTS");
        let slots = Array::try_from(Map::Array(data)).expect("SYSCALL_SLOTS is not an array");
        SyscallSlots { slots, mask }
    }

    /// Whether thread `tid` has an entry (is inside a syscall, as the probe sees it).
    pub fn has_entry(&self, tid: u32) -> bool {
        let slot = self.slots.get(&(tid & self.mask), 0).unwrap();
        slot.tid == tid && slot.entered_ns != 0
    }

    /// Threads with an entry.
    pub fn occupied(&self) -> Vec<u32> {
        self.slots
            .iter()
            .filter_map(Result::ok)
            .filter(|slot| slot.entered_ns != 0)
            .map(|slot| slot.tid)
            .collect()
    }
}
