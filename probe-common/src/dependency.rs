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
    /// Any other socket error.
    pub const OTHER: usize = 3;
    /// No error: the caller closed the socket before the connect ended
    /// (its own connect timeout, Happy Eyeballs' losing attempt). Not a
    /// failure of the remote: counted apart, never in the failing rule.
    pub const ABANDONED: usize = 4;
    /// How many reasons.
    pub const COUNT: usize = 5;
    /// Their label values, by index.
    pub const LABELS: [&str; COUNT] = ["refused", "timed_out", "unreachable", "other", "abandoned"];

    /// The reason for socket error `err` (an errno; 0 for none).
    pub const fn of_errno(err: i32) -> usize {
        match err {
            0 => ABANDONED,
            111 => REFUSED,
            110 => TIMED_OUT,
            113 | 101 => UNREACHABLE,
            _ => OTHER,
        }
    }

    /// Failures of the remote among `counts` (by reason): all but the
    /// abandoned connects.
    pub fn failed(counts: &[u64; COUNT]) -> u64 {
        counts.iter().sum::<u64>() - counts[ABANDONED]
    }
}

/// What the first bytes a client sends on a connection with no request
/// open say the exchange is: how the kernel tells the exchanges that are
/// waits by design, or no request at all, from the ones it times.
pub mod request {
    /// Bytes of the payload read at a send.
    pub const PEEK: usize = 64;

    /// A request, timed to its answer's first byte.
    pub const TIMED: u8 = 0;
    /// A command that waits on the server by design (Redis' `BLPOP`,
    /// `BRPOP`, `BLMOVE`, `BZPOPMIN`, ..., `XREAD BLOCK`,
    /// `WAIT`): its answer comes when there is something to say, not when
    /// the server is done; counted, not timed.
    pub const LONG_POLL: u8 = 1;
    /// A TLS handshake, change-cipher-spec or alert record: no request
    /// (the handshake's flights would read as fast answers).
    pub const HANDSHAKE: u8 = 2;
    /// An HTTP/2 connection preface: from then on the connection carries
    /// many streams at once, and a send and the next arrival need not
    /// belong together (a request opens on any frame, WINDOW_UPDATE and
    /// PING included): its exchanges are counted, not timed.
    pub const MULTIPLEXED: u8 = 3;
    /// How many kinds.
    pub const COUNT: usize = 4;
    /// The `reason` label of the untimed kinds (by kind; `TIMED` has none).
    pub const UNTIMED_LABELS: [&str; COUNT] = ["", "long_poll", "handshake", "multiplexed"];

    /// A word of up to 16 bytes, packed little-endian into two `u64`s: the
    /// kernel programs compare words as integers, never as bytes in memory
    /// (they cannot index constant data), and have no 128-bit shifts.
    type Word = (u64, u64);

    /// `word`, packed as [`word_at`] reads one.
    const fn pack(word: &[u8]) -> Word {
        let mut packed = (0u64, 0u64);
        let mut i = 0;
        while i < word.len() && i < 16 {
            if i < 8 {
                packed.0 |= (word[i] as u64) << (8 * i);
            } else {
                packed.1 |= (word[i] as u64) << (8 * (i - 8));
            }
            i += 1;
        }
        packed
    }

    /// Redis commands that block until there is something to answer.
    const BLPOP: Word = pack(b"BLPOP");
    const BRPOP: Word = pack(b"BRPOP");
    const BLMOVE: Word = pack(b"BLMOVE");
    const BLMPOP: Word = pack(b"BLMPOP");
    const BRPOPLPUSH: Word = pack(b"BRPOPLPUSH");
    const BZPOPMIN: Word = pack(b"BZPOPMIN");
    const BZPOPMAX: Word = pack(b"BZPOPMAX");
    const BZMPOP: Word = pack(b"BZMPOP");
    const WAIT: Word = pack(b"WAIT");
    const WAITAOF: Word = pack(b"WAITAOF");
    /// Redis' stream read, which blocks when given `BLOCK`.
    const XREAD: Word = pack(b"XREAD");
    const BLOCK: Word = pack(b"BLOCK");

    /// Byte `i` of the first `len` of `bytes`, 0 past them: never a
    /// bounds check that could panic (the kernel programs cannot).
    #[inline(always)]
    fn byte(bytes: &[u8; PEEK], len: usize, i: usize) -> u8 {
        if i < len && i < PEEK { bytes[i] } else { 0 }
    }

    /// The word at `at`, uppercased and packed as [`pack`] does (its
    /// letters and digits up to the next other byte), and its length;
    /// `(0, 0)` if it is longer than 16 bytes.
    #[inline(always)]
    fn word_at(bytes: &[u8; PEEK], len: usize, at: usize) -> (Word, usize) {
        let mut packed = (0u64, 0u64);
        let mut i = 0;
        while i < 16 {
            let c = byte(bytes, len, at + i);
            if !c.is_ascii_alphanumeric() {
                return (packed, i);
            }
            let c = u64::from(c.to_ascii_uppercase());
            if i < 8 {
                packed.0 |= c << (8 * i);
            } else {
                packed.1 |= c << (8 * (i - 8));
            }
            i += 1;
        }
        if byte(bytes, len, at + 16).is_ascii_alphanumeric() {
            ((0, 0), 0)
        } else {
            (packed, 16)
        }
    }

    /// Past at most three digits and a CRLF at `at`, if they are there.
    #[inline(always)]
    fn past_number(bytes: &[u8; PEEK], len: usize, at: usize) -> Option<usize> {
        let mut i = at;
        while i < at + 3 && byte(bytes, len, i).is_ascii_digit() {
            i += 1;
        }
        (i > at && byte(bytes, len, i) == b'\r' && byte(bytes, len, i + 1) == b'\n')
            .then_some(i + 2)
    }

    /// Where the argument after the one that ends at `at` starts: RESP's
    /// `\r\n$L\r\n` (`resp`), or an inline command's space.
    #[inline(always)]
    fn next_argument(bytes: &[u8; PEEK], len: usize, at: usize, resp: bool) -> Option<usize> {
        if !resp {
            return (byte(bytes, len, at) == b' ').then_some(at + 1);
        }
        if byte(bytes, len, at) != b'\r'
            || byte(bytes, len, at + 1) != b'\n'
            || byte(bytes, len, at + 2) != b'$'
        {
            return None;
        }
        past_number(bytes, len, at + 3)
    }

    /// The kind of the exchange whose request starts with the first `len`
    /// bytes of `bytes` (at most [`PEEK`]).
    #[inline(always)]
    pub fn kind(bytes: &[u8; PEEK], len: usize) -> u8 {
        let len = if len < PEEK { len } else { PEEK };
        let b = |i| byte(bytes, len, i);
        if len >= 3 && (0x14..=0x16).contains(&b(0)) && b(1) == 0x03 && b(2) <= 0x04 {
            return HANDSHAKE;
        }
        if len >= 4 && b(0) == b'P' && b(1) == b'R' && b(2) == b'I' && b(3) == b' ' {
            return MULTIPLEXED;
        }
        // A RESP command (`*N\r\n$L\r\nNAME`), or an inline one (`BLPOP q 0\r\n`).
        let resp = b(0) == b'*';
        let name = if resp {
            match past_number(bytes, len, 1).and_then(|at| next_argument(bytes, len, at - 2, true))
            {
                Some(at) => at,
                None => return TIMED,
            }
        } else if b(0).is_ascii_alphabetic() {
            0
        } else {
            return TIMED;
        };
        let (word, length) = word_at(bytes, len, name);
        match word {
            BLPOP | BRPOP | BLMOVE | BLMPOP | BRPOPLPUSH | BZPOPMIN | BZPOPMAX | BZMPOP | WAIT
            | WAITAOF => LONG_POLL,
            // `XREAD BLOCK ms ...`: BLOCK comes first (XREADGROUP's, after
            // its GROUP arguments, is past what is read: not told).
            XREAD => match next_argument(bytes, len, name + length, resp) {
                Some(at) if word_at(bytes, len, at).0 == BLOCK => LONG_POLL,
                _ => TIMED,
            },
            _ => TIMED,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn of(text: &[u8]) -> u8 {
            let mut bytes = [0u8; PEEK];
            let len = text.len().min(PEEK);
            bytes[..len].copy_from_slice(&text[..len]);
            kind(&bytes, len)
        }

        #[test]
        fn redis_blocking_commands_are_long_polls() {
            assert_eq!(
                of(b"*3\r\n$5\r\nBLPOP\r\n$4\r\njobs\r\n$1\r\n1\r\n"),
                LONG_POLL
            );
            assert_eq!(of(b"*3\r\n$5\r\nblpop\r\n$4\r\njobs\r\n"), LONG_POLL);
            assert_eq!(of(b"*4\r\n$10\r\nBRPOPLPUSH\r\n$1\r\na\r\n"), LONG_POLL);
            assert_eq!(of(b"BLPOP jobs 1\r\n"), LONG_POLL);
            assert_eq!(
                of(b"*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$4\r\n1000\r\n$7\r\nSTREAMS\r\n"),
                LONG_POLL
            );
            assert_eq!(
                of(b"*4\r\n$5\r\nXREAD\r\n$7\r\nSTREAMS\r\n$1\r\ns\r\n"),
                TIMED
            );
        }

        #[test]
        fn other_commands_and_protocols_are_timed() {
            assert_eq!(of(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), TIMED);
            assert_eq!(of(b"*2\r\n$4\r\nLPOP\r\n$4\r\njobs\r\n"), TIMED);
            // A word that starts like a blocking one is not one.
            assert_eq!(of(b"*2\r\n$6\r\nBLPOPX\r\n"), TIMED);
            assert_eq!(of(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), TIMED);
            assert_eq!(of(b"\x00\x00\x00\x08\x04\xd2\x16\x2f"), TIMED);
            assert_eq!(of(b""), TIMED);
        }

        #[test]
        fn tls_records_and_the_h2_preface_are_told() {
            assert_eq!(of(b"\x16\x03\x01\x02\x00\x01"), HANDSHAKE);
            assert_eq!(of(b"\x14\x03\x03\x00\x01\x01"), HANDSHAKE);
            assert_eq!(of(b"\x17\x03\x03\x00\x20"), TIMED);
            assert_eq!(of(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), MULTIPLEXED);
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
    /// Exchanges not timed, by [`request`] kind (`TIMED` unused): long
    /// polls, TLS handshake records, multiplexed exchanges.
    pub untimed: [u64; request::COUNT],
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
        untimed: [0; request::COUNT],
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
    /// The [`request`] kind of the open request.
    pub kind: u32,
    /// [`socket_flags`].
    pub flags: u32,
}

/// Bits of [`SocketState::flags`].
pub mod socket_flags {
    /// It sent something already (its first send is read for an HTTP/2
    /// preface, whatever arrived before it).
    pub const SENT: u32 = 1;
    /// It is multiplexed (HTTP/2): its exchanges are counted, not timed.
    pub const MULTIPLEXED: u32 = 2;
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
        assert_eq!(reason::LABELS[reason::of_errno(0)], "abandoned");
        assert_eq!(reason::LABELS[reason::of_errno(32)], "other");
        assert_eq!(reason::failed(&[1, 2, 3, 4, 5]), 10);
    }

    #[test]
    fn the_key_has_no_hidden_padding() {
        assert_eq!(size_of::<RemoteKey>(), 8 + 16 + 2 + 2 + 4);
    }
}
