//! Get-or-create for hash map entries shared between CPUs.

use aya_ebpf::{bindings::BPF_NOEXIST, maps::HashMap};

/// The entry of `key`, created from `init` if absent. `None` when it cannot
/// be created (the map is full). Losing the creation race to another CPU is
/// fine: the other CPU's entry is returned.
#[inline(always)]
pub fn get_or_insert<K, V>(map: &HashMap<K, V>, key: &K, init: &V) -> Option<*mut V> {
    if let Some(entry) = map.get_ptr_mut(key) {
        return Some(entry);
    }
    let _ = map.insert(key, init, BPF_NOEXIST.into());
    map.get_ptr_mut(key)
}
