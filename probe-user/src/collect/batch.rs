//! Reads a whole hash map in a few `BPF_MAP_LOOKUP_BATCH` calls (Linux
//! 5.6), hundreds of entries each, where aya's iterator makes two system
//! calls per entry (next key, then lookup): with thousands of preemption
//! pairs and cgroups, those calls were most of a sample. aya has no batch
//! operations; this is the one the sampler needs.

use std::{
    io,
    mem::size_of,
    os::fd::{AsFd, AsRawFd},
};

use aya::{
    Pod,
    maps::{HashMap, IterableMap, MapData},
};

use super::zeroed;

/// `BPF_MAP_LOOKUP_BATCH` in `enum bpf_cmd`.
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// Entries asked for per call at first (doubled when a hash bucket holds
/// more, which the kernel says with `ENOSPC`).
const FIRST_BATCH: usize = 256;

/// The `batch` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Where the kernel resumes a batch (a hash map's bucket index; room for
/// any map's key, as the interface allows).
#[repr(C, align(8))]
struct Token([u8; 64]);

/// Every (key, value) of `map`, appended to `out`.
pub fn entries<K: Pod, V: Pod>(
    map: &HashMap<MapData, K, V>,
    out: &mut Vec<(K, V)>,
) -> io::Result<()> {
    let fd = map.map().fd().as_fd().as_raw_fd();
    let mut batch = FIRST_BATCH;
    let mut keys: Vec<K> = vec![zeroed(); batch];
    let mut values: Vec<V> = vec![zeroed(); batch];
    let (mut token_in, mut token_out) = (Token([0; 64]), Token([0; 64]));
    let mut first = true;
    loop {
        let mut attr = BatchAttr {
            in_batch: if first {
                0
            } else {
                (&raw const token_in) as u64
            },
            out_batch: (&raw mut token_out) as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: batch as u32,
            map_fd: fd as u32,
            ..BatchAttr::default()
        };
        // SAFETY: `attr` describes buffers of `batch` keys and values of the
        // map's own key and value types, and two tokens; it outlives the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                &raw mut attr,
                size_of::<BatchAttr>(),
            )
        };
        let err = (ret < 0).then(io::Error::last_os_error);
        let read = attr.count as usize;
        match err.as_ref().and_then(io::Error::raw_os_error) {
            // One bucket holds more than a batch: ask for more at once.
            Some(libc::ENOSPC) if read == 0 => {
                batch *= 2;
                keys.resize(batch, keys[0]);
                values.resize(batch, values[0]);
                continue;
            }
            None | Some(libc::ENOENT) => {}
            Some(_) => return Err(err.unwrap()),
        }
        out.extend(
            keys[..read]
                .iter()
                .copied()
                .zip(values[..read].iter().copied()),
        );
        if err.is_some() {
            // ENOENT: the last entries were read.
            return Ok(());
        }
        std::mem::swap(&mut token_in, &mut token_out);
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::{FromRawFd, OwnedFd};

    use aya::maps::Map;

    use super::*;

    /// A new kernel hash map of `u64` to `u64` holding at most `max` entries.
    fn hash_map(max: u32) -> HashMap<MapData, u64, u64> {
        /// The `map_create` member of `union bpf_attr` (its first fields).
        #[repr(C)]
        struct CreateAttr {
            map_type: u32,
            key_size: u32,
            value_size: u32,
            max_entries: u32,
            map_flags: u32,
        }
        const BPF_MAP_CREATE: libc::c_long = 0;
        const BPF_MAP_TYPE_HASH: u32 = 1;
        let mut attr = CreateAttr {
            map_type: BPF_MAP_TYPE_HASH,
            key_size: 8,
            value_size: 8,
            max_entries: max,
            map_flags: 0,
        };
        // SAFETY: a valid `map_create` attribute that outlives the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_CREATE,
                &raw mut attr,
                size_of::<CreateAttr>(),
            )
        };
        assert!(
            fd >= 0,
            "cannot create a hash map: {}",
            io::Error::last_os_error()
        );
        // SAFETY: a new fd, owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        HashMap::try_from(Map::HashMap(MapData::from_fd(fd).unwrap())).unwrap()
    }

    #[test]
    fn reads_every_entry_over_many_batches() {
        let mut map = hash_map(16_384);
        let mut out = Vec::new();
        entries(&map, &mut out).unwrap();
        assert!(out.is_empty(), "an empty map has no entries");
        for key in 0..10_000u64 {
            map.insert(key, key * 3 + 1, 0).unwrap();
        }
        entries(&map, &mut out).unwrap();
        out.sort_unstable();
        let expected: Vec<(u64, u64)> = (0..10_000).map(|k| (k, k * 3 + 1)).collect();
        assert_eq!(out, expected);
    }
}
