//! Phase 4: the listening sockets of one scrape, summed per cgroup, network
//! namespace and port (IPv4, IPv6 and `SO_REUSEPORT` sockets of a port add
//! up, with the overflows of the port's listeners that closed).

use std::{collections::BTreeMap, sync::Arc};

use probe_common::tcp::SYN_QUEUE_UNKNOWN;

use super::listeners::{PortId, port_of};
use crate::{
    identity::Labels,
    snapshot::{Cgroups, PortStats, TcpInput, resolve::Resolutions},
};

/// One entry per (cgroup, network namespace, port), ordered that way.
pub fn per_port(
    tcp: &TcpInput,
    cgroups: &mut impl Cgroups,
    resolutions: &mut Resolutions,
) -> Vec<PortStats> {
    let mut ports: BTreeMap<PortId, PortStats> = BTreeMap::new();
    for (id, record) in &tcp.listeners {
        let port = ports.entry(port_of(record)).or_insert_with(|| PortStats {
            cgroup_id: record.cgroup,
            labels: resolutions
                .status(record.cgroup, cgroups)
                .labels()
                .cloned()
                .unwrap_or_else(|| Arc::new(Labels::unresolved(record.cgroup))),
            netns: record.netns,
            port: record.port,
            depth: 0,
            limit: 0,
            syn_queue: Some(0),
            overflows: 0,
            syn_drops: tcp.overflows.syn_drops.as_ref().map(|_| 0),
        });
        port.depth += u64::from(record.depth);
        port.limit += u64::from(record.limit);
        port.syn_queue = match (port.syn_queue, record.syn_queue) {
            (_, SYN_QUEUE_UNKNOWN) | (None, _) => None,
            (Some(sum), len) => Some(sum + u64::from(len)),
        };
        port.overflows += tcp.overflows.listeners.get(id).copied().unwrap_or(0);
        if let (Some(sum), Some(syn_drops)) = (&mut port.syn_drops, &tcp.overflows.syn_drops) {
            *sum += syn_drops.listeners.get(id).copied().unwrap_or(0);
        }
    }
    for (key, port) in &mut ports {
        port.overflows += tcp.overflows.retired.get(key).copied().unwrap_or(0);
        if let (Some(sum), Some(syn_drops)) = (&mut port.syn_drops, &tcp.overflows.syn_drops) {
            *sum += syn_drops.retired.get(key).copied().unwrap_or(0);
        }
    }
    ports.into_values().collect()
}
