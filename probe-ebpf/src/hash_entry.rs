//! Get-or-create for hash map entries shared between CPUs.

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    maps::{Array, HashMap},
};

/// The entry of `key`, created from `init` if absent. `None` when it cannot
/// be created (the map is full). Losing the creation race to another CPU is
/// fine: the other CPU's entry is returned.
#[inline(always)]
pub fn get_or_insert<K, V>(map: &HashMap<K, V>, key: &K, init: &V) -> Option<*mut V> {
    map.get_ptr_mut(key).or_else(|| create(map, key, init).0)
}

/// The same for values too large to zero on the 512-byte BPF stack (zeroing
/// one there compiles to a byte loop): an absent entry is created from
/// `zero`, a one-entry array nothing writes, looked up only then.
#[inline(always)]
pub fn get_or_insert_zeroed<K, V>(map: &HashMap<K, V>, key: &K, zero: &Array<V>) -> Option<*mut V> {
    map.get_ptr_mut(key)
        .or_else(|| create(map, key, zero.get(0)?).0)
}

/// Creates the entry of `key` from `init` unless another CPU just did;
/// returns it, and whether this call made it.
#[inline(always)]
pub fn create<K, V>(map: &HashMap<K, V>, key: &K, init: &V) -> (Option<*mut V>, bool) {
    let made = map.insert(key, init, BPF_NOEXIST.into()).is_ok();
    (map.get_ptr_mut(key), made)
}
