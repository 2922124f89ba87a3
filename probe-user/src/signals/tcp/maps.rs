//! The TCP listener signal's kernel map: accept-queue fill per cgroup.

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{HashMap as BpfHashMap, MapData},
};
use probe_common::tcp::{self, TcpFill};

use crate::collect::{
    batch,
    maps::{RawSnapshot, take},
};

/// Handles on the TCP signal's fill map (the listeners are read by the
/// iterator, `listeners`).
pub struct Maps {
    fill: BpfHashMap<MapData, u64, TcpFill>,
}

impl Maps {
    /// Takes it out of the loaded object.
    pub fn take(ebpf: &mut Ebpf) -> Result<Self> {
        Ok(Self {
            fill: take(ebpf, tcp::FILL_MAP)?,
        })
    }

    /// Lists the fill histograms.
    pub fn read(&self, raw: &mut RawSnapshot) -> Result<()> {
        batch::entries(&self.fill, &mut raw.tcp_fill).context("reading TCP_FILL")
    }

    /// Drops a removed cgroup's accept-queue fill histogram.
    pub fn forget_fill(&mut self, id: u64) {
        // Absent already is fine: the goal is that it is gone.
        let _ = self.fill.remove(&id);
    }
}
