//! Direct reads of the probe's kernel maps, to check kernel-side state that
//! no metric shows (such as stale per-thread entries).

use aya::maps::{Array, Map, MapData, loaded_maps};
use probe_common::syscall::{SLOTS_MAP, SyscallSlot};

/// The syscall entry slots of the running agent.
pub struct SyscallSlots {
    slots: Array<MapData, SyscallSlot>,
    mask: u32,
}

impl SyscallSlots {
    /// Finds the map of the most recently loaded agent.
    pub fn open() -> SyscallSlots {
        let info = loaded_maps()
            .filter_map(Result::ok)
            .filter(|m| m.name_as_str() == Some(SLOTS_MAP))
            .max_by_key(|m| m.id())
            .expect("no SYSCALL_SLOTS map is loaded: is the agent running?");
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
