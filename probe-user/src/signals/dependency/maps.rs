//! The dependency signal's kernel maps: each (cgroup, remote endpoint)'s
//! statistics, and how many pairs each cgroup holds of them.

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{HashMap as BpfHashMap, MapData},
};
use probe_common::dependency::{self, RemoteKey, RemoteStats};

use crate::collect::{
    batch,
    maps::{RawSnapshot, take},
};

/// Handles on the dependency signal's maps.
pub struct Maps {
    remotes: BpfHashMap<MapData, RemoteKey, RemoteStats>,
    /// The pairs the kernel made per cgroup, and those dropped here: what
    /// a cgroup holds of `remotes`, which the kernel keeps within its share.
    pairs_made: BpfHashMap<MapData, u64, u64>,
    pairs_dropped: BpfHashMap<MapData, u64, u64>,
}

impl Maps {
    /// Takes them out of the loaded object.
    pub fn take(ebpf: &mut Ebpf) -> Result<Self> {
        Ok(Self {
            remotes: take(ebpf, dependency::REMOTES_MAP)?,
            pairs_made: take(ebpf, dependency::PAIRS_MADE_MAP)?,
            pairs_dropped: take(ebpf, dependency::PAIRS_DROPPED_MAP)?,
        })
    }

    /// Lists every (cgroup, remote) pair.
    pub fn read(&self, raw: &mut RawSnapshot) -> Result<()> {
        batch::entries(&self.remotes, &mut raw.remotes).context("reading DEPENDENCY_REMOTES")
    }

    /// Drops a removed cgroup's pair counts.
    pub fn forget_cgroup(&mut self, id: u64) {
        // Absent already is fine: the goal is that they are gone.
        let _ = self.pairs_made.remove(&id);
        let _ = self.pairs_dropped.remove(&id);
    }

    /// Drops one (cgroup, remote) entry, and counts it dropped for its
    /// cgroup's share (unless the cgroup is forgotten already).
    pub fn forget_remote(&mut self, key: &RemoteKey) {
        if self.remotes.remove(key).is_ok() && self.pairs_made.get(&key.cgroup, 0).is_ok() {
            let dropped = self.pairs_dropped.get(&key.cgroup, 0).unwrap_or(0);
            let _ = self
                .pairs_dropped
                .insert(key.cgroup, dropped.wrapping_add(1), 0);
        }
    }
}
