//! Layouts of the request signal: the server side of each container's
//! inbound TCP connections, per listening port (response time, time a
//! request waited for a worker, requests waiting, connections, errors).

use crate::{dependency::request::PEEK, histogram::Histogram};

/// Name of the per-(cgroup, listening port) statistics map.
pub const PORTS_MAP: &str = "REQUEST_PORTS";
/// Name of the per-socket local storage of inbound connections.
pub const SOCKETS_MAP: &str = "REQUEST_SOCKETS";

/// Bound on the (cgroup, port) pairs the kernel keeps: a container serves
/// on a few ports; past the bound, events are counted lost
/// (`ports_full`).
pub const MAX_PORTS: u32 = 2048;

/// A container's listening port: its inbound connections' socket cgroup
/// (the listener's, which accepted sockets inherit) and local port.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortKey {
    /// Socket cgroup id.
    pub cgroup: u64,
    /// Local port (host order).
    pub port: u16,
    /// Zero.
    pub pad: [u16; 3],
}

/// Why a request counts as an error.
pub mod error {
    /// The connection was reset, or closed by the server, with a request
    /// unanswered.
    pub const RESET: usize = 0;
    /// The response began with an HTTP/1.x status line of class 5xx.
    pub const HTTP_5XX: usize = 1;
    /// How many reasons.
    pub const COUNT: usize = 2;
    /// Their label values, by index.
    pub const LABELS: [&str; COUNT] = ["reset", "http_5xx"];
}

/// What the kernel keeps per (cgroup, listening port).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PortStats {
    /// From a request's first byte arriving to the response's first byte
    /// sent.
    pub response: Histogram,
    /// From a request's first byte arriving to the application's first
    /// read of it.
    pub queue: Histogram,
    /// Queue times longer than the workers' threshold (the verdict's, set
    /// by the agent in `REQUESTS_QUEUE_SLOW_NS`).
    pub slow_queued: u64,
    /// Connections holding a request not read yet (a gauge).
    pub waiting: i64,
    /// Inbound connections established now (a gauge).
    pub connections: i64,
    /// Errors, by [`error`] reason.
    pub errors: [u64; error::COUNT],
    /// Connections whose exchanges are not timed: multiplexed (an HTTP/2
    /// server's first frame), counted as they are found.
    pub multiplexed: u64,
}

impl PortStats {
    /// No events.
    pub const ZERO: PortStats = PortStats {
        response: Histogram::ZERO,
        queue: Histogram::ZERO,
        slow_queued: 0,
        waiting: 0,
        connections: 0,
        errors: [0; error::COUNT],
        multiplexed: 0,
    };
}

/// Bits of [`ServerSocket::flags`].
pub mod socket_flags {
    /// The connection counts in its port's connections.
    pub const COUNTED: u32 = 1;
    /// The open request was read by the application (it waits no more).
    pub const READ: u32 = 2;
    /// The server spoke HTTP/2: no exchange is timed.
    pub const MULTIPLEXED: u32 = 4;
    /// The server has sent on the connection.
    pub const SENT: u32 = 8;
}

/// What the kernel keeps per inbound socket (in its local storage).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerSocket {
    /// Its (cgroup, port).
    pub key: PortKey,
    /// `bpf_ktime_get_ns()` when the open request's first byte arrived (0:
    /// none is open).
    pub arrived_ns: u64,
    /// [`socket_flags`].
    pub flags: u32,
    /// Zero.
    pub pad: u32,
}

#[cfg(feature = "user")]
// SAFETY: `PortKey` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for PortKey {}
#[cfg(feature = "user")]
// SAFETY: `PortStats` is `repr(C)` plain old data (integers and histograms
// of integers only, no padding).
unsafe impl aya::Pod for PortStats {}

/// Little-endian word of `bytes[at..at + 8]`.
const fn word(bytes: &[u8; PEEK], at: usize) -> u64 {
    u64::from_le_bytes([
        bytes[at],
        bytes[at + 1],
        bytes[at + 2],
        bytes[at + 3],
        bytes[at + 4],
        bytes[at + 5],
        bytes[at + 6],
        bytes[at + 7],
    ])
}

/// `HTTP/1.` and any eighth byte, as a masked little-endian word.
const HTTP1: u64 = u64::from_le_bytes(*b"HTTP/1.\0");
const HTTP1_MASK: u64 = 0x00ff_ffff_ffff_ffff;

/// Whether a response's first `len` bytes are an HTTP/1.x status line of
/// class 5xx (`HTTP/1.1 503 ...`). Nothing else is parsed.
pub const fn is_http_5xx(bytes: &[u8; PEEK], len: usize) -> bool {
    len >= 12
        && word(bytes, 0) & HTTP1_MASK == HTTP1
        && bytes[8] == b' '
        && bytes[9] == b'5'
        && bytes[10].is_ascii_digit()
        && bytes[11].is_ascii_digit()
}

/// Whether a server's first bytes on a connection are an HTTP/2 SETTINGS
/// frame (9-byte header: a length of whole settings, type 4, no flags,
/// stream 0): the connection carries many streams at once, and an arrival
/// and the next send need not belong together.
pub const fn is_http2_settings(bytes: &[u8; PEEK], len: usize) -> bool {
    let length = (bytes[0] as u32) << 16 | (bytes[1] as u32) << 8 | bytes[2] as u32;
    len >= 9
        && length.is_multiple_of(6)
        && length <= 6 * 16
        && bytes[3] == 4
        && bytes[4] == 0
        && bytes[5] == 0
        && bytes[6] == 0
        && bytes[7] == 0
        && bytes[8] == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded(text: &[u8]) -> [u8; PEEK] {
        let mut bytes = [0; PEEK];
        bytes[..text.len()].copy_from_slice(text);
        bytes
    }

    #[test]
    fn http_5xx_status_lines_are_told() {
        for (text, five) in [
            (&b"HTTP/1.1 500 Internal Server Error\r\n"[..], true),
            (b"HTTP/1.0 503 Service Unavailable\r\n", true),
            (b"HTTP/1.1 200 OK\r\n", false),
            (b"HTTP/1.1 404 Not Found\r\n", false),
            (b"HTTP/2 500\r\n", false),
            (b"+OK\r\n", false),
            (b"HTTP/1.1 5", false),
        ] {
            assert_eq!(is_http_5xx(&padded(text), text.len()), five, "{text:?}");
        }
    }

    #[test]
    fn an_http2_settings_frame_is_told() {
        let settings = [0, 0, 18, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100];
        assert!(is_http2_settings(&padded(&settings), settings.len()));
        let ack = [0, 0, 0, 4, 1, 0, 0, 0, 0];
        assert!(!is_http2_settings(&padded(&ack), ack.len()));
        let postgres = b"R\0\0\0\x08\0\0\0\0";
        assert!(!is_http2_settings(&padded(postgres), postgres.len()));
        assert!(!is_http2_settings(&padded(b"HTTP/1.1 200 OK\r\n"), 17));
    }
}
