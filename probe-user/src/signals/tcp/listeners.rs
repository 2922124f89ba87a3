//! Every listening TCP socket on the host, read on demand by running the
//! `tcp_listeners` iterator (one pass over every task's open files, so every
//! network namespace is covered).

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use aya::Ebpf;
use probe_common::{programs::TCP_LISTENERS, tcp::ListenerRecord};

use crate::kernel::iterators;

/// A listening socket, identified across scrapes by its network namespace
/// and socket inode.
pub type ListenerId = (u32, u64);

/// A listening port of one cgroup in one network namespace: (cgroup id,
/// namespace inode, port); its listeners' counts add up.
pub type PortId = (u64, u32, u16);

/// The port a listener belongs to.
pub fn port_of(record: &ListenerRecord) -> PortId {
    (record.cgroup, record.netns, record.port)
}

/// Runs the iterator once: every listening socket, once each (a socket held
/// open by several processes is reported once).
pub fn list(ebpf: &mut Ebpf) -> Result<BTreeMap<ListenerId, ListenerRecord>> {
    parse(&iterators::run(ebpf, TCP_LISTENERS)?)
}

fn parse(bytes: &[u8]) -> Result<BTreeMap<ListenerId, ListenerRecord>> {
    let size = size_of::<ListenerRecord>();
    if !bytes.len().is_multiple_of(size) {
        bail!(
            "the listener iterator wrote {} bytes, not a whole number of records",
            bytes.len()
        );
    }
    let mut listeners = BTreeMap::new();
    for chunk in bytes.chunks_exact(size) {
        // SAFETY: ListenerRecord is plain old data and the chunk has its size.
        let record: ListenerRecord = unsafe { std::ptr::read_unaligned(chunk.as_ptr().cast()) };
        listeners
            .entry((record.netns, record.inode))
            .or_insert(record);
    }
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(records: &[ListenerRecord]) -> Vec<u8> {
        records
            .iter()
            .flat_map(|r| {
                // SAFETY: plain old data.
                unsafe {
                    std::slice::from_raw_parts(
                        (r as *const ListenerRecord).cast::<u8>(),
                        size_of::<ListenerRecord>(),
                    )
                }
                .to_vec()
            })
            .collect()
    }

    #[test]
    fn shared_sockets_are_reported_once() {
        let a = ListenerRecord {
            inode: 7,
            netns: 1,
            tgid: 10,
            depth: 3,
            ..Default::default()
        };
        let same_socket_other_process = ListenerRecord { tgid: 11, ..a };
        let other_netns = ListenerRecord { netns: 2, ..a };
        let listeners = parse(&bytes_of(&[a, same_socket_other_process, other_netns])).unwrap();
        assert_eq!(listeners.len(), 2);
        assert_eq!(listeners[&(1, 7)].tgid, 10);
    }

    #[test]
    fn torn_output_is_an_error() {
        assert!(parse(&[0u8; 3]).is_err());
    }
}
