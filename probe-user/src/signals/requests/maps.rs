//! The request signal's kernel map: each (cgroup, listening port)'s
//! statistics.

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{HashMap as BpfHashMap, MapData},
};
use probe_common::requests::{self, PortKey, PortStats};

use crate::collect::{
    batch,
    maps::{RawSnapshot, take},
};

/// Handles on the request signal's map.
pub struct Maps {
    ports: BpfHashMap<MapData, PortKey, PortStats>,
}

impl Maps {
    /// Takes it out of the loaded object.
    pub fn take(ebpf: &mut Ebpf) -> Result<Self> {
        Ok(Self {
            ports: take(ebpf, requests::PORTS_MAP)?,
        })
    }

    /// Lists every (cgroup, port) pair.
    pub fn read(&self, raw: &mut RawSnapshot) -> Result<()> {
        batch::entries(&self.ports, &mut raw.request_ports).context("reading REQUEST_PORTS")
    }

    /// Drops one (cgroup, port) entry.
    pub fn forget_port(&mut self, key: &PortKey) {
        // Absent already is fine: the goal is that it is gone.
        let _ = self.ports.remove(key);
    }
}
