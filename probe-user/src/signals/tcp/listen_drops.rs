//! The drops the kernel counted at each listener, where it drops (see
//! probe-ebpf's `listen_drops`), when every program that counts overflows
//! is attached (SYN-queue drops too when their program is).
//! Entries of listeners that closed are deleted, so the map holds live
//! listeners only.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{HashMap as BpfHashMap, MapData},
};
use probe_common::{
    programs::TCP_SYN_QUEUE_FULL,
    tcp::{DROPS_MAP, ListenerDrops, ListenerKey, ListenerRecord},
};

use super::{hooks::OVERFLOW_PROGRAMS, listeners::ListenerId};
use crate::{
    collect::maps::take,
    kernel::{
        hooks::{self, Planned},
        loader,
    },
};

/// The kernel's per-listener drop counts.
pub struct ListenDrops {
    map: BpfHashMap<MapData, ListenerKey, ListenerDrops>,
    /// Whether SYN-queue drops are counted.
    pub syn_drops: bool,
    /// Keys that matched no listener at the last read.
    unmatched: HashSet<ListenerKey>,
}

impl ListenDrops {
    /// The counts, if every program that counts overflows is attached (a
    /// missing one would leave some uncounted: the agent then splits
    /// overflows in proportion instead, see `overflows`), and the SYN-queue
    /// program too if `plans` had it (the programs were told it would be).
    /// Without the SYN-queue program, the programs tell a SYN-queue drop
    /// by the queue's length, which needs `kernel_reads`.
    pub fn attached(
        ebpf: &mut Ebpf,
        plans: &[Planned],
        kernel_reads: bool,
    ) -> Result<Option<Self>> {
        let syn_drops = loader::attached(ebpf, TCP_SYN_QUEUE_FULL);
        let complete = OVERFLOW_PROGRAMS
            .iter()
            .all(|name| loader::attached(ebpf, name))
            && syn_drops == hooks::planned(plans, TCP_SYN_QUEUE_FULL)
            && (syn_drops || kernel_reads);
        if !complete {
            return Ok(None);
        }
        Ok(Some(ListenDrops {
            map: take(ebpf, DROPS_MAP)?,
            syn_drops,
            unmatched: HashSet::new(),
        }))
    }

    /// Each listener's counts (a listener without an entry has dropped
    /// nothing). An entry that matches no listener twice running is
    /// deleted: its listener closed (once is not enough: a listener opened
    /// after the iterator ran may already have dropped).
    pub fn read(
        &mut self,
        listeners: &BTreeMap<ListenerId, ListenerRecord>,
    ) -> Result<HashMap<ListenerId, ListenerDrops>> {
        let mut counts = HashMap::new();
        let mut unmatched = HashSet::new();
        let mut gone = Vec::new();
        for entry in self.map.iter() {
            let (key, drops) = entry.with_context(|| format!("reading {DROPS_MAP}"))?;
            let id = (key.netns, key.inode);
            if listeners.contains_key(&id) {
                counts.insert(id, drops);
            } else if self.unmatched.contains(&key) {
                gone.push(key);
            } else {
                unmatched.insert(key);
            }
        }
        for key in gone {
            // Absent already is fine: the goal is that it is gone.
            let _ = self.map.remove(&key);
        }
        self.unmatched = unmatched;
        Ok(counts)
    }
}
