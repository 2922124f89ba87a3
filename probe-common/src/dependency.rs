//! Layouts of the dependency signal: how long the remote endpoints a
//! container connects to take to answer, connect, fail and retransmit.

use crate::histogram::Histogram;

/// Name of the per-(cgroup, remote) statistics map.
pub const REMOTES_MAP: &str = "DEPENDENCY_REMOTES";
/// Name of the per-socket local storage.
pub const SOCKETS_MAP: &str = "DEPENDENCY_SOCKETS";

/// Default bound on (cgroup, remote) pairs the kernel side keeps.
pub const MAX_REMOTES: u32 = 4096;

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
