//! One sample of the kernel: read the maps and the listeners, resolve and
//! group them into a [`Snapshot`].

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Result;
use aya::Ebpf;

use crate::{
    collect::{
        maps::KernelMaps,
        program_cost::{ProgramStats, recursion_misses},
    },
    identity::Identity,
    kernel::signals::Signal,
    signals::tcp::{listen_drops::ListenDrops, listeners, overflows::OverflowLedger},
    snapshot::{SlowBounds, Snapshot, SnapshotBuilder, TcpInput},
};

/// Everything a sample needs. Dropping it detaches the programs.
pub struct KernelReader {
    /// The loaded programs (the listener iterator runs at each sample).
    pub ebpf: Ebpf,
    /// Kernel maps.
    pub maps: KernelMaps,
    /// Per-listener overflow attribution.
    pub overflows: OverflowLedger,
    /// The kernel's drop counts at each listener, where it keeps them.
    pub listen_drops: Option<ListenDrops>,
    /// Cgroup identity.
    pub identity: Identity,
    /// Per-cgroup grouping and reclamation.
    pub builder: SnapshotBuilder,
    /// Set (by SIGHUP) to read labels and names again.
    pub reload: Arc<AtomicBool>,
    /// The kernel's run statistics of the programs, where it keeps them.
    pub program_stats: Option<ProgramStats>,
    /// Where the programs count slow observations.
    pub slow: SlowBounds,
}

impl KernelReader {
    /// Reads the kernel; the snapshot and how long that took.
    pub fn read(&mut self) -> Result<(Snapshot, Duration)> {
        let started = Instant::now();
        if self.reload.swap(false, Ordering::Relaxed) {
            self.identity.reload();
        }
        let mut raw = self.maps.read()?;
        for (signal, misses) in recursion_misses(&self.ebpf) {
            raw.lost.push((signal, "recursion_miss", misses));
        }
        let tcp = if self.maps.runs(Signal::Tcp) {
            let listeners = listeners::list(&mut self.ebpf)?;
            let counted = match &mut self.listen_drops {
                Some(drops) => Some((drops.read(&listeners)?, drops.syn_drops)),
                None => None,
            };
            let overflows = self.overflows.update(
                &listeners,
                counted
                    .as_ref()
                    .map(|(counts, syn_drops)| (counts, *syn_drops)),
            );
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
        let mut snapshot = self
            .builder
            .build(raw, tcp, &mut self.maps, &mut self.identity);
        if let Some(stats) = &self.program_stats {
            snapshot.programs = stats.read(&self.ebpf);
        }
        snapshot.slow = self.slow;
        Ok((snapshot, started.elapsed()))
    }
}
