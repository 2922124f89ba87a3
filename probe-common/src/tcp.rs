//! Layouts of the TCP accept-queue signal.

/// `TCP_LISTEN` from the kernel's TCP state enum (part of the UAPI).
pub const TCP_LISTEN: u8 = 10;
/// `AF_INET`.
pub const AF_INET: u16 = 2;
/// `AF_INET6`.
pub const AF_INET6: u16 = 10;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u16 = 6;

/// Fill-ratio buckets: bucket `i` for `i` in `0..=20` holds fills in
/// `((i - 1) / 20, i / 20]` (bucket 0: an empty queue); bucket 21 holds
/// fills above 1 (the queue holds one more than its limit).
pub const FILL_BUCKETS: usize = 22;
/// Fill buckets per unit of fill.
pub const FILL_STEPS: u32 = 20;
/// Fill sums are kept in millionths.
pub const FILL_SCALE: u64 = 1_000_000;

/// Name of the per-cgroup fill map.
pub const FILL_MAP: &str = "TCP_FILL";
/// Name of the map of drops counted at each listener where the kernel
/// drops ([`ListenerKey`] to [`ListenerDrops`]).
pub const DROPS_MAP: &str = "TCP_LISTENER_DROPS";
/// Listeners that can hold drop counts at once (an entry is made at a
/// listener's first drop; the agent deletes those of closed listeners).
pub const DROPS_ENTRIES: u32 = 16_384;
/// The 8-byte slots of the `iter/task_file` program's context
/// (`struct bpf_iter__task_file`) that the program reads; the verifier only
/// accepts constant context offsets, so the agent checks these against the
/// kernel's BTF instead of passing them in.
pub const ITER_TASK_FILE_SLOTS: [(&str, usize); 3] = [("meta", 0), ("task", 1), ("file", 3)];
/// Slot of `meta` in [`ITER_TASK_FILE_SLOTS`].
pub const ITER_META_SLOT: usize = ITER_TASK_FILE_SLOTS[0].1;
/// Slot of `task`.
pub const ITER_TASK_SLOT: usize = ITER_TASK_FILE_SLOTS[1].1;
/// Slot of `file`.
pub const ITER_FILE_SLOT: usize = ITER_TASK_FILE_SLOTS[2].1;
/// Byte offset of `fd` (a `u32`) in `struct bpf_iter__task_file`.
pub const ITER_FD_OFFSET: usize = 16;

/// Bucket of a queue holding `depth` connections with limit `limit`
/// (a limit of 0 admits one connection and counts as 1).
#[inline(always)]
pub fn fill_bucket(depth: u32, limit: u32) -> usize {
    let limit = if limit == 0 { 1 } else { limit };
    let bucket = (u64::from(depth) * u64::from(FILL_STEPS)).div_ceil(u64::from(limit));
    if bucket > u64::from(FILL_STEPS) {
        FILL_BUCKETS - 1
    } else {
        bucket as usize
    }
}

/// Fill of a queue, in millionths.
#[inline(always)]
pub fn fill_micro(depth: u32, limit: u32) -> u64 {
    let limit = if limit == 0 { 1 } else { limit };
    u64::from(depth) * FILL_SCALE / u64::from(limit)
}

/// Accept-queue fill observations of one cgroup's listeners, one per
/// connection queued.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TcpFill {
    /// Observations per fill bucket.
    pub buckets: [u64; FILL_BUCKETS],
    /// Sum of the observed fills, in millionths.
    pub sum_micro: u64,
}

/// [`ListenerRecord::syn_queue`] where it cannot be read (lockdown).
pub const SYN_QUEUE_UNKNOWN: u32 = u32::MAX;

/// One listening socket, as the iterator reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerRecord {
    /// Inode number of the socket (the `inode` column of `/proc/net/tcp`).
    pub inode: u64,
    /// Id of the socket's cgroup (the cgroup of the task that created it).
    pub cgroup: u64,
    /// Inode number of the socket's network namespace.
    pub netns: u32,
    /// A process that holds the socket open.
    pub tgid: u32,
    /// Connections waiting in the accept queue (`sk_ack_backlog`).
    pub depth: u32,
    /// The accept queue's limit (`sk_max_ack_backlog`, the listen backlog).
    pub limit: u32,
    /// The socket's drop count (`sk_drops`): listen drops, overflows included.
    pub drops: u32,
    /// Handshakes under way in the SYN queue (`icsk_accept_queue.qlen`:
    /// requests answered with a SYN-ACK, not yet completed);
    /// [`SYN_QUEUE_UNKNOWN`] where programs may not read it.
    pub syn_queue: u32,
    /// Local port.
    pub port: u16,
    /// `AF_INET` or `AF_INET6`.
    pub family: u16,
    /// Padding, zero (the record has no implicit padding).
    pub reserved: u32,
}

/// A listener, as the drop counters key it: the agent's listener id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ListenerKey {
    /// Inode number of the socket's network namespace.
    pub netns: u32,
    /// Padding, zero.
    pub reserved: u32,
    /// Inode number of the socket.
    pub inode: u64,
}

/// What the kernel dropped at one listener since the counting programs
/// were attached (or the listener opened).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerDrops {
    /// Connections dropped because the accept queue was full, at the SYN
    /// or at the handshake's final ACK (the kernel's `ListenOverflows`).
    pub overflows: u64,
    /// SYNs dropped because the SYN queue was full with SYN cookies off
    /// (the kernel's `TCPReqQFullDrop`).
    pub syn_drops: u64,
}

#[cfg(feature = "user")]
// SAFETY: `ListenerKey` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for ListenerKey {}
#[cfg(feature = "user")]
// SAFETY: `ListenerDrops` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for ListenerDrops {}
#[cfg(feature = "user")]
// SAFETY: `TcpFill` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for TcpFill {}
#[cfg(feature = "user")]
// SAFETY: `ListenerRecord` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for ListenerRecord {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_buckets_at_edges() {
        assert_eq!(fill_bucket(0, 8), 0);
        assert_eq!(fill_bucket(1, 20), 1);
        assert_eq!(fill_bucket(1, 8), 3); // 0.125 is in (0.10, 0.15]
        assert_eq!(fill_bucket(4, 8), 10); // 0.5 exactly: le 0.5
        assert_eq!(fill_bucket(8, 8), 20); // full: le 1.0
        assert_eq!(fill_bucket(9, 8), 21); // limit + 1: above 1
        assert_eq!(fill_bucket(1, 0), 20); // backlog 0 admits one
        assert_eq!(fill_bucket(u32::MAX, 1), 21);
        assert_eq!(fill_micro(3, 8), 375_000);
    }
}
