//! Direct reads of the probe's kernel maps, to check kernel-side state that
//! no metric shows (such as stale per-thread entries).

use aya::maps::{Array, HashMap, Map, MapData, MapInfo, loaded_maps};
use probe_common::{
    cgroups::CGROUPS_MAP,
    runqueue::{PREEMPTIONS_MAP, PreemptionKey},
    syscall::{SLOTS_MAP, SyscallSlot},
    tcp::{FILL_MAP, TcpFill},
};

/// The newest loaded map called `name` (the running agent's). The kernel
/// keeps the first 15 bytes of a map's name.
fn newest(name: &str) -> MapInfo {
    let kept = &name[..name.len().min(15)];
    loaded_maps()
        .filter_map(Result::ok)
        .filter(|m| m.name_as_str() == Some(kept))
        .max_by_key(|m| m.id())
        .unwrap_or_else(|| panic!("no {name} map is loaded: is the agent running?"))
}

fn hash_map<K: aya::Pod, V: aya::Pod>(name: &str) -> HashMap<MapData, K, V> {
    let data = MapData::from_id(newest(name).id()).unwrap();
    HashMap::try_from(Map::HashMap(data)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every cgroup id the running agent's kernel maps hold: the listed cgroups,
/// both sides of every preemption pair, and the accept-queue fill keys.
pub fn cgroup_ids_in_kernel_maps() -> Vec<u64> {
    let mut ids: Vec<u64> = hash_map::<u64, u8>(CGROUPS_MAP)
        .keys()
        .map(Result::unwrap)
        .collect();
    for key in hash_map::<PreemptionKey, u64>(PREEMPTIONS_MAP).keys() {
        let key = key.unwrap();
        ids.extend([key.victim, key.by]);
    }
    ids.extend(
        hash_map::<u64, TcpFill>(FILL_MAP)
            .keys()
            .map(Result::unwrap),
    );
    ids
}

/// The syscall entry slots of the running agent.
pub struct SyscallSlots {
    slots: Array<MapData, SyscallSlot>,
    mask: u32,
}

impl SyscallSlots {
    /// Finds the map of the most recently loaded agent.
    pub fn open() -> SyscallSlots {
        let info = newest(SLOTS_MAP);
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
