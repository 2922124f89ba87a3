//! Layouts of the dependency signal: how long the remote endpoints a
//! container connects to take to answer, connect, fail and retransmit.

use crate::histogram::Histogram;

/// Name of the per-(cgroup, remote) statistics map.
pub const REMOTES_MAP: &str = "DEPENDENCY_REMOTES";
/// Name of the per-socket local storage.
pub const SOCKETS_MAP: &str = "DEPENDENCY_SOCKETS";

/// Default bound on (cgroup, remote) pairs the kernel side keeps.
pub const MAX_REMOTES: u32 = 4096;

/// Name of the listening ports the follow iterator notes in its first pass.
pub const LISTENING_MAP: &str = "DEPENDENCY_LISTENING";
/// Name of the follow iterator's pass (one `u32`: [`follow::LIST`] or
/// [`follow::FOLLOW`]).
pub const FOLLOW_PASS_MAP: &str = "DEPENDENCY_FOLLOW_PASS";
/// Bound on the listening ports noted.
pub const MAX_LISTENING: u32 = 16384;

/// The passes of the follow iterator, which finds the outbound TCP
/// connections that were established before the agent started (a pool
/// opened before an agent restart) and follows them as if it had seen them
/// connect: an established socket whose local port is no listening port
/// of its network namespace was opened by a connect.
pub mod follow {
    /// First pass: note every listening port (network namespace, port).
    pub const LIST: u32 = 0;
    /// Second pass: write a [`FollowRecord`](super::FollowRecord) for every
    /// established TCP socket whose local port is not a listening one; the
    /// agent takes each up through its file descriptor (the iterator's
    /// socket pointers are not ones `bpf_sk_storage_get` accepts).
    pub const FOLLOW: u32 = 1;
}

/// An outbound connection the follow iterator found: its (cgroup, remote),
/// and the process and descriptor that hold it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FollowRecord {
    /// Its (cgroup, remote).
    pub key: RemoteKey,
    /// A process holding it.
    pub tgid: u32,
    /// Its file descriptor there.
    pub fd: u32,
}

/// A listening port: its network namespace and port.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListeningPort {
    /// The network namespace's inode number.
    pub netns: u32,
    /// The local port.
    pub port: u16,
    /// Zero.
    pub pad: u16,
}

/// Why a connect failed (`sk_err` when the socket left `SYN_SENT` for
/// `CLOSE`).
pub mod reason {
    /// The peer answered with a reset (`ECONNREFUSED`).
    pub const REFUSED: usize = 0;
    /// No answer before the SYN retransmissions gave up (`ETIMEDOUT`).
    pub const TIMED_OUT: usize = 1;
    /// An ICMP error said the host or network is unreachable
    /// (`EHOSTUNREACH`, `ENETUNREACH`).
    pub const UNREACHABLE: usize = 2;
    /// Anything else, such as the caller closing the socket first.
    pub const OTHER: usize = 3;
    /// How many reasons.
    pub const COUNT: usize = 4;
    /// Their label values, by index.
    pub const LABELS: [&str; COUNT] = ["refused", "timed_out", "unreachable", "other"];

    /// The reason for errno `err`.
    pub const fn of_errno(err: i32) -> usize {
        match err {
            111 => REFUSED,
            110 => TIMED_OUT,
            113 | 101 => UNREACHABLE,
            _ => OTHER,
        }
    }
}

/// A remote endpoint of a cgroup: the socket's cgroup and its peer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteKey {
    /// The socket cgroup's id.
    pub cgroup: u64,
    /// The peer's address: IPv4 in the first 4 bytes, or IPv6.
    pub addr: [u8; 16],
    /// The peer's port, in host order.
    pub port: u16,
    /// `AF_INET` or `AF_INET6`.
    pub family: u16,
    /// Zero.
    pub pad: u32,
}

/// What the kernel keeps per (cgroup, remote).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RemoteStats {
    /// Time from a request sent to the first byte of its answer.
    pub response: Histogram,
    /// Answers that took longer than the slow threshold (the verdict's,
    /// set by the agent in `DEPENDENCY_SLOW_NS`).
    pub slow_responses: u64,
    /// Time from `SYN_SENT` to `ESTABLISHED`.
    pub connect: Histogram,
    /// Connects that failed, by [`reason`].
    pub failures: [u64; reason::COUNT],
    /// Segments retransmitted on these connections (SYNs included).
    pub retransmits: u64,
    /// Connections established now (incremented on `ESTABLISHED`,
    /// decremented when they leave it).
    pub established: i64,
}

impl RemoteStats {
    /// No events.
    pub const ZERO: RemoteStats = RemoteStats {
        response: Histogram::ZERO,
        slow_responses: 0,
        connect: Histogram::ZERO,
        failures: [0; reason::COUNT],
        retransmits: 0,
        established: 0,
    };
}

/// What the kernel keeps per outbound socket (in its local storage).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SocketState {
    /// Its (cgroup, remote).
    pub key: RemoteKey,
    /// `bpf_ktime_get_ns()` when it entered `SYN_SENT`.
    pub connect_ns: u64,
    /// When the first unanswered request was sent; 0 when none is open.
    pub request_ns: u64,
    /// Non-zero while it counts in `established`.
    pub established: u64,
}

#[cfg(feature = "user")]
// SAFETY: `RemoteKey` is `repr(C)` plain old data (integers, explicit padding).
unsafe impl aya::Pod for RemoteKey {}
#[cfg(feature = "user")]
// SAFETY: `ListeningPort` is `repr(C)` plain old data (integers, explicit padding).
unsafe impl aya::Pod for ListeningPort {}
#[cfg(feature = "user")]
// SAFETY: `SocketState` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for SocketState {}
#[cfg(feature = "user")]
// SAFETY: `RemoteStats` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for RemoteStats {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_map_to_reasons() {
        assert_eq!(reason::LABELS[reason::of_errno(111)], "refused");
        assert_eq!(reason::LABELS[reason::of_errno(110)], "timed_out");
        assert_eq!(reason::LABELS[reason::of_errno(113)], "unreachable");
        assert_eq!(reason::LABELS[reason::of_errno(101)], "unreachable");
        assert_eq!(reason::LABELS[reason::of_errno(0)], "other");
    }

    #[test]
    fn the_key_has_no_hidden_padding() {
        assert_eq!(size_of::<RemoteKey>(), 8 + 16 + 2 + 2 + 4);
    }
}
