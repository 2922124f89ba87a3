//! One scrape: read the kernel, resolve and group, render the exposition.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use anyhow::Result;
use aya::Ebpf;
use tracing::debug;

use crate::{
    collect::{listeners, maps::KernelMaps, overflows::OverflowLedger},
    export,
    identity::Identity,
    kernel::signals::Signal,
    snapshot::{SnapshotBuilder, TcpInput},
};

/// Everything a scrape needs; the HTTP server keeps it behind one lock, so
/// scrapes are serialised. Dropping it detaches the programs.
pub struct Scraper {
    /// The loaded programs (the listener iterator runs at scrape time).
    pub ebpf: Ebpf,
    /// Kernel maps.
    pub maps: KernelMaps,
    /// Per-listener overflow attribution.
    pub overflows: OverflowLedger,
    /// Cgroup identity.
    pub identity: Identity,
    /// Per-cgroup grouping and reclamation.
    pub builder: SnapshotBuilder,
    /// Set (by SIGHUP) to read labels and names again.
    pub reload: Arc<AtomicBool>,
}

impl Scraper {
    /// Reads the kernel and renders the exposition.
    pub fn scrape(&mut self) -> Result<String> {
        let started = Instant::now();
        if self.reload.swap(false, Ordering::Relaxed) {
            self.identity.reload();
        }
        let mut raw = self.maps.read()?;
        let tcp = if self.maps.runs(Signal::Tcp) {
            let listeners = listeners::list(&mut self.ebpf)?;
            let overflows = self.overflows.update(&listeners);
            raw.lost.push((
                "tcp",
                "overflow_unattributed",
                self.overflows.unattributed(),
            ));
            Some(TcpInput {
                listeners,
                overflows,
            })
        } else {
            None
        };
        let snapshot = self
            .builder
            .build(raw, tcp, &mut self.maps, &mut self.identity);
        let text = export::encode(&snapshot, started.elapsed().as_secs_f64())?;
        debug!(cgroups = snapshot.cgroups.len(), ports = snapshot.ports.len(), elapsed = ?started.elapsed(), "scraped");
        Ok(text)
    }
}
