//! Layouts of the dependency signal: how long the remote endpoints a
//! container connects to take to answer, connect, fail and retransmit.

use crate::histogram::Histogram;

/// Name of the per-(cgroup, remote) statistics map.
pub const REMOTES_MAP: &str = "DEPENDENCY_REMOTES";
/// Name of the per-socket local storage.
pub const SOCKETS_MAP: &str = "DEPENDENCY_SOCKETS";

/// Default bound on (cgroup, remote) pairs the kernel side keeps.
pub const MAX_REMOTES: u32 = 4096;

/// Name of the pairs the kernel made per cgroup (`u64` by cgroup id; only
/// the kernel writes it).
pub const PAIRS_MADE_MAP: &str = "DEPENDENCY_PAIRS_MADE";
/// Name of the pairs the agent dropped per cgroup (`u64` by cgroup id; only
/// the agent writes it). Made less dropped is what a cgroup holds of the
/// pair table, kept within its share.
pub const PAIRS_DROPPED_MAP: &str = "DEPENDENCY_PAIRS_DROPPED";

/// Name of the connections the follow iterator found, waiting to be taken
/// up (a `RemoteKey` by the socket's kernel address).
pub const PENDING_MAP: &str = "DEPENDENCY_PENDING";
/// Name of the take-up's two `u64`s: [`take_up::WAITING`] and
/// [`take_up::OVER`].
pub const TAKE_UP_MAP: &str = "DEPENDENCY_TAKE_UP";
/// Name of the connections each cgroup has waiting (`u64` by cgroup id).
pub const PENDING_PER_CGROUP_MAP: &str = "DEPENDENCY_PENDING_PER_CGROUP";
/// Bound on the connections waiting to be taken up.
pub const MAX_PENDING: u32 = 65536;
/// Bound on those of one cgroup: a container that holds tens of thousands
/// of connections leaves room for the others'.
pub const MAX_PENDING_PER_CGROUP: u64 = MAX_PENDING as u64 / 4;

/// The size of `struct iovec`, by which the send hook steps through a
/// send's segments: two 8-byte fields (the agent checks their offsets in
/// the kernel's BTF before load).
pub const IOVEC_SIZE: u64 = 16;

/// The slots of [`TAKE_UP_MAP`].
pub mod take_up {
    /// How many connections wait in `PENDING_MAP` (0: the programs need
    /// not look there).
    pub const WAITING: u32 = 0;
    /// Non-zero once the follow iterator has run: until then, a socket
    /// that connects is noted in `PENDING_MAP` as followed by the programs
    /// ([`RemoteKey::FOLLOWED_NOTE`](super::RemoteKey::FOLLOWED_NOTE)), so
    /// that the iterator does not count it twice; the agent removes those
    /// notes after the iterator's run.
    pub const OVER: u32 = 1;
}

/// How the follow iterator did with an established connection it found
/// (the [`FollowRecord::outcome`] it writes).
///
/// The follow iterator (`iter/task_file`, run once at start) finds the
/// outbound TCP connections established before the agent started (a pool
/// opened before an agent restart). It counts each in its remote's
/// connections at once and notes it as waiting (`PENDING_MAP`); the
/// programs take it up at its next send (it is then followed as if they
/// had seen it connect) or uncount it when it closes. Nothing of the
/// watched processes is held, locked or duplicated: the iterator's socket
/// pointers cannot key socket storage, the send and state hooks' can.
pub mod follow {
    /// Counted, and waiting to be taken up.
    pub const TAKEN_UP: u32 = 0;
    /// Followed already (the programs saw it connect, or another
    /// descriptor of the socket came first).
    pub const FOLLOWED: u32 = 1;
    /// Not taken up: its (cgroup, remote) pair found no room
    /// (`events_lost` says which bound: `remotes_full` or
    /// `remotes_per_container`).
    pub const NO_ROOM: u32 = 2;
    /// Not taken up: the connections waiting are at their bound
    /// ([`MAX_PENDING`](super::MAX_PENDING)), or its cgroup's are
    /// ([`MAX_PENDING_PER_CGROUP`](super::MAX_PENDING_PER_CGROUP)).
    pub const FULL: u32 = 3;
    /// It left `ESTABLISHED` while it was being taken up: not followed.
    pub const CLOSED: u32 = 4;
    /// How many outcomes.
    pub const COUNT: usize = 5;
}

/// An outbound connection the follow iterator found: its (cgroup, remote)
/// and what became of it ([`follow`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FollowRecord {
    /// Its (cgroup, remote).
    pub key: RemoteKey,
    /// One of [`follow`]'s outcomes.
    pub outcome: u32,
    /// Zero.
    pub pad: u32,
}

/// Why a connect failed (`sk_err` when the socket left `SYN_SENT` for
/// `CLOSE`).
pub mod reason {
    /// The peer answered with a reset (`ECONNREFUSED`).
    pub const REFUSED: usize = 0;
    /// No answer: the kernel's SYN retransmissions gave up (`ETIMEDOUT`),
    /// or the caller gave up after the kernel had sent its SYN again (a
    /// remote that drops SYNs: nearly every client gives up long before
    /// the kernel does).
    pub const TIMED_OUT: usize = 1;
    /// An ICMP error said the host or network is unreachable
    /// (`EHOSTUNREACH`, `ENETUNREACH`).
    pub const UNREACHABLE: usize = 2;
    /// Any other socket error.
    pub const OTHER: usize = 3;
    /// No error: the caller closed the socket before the connect ended,
    /// and before its SYN was sent again (Happy Eyeballs' losing attempt,
    /// a connect timeout shorter than the first retransmission's 1 s). Not
    /// a failure of the remote: counted apart, never in the failing rule.
    pub const ABANDONED: usize = 4;
    /// How many reasons.
    pub const COUNT: usize = 5;
    /// Their label values, by index.
    pub const LABELS: [&str; COUNT] = ["refused", "timed_out", "unreachable", "other", "abandoned"];

    /// The reason a connect ended unconnected, by its socket error `err`
    /// (an errno; 0 for none) and whether its SYN was sent again.
    pub const fn of_close(err: i32, syn_resent: bool) -> usize {
        match err {
            0 if syn_resent => TIMED_OUT,
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
    /// An exchange on an encrypted connection taken up at start: whether
    /// it carries one request at a time or many streams at once was said
    /// in its handshake, before the agent started: counted, not timed.
    pub const UNKNOWN: u8 = 4;
    /// How many kinds.
    pub const COUNT: usize = 5;
    /// Not a kind of exchange but what [`kind`] says of a RESP array's
    /// header written alone (`*3\r\n`, the rest in the next write): the
    /// request starts with the next write, told by [`kind`] after it.
    pub const PARTIAL: u8 = 255;
    /// The `reason` label of the untimed kinds (by kind; `TIMED` has none).
    pub const UNTIMED_LABELS: [&str; COUNT] =
        ["", "long_poll", "handshake", "multiplexed", "unknown"];

    /// Up to 16 bytes, packed little-endian into two `u64`s: the kernel
    /// programs compare bytes as integers, never as bytes in memory (they
    /// cannot index constant data), and have no 128-bit shifts.
    type Word = (u64, u64);

    /// Bytes a window of the payload is matched against: letters in either
    /// case, any other byte exactly. The match is a few integer operations
    /// and one comparison, with no branch on the bytes: a classifier that
    /// branched on each byte made the verifier walk hundreds of thousands
    /// of paths (past its limit of a million instructions on 6.1).
    #[derive(Clone, Copy)]
    struct Pattern {
        value: Word,
        mask: Word,
    }

    impl Pattern {
        /// `text` (at most 16 bytes), letters in either case.
        const fn new(text: &[u8]) -> Self {
            let (mut value, mut mask) = ((0u64, 0u64), (0u64, 0u64));
            let mut i = 0;
            while i < text.len() && i < 16 {
                let c = text[i];
                let (v, m) = if c.is_ascii_alphabetic() {
                    ((c & !CASE) as u64, !CASE as u64)
                } else {
                    (c as u64, 0xff)
                };
                if i < 8 {
                    value.0 |= v << (8 * i);
                    mask.0 |= m << (8 * i);
                } else {
                    value.1 |= v << (8 * (i - 8));
                    mask.1 |= m << (8 * (i - 8));
                }
                i += 1;
            }
            Self { value, mask }
        }

        /// Whether `window` starts with this pattern.
        #[inline(always)]
        fn starts(self, window: Word) -> bool {
            ((window.0 & self.mask.0) ^ self.value.0) | ((window.1 & self.mask.1) ^ self.value.1)
                == 0
        }
    }

    /// The bit that tells a lowercase ASCII letter from its uppercase.
    const CASE: u8 = 0x20;

    /// Redis commands that block until there is something to answer, each
    /// followed by what ends a command's name: RESP's `\r`, or an inline
    /// command's space.
    const BLOCKING: [&[u8]; 10] = [
        b"BLPOP",
        b"BRPOP",
        b"BLMOVE",
        b"BLMPOP",
        b"BRPOPLPUSH",
        b"BZPOPMIN",
        b"BZPOPMAX",
        b"BZMPOP",
        b"WAIT",
        b"WAITAOF",
    ];

    /// `name` followed by `end`, as a pattern (at most 15 bytes of name).
    const fn named(name: &[u8], end: u8) -> Pattern {
        let mut text = [0u8; 16];
        let mut i = 0;
        while i < name.len() && i < 15 {
            text[i] = name[i];
            i += 1;
        }
        text[i] = end;
        let mut pattern = Pattern::new(&text);
        // Only `name` and `end` are compared.
        let bytes = i + 1;
        if bytes < 8 {
            pattern.mask.0 &= (1 << (8 * bytes)) - 1;
            pattern.mask.1 = 0;
        } else if bytes < 16 {
            pattern.mask.1 &= (1 << (8 * (bytes - 8))) - 1;
        }
        pattern.value.0 &= pattern.mask.0;
        pattern.value.1 &= pattern.mask.1;
        pattern
    }

    /// The blocking commands as RESP names (`NAME\r`) and as inline ones
    /// (`NAME `).
    const BLOCKING_RESP: [Pattern; 10] = patterns(b'\r');
    const BLOCKING_INLINE: [Pattern; 10] = patterns(b' ');

    const fn patterns(end: u8) -> [Pattern; 10] {
        let mut out = [Pattern::new(b""); 10];
        let mut i = 0;
        while i < 10 {
            out[i] = named(BLOCKING[i], end);
            i += 1;
        }
        out
    }

    /// Redis' stream read, which blocks when `BLOCK` comes next (RESP, and
    /// inline).
    const XREAD_RESP: Pattern = named(b"XREAD", b'\r');
    const XREAD_INLINE: Pattern = named(b"XREAD", b' ');
    const BLOCK_RESP: Pattern = Pattern::new(b"\r\n$5\r\nBLOCK\r");
    const BLOCK_INLINE: Pattern = Pattern::new(b" BLOCK ");

    /// Byte `i` of the first `len` of `bytes`, 0 past them: never a
    /// bounds check that could panic (the kernel programs cannot).
    #[inline(always)]
    fn byte(bytes: &[u8; PEEK], len: usize, i: usize) -> u8 {
        if i < len && i < PEEK { bytes[i] } else { 0 }
    }

    /// The 16 bytes of `bytes` from `at`, packed as [`Pattern`]s are; those
    /// past the first `len` are zero.
    #[inline(always)]
    fn window(bytes: &[u8; PEEK], len: usize, at: usize) -> Word {
        let (mut low, mut high) = (0u64, 0u64);
        let mut i = 0;
        while i < 8 {
            let at = (at + i) % PEEK;
            low |= u64::from(bytes[at]) << (8 * i);
            high |= u64::from(bytes[(at + 8) % PEEK]) << (8 * i);
            i += 1;
        }
        let kept = len.saturating_sub(at);
        let keep = |n: usize| {
            if n >= 8 {
                u64::MAX
            } else {
                (1u64 << (8 * n)) - 1
            }
        };
        (low & keep(kept), high & keep(kept.saturating_sub(8)))
    }

    /// How many digits (at most three) `bytes` has at `at`.
    #[inline(always)]
    fn digits(bytes: &[u8; PEEK], len: usize, at: usize) -> usize {
        let digit = |i| byte(bytes, len, i).is_ascii_digit();
        if !digit(at) {
            0
        } else if !digit(at + 1) {
            1
        } else if !digit(at + 2) {
            2
        } else {
            3
        }
    }

    /// TLS record content types: change-cipher-spec 0x14, alert 0x15,
    /// handshake 0x16, application data 0x17.
    const HANDSHAKE_RECORD: u8 = 0x16;
    const APPLICATION_DATA: u8 = 0x17;

    /// Whether `bytes` start a TLS record (SSL 3.0 to TLS 1.3 versions)
    /// whose content type is 0x14 to `last`.
    #[inline(always)]
    fn tls_record(bytes: &[u8; PEEK], len: usize, last: u8) -> bool {
        let b = |i| byte(bytes, len, i);
        len >= 3 && (0x14..=last).contains(&b(0)) && b(1) == 0x03 && b(2) <= 0x04
    }

    /// Where a RESP array's header (`*N\r\n`) ends, if `bytes` starts one.
    #[inline(always)]
    fn resp_header(bytes: &[u8; PEEK], len: usize) -> Option<usize> {
        let b = |i| byte(bytes, len, i);
        let count = digits(bytes, len, 1);
        let at = 1 + count;
        (b(0) == b'*' && count > 0 && b(at) == b'\r' && b(at + 1) == b'\n').then_some(at + 2)
    }

    /// Where the string of a RESP bulk string (`$L\r\nTEXT`) at `at`
    /// starts, if one of at most 99 bytes is there.
    #[inline(always)]
    fn bulk_string(bytes: &[u8; PEEK], len: usize, at: usize) -> Option<usize> {
        let b = |i| byte(bytes, len, i);
        let length = digits(bytes, len, at + 1);
        let end = at + 1 + length;
        (b(at) == b'$' && length > 0 && length <= 2 && b(end) == b'\r' && b(end + 1) == b'\n')
            .then_some(end + 2)
    }

    /// Where the name of a RESP command (`*N\r\n$L\r\nNAME`) starts, if
    /// `bytes` starts one.
    #[inline(always)]
    fn resp_name(bytes: &[u8; PEEK], len: usize) -> Option<usize> {
        bulk_string(bytes, len, resp_header(bytes, len)?)
    }

    /// Whether the command whose name starts at `at` blocks.
    #[inline(always)]
    fn blocks(bytes: &[u8; PEEK], len: usize, at: usize, resp: bool) -> bool {
        let name = window(bytes, len, at);
        let (commands, xread, block) = if resp {
            (&BLOCKING_RESP, XREAD_RESP, BLOCK_RESP)
        } else {
            (&BLOCKING_INLINE, XREAD_INLINE, BLOCK_INLINE)
        };
        let mut found = false;
        let mut i = 0;
        while i < commands.len() {
            found |= commands[i].starts(name);
            i += 1;
        }
        // `XREAD BLOCK ms ...`: BLOCK comes first (XREADGROUP's, after
        // its GROUP arguments, is past what is read: not told).
        found || (xread.starts(name) && block.starts(window(bytes, len, at + 5)))
    }

    /// The kind of the exchange whose request starts with the first `len`
    /// bytes of `bytes` (at most [`PEEK`]), or, `after_header`, goes on with
    /// them after a RESP array's header written alone ([`PARTIAL`]): then
    /// they start with the command's name, a bulk string (`$L\r\nNAME`).
    #[inline(always)]
    pub fn kind(bytes: &[u8; PEEK], len: usize, after_header: bool) -> u8 {
        let len = if len < PEEK { len } else { PEEK };
        let b = |i| byte(bytes, len, i);
        if !after_header {
            if tls_record(bytes, len, HANDSHAKE_RECORD) {
                return HANDSHAKE;
            }
            if len >= 4 && b(0) == b'P' && b(1) == b'R' && b(2) == b'I' && b(3) == b' ' {
                return MULTIPLEXED;
            }
            if resp_header(bytes, len) == Some(len) {
                return PARTIAL;
            }
        }
        // A RESP command (`*N\r\n$L\r\nNAME`, or its name alone after its
        // header), or an inline one (`BLPOP q 0\r\n`).
        let name = if after_header {
            bulk_string(bytes, len, 0)
        } else if b(0) == b'*' {
            resp_name(bytes, len)
        } else {
            None
        };
        let blocking = match name {
            Some(at) => blocks(bytes, len, at, true),
            None => !after_header && b(0).is_ascii_alphabetic() && blocks(bytes, len, 0, false),
        };
        if blocking { LONG_POLL } else { TIMED }
    }

    /// What the first `len` bytes of `bytes` tell beyond [`kind`] when they
    /// open an exchange on a connection taken up at start (whose first
    /// bytes, an HTTP/2 preface or a TLS handshake, were sent before the
    /// agent started): a TLS record is [`UNKNOWN`], an HTTP/2 frame header
    /// [`MULTIPLEXED`]; `None` when [`kind`] says.
    ///
    /// An HTTP/2 frame header: a 24-bit length under 64 KiB (a client's
    /// frames are; the first byte is then zero, which no text protocol's
    /// request starts with), a frame type of the standard ten, and a stream
    /// id with its reserved bit clear. A binary protocol's request that
    /// looks like one is not timed: never timed wrong.
    #[inline(always)]
    pub fn resumed(bytes: &[u8; PEEK], len: usize) -> Option<u8> {
        let len = if len < PEEK { len } else { PEEK };
        let b = |i| byte(bytes, len, i);
        if tls_record(bytes, len, APPLICATION_DATA) {
            Some(UNKNOWN)
        } else if len >= 9 && b(0) == 0 && b(3) <= 0x09 && b(5) & 0x80 == 0 {
            Some(MULTIPLEXED)
        } else {
            None
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// `text` as a send's first bytes: (the bytes, how many).
        fn sent(text: &[u8]) -> ([u8; PEEK], usize) {
            let mut bytes = [0u8; PEEK];
            let len = text.len().min(PEEK);
            bytes[..len].copy_from_slice(&text[..len]);
            (bytes, len)
        }

        fn of(text: &[u8]) -> u8 {
            let (bytes, len) = sent(text);
            kind(&bytes, len, false)
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
        fn a_command_whose_header_is_written_alone_is_told_by_its_next_write() {
            assert_eq!(of(b"*3\r\n"), PARTIAL);
            assert_eq!(of(b"*12\r\n"), PARTIAL);
            let next = |text: &[u8]| {
                let (bytes, len) = sent(text);
                kind(&bytes, len, true)
            };
            assert_eq!(next(b"$5\r\nBLPOP\r\n$4\r\njobs\r\n$1\r\n1\r\n"), LONG_POLL);
            assert_eq!(next(b"$5\r\nblpop\r\n"), LONG_POLL);
            assert_eq!(next(b"$3\r\nGET\r\n$1\r\nk\r\n"), TIMED);
            assert_eq!(next(b"GET / HTTP/1.1\r\n"), TIMED);
            // A header with more after it is a whole command's start.
            assert_eq!(of(b"*2\r\n$3\r\nGET\r\n"), TIMED);
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

        fn resumed_of(text: &[u8]) -> u8 {
            let (bytes, len) = sent(text);
            resumed(&bytes, len).unwrap_or_else(|| kind(&bytes, len, false))
        }

        #[test]
        fn a_taken_up_connection_is_told_by_its_next_request() {
            // HEADERS on stream 3, WINDOW_UPDATE and PING on stream 0.
            assert_eq!(
                resumed_of(b"\x00\x00\x1e\x01\x05\x00\x00\x00\x03\x82\x86"),
                MULTIPLEXED
            );
            assert_eq!(
                resumed_of(b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x01\x00\x00"),
                MULTIPLEXED
            );
            assert_eq!(
                resumed_of(b"\x00\x00\x08\x06\x00\x00\x00\x00\x00ping0000"),
                MULTIPLEXED
            );
            // Application data and a handshake record: encrypted, not told.
            assert_eq!(resumed_of(b"\x17\x03\x03\x00\x20abc"), UNKNOWN);
            assert_eq!(resumed_of(b"\x16\x03\x03\x00\x20abc"), UNKNOWN);
            // Text protocols are told as on a new connection.
            assert_eq!(resumed_of(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), TIMED);
            assert_eq!(resumed_of(b"ping\n"), TIMED);
            assert_eq!(
                resumed_of(b"*3\r\n$5\r\nBLPOP\r\n$4\r\njobs\r\n$1\r\n1\r\n"),
                LONG_POLL
            );
            // A PostgreSQL query, and a frame header cut short.
            assert_eq!(resumed_of(b"Q\x00\x00\x00\x0dselect 1\x00"), TIMED);
            assert_eq!(resumed_of(b"\x00\x00\x04\x08"), TIMED);
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

impl RemoteKey {
    /// What `PENDING_MAP` holds for a socket the programs saw connect
    /// before the follow iterator ran ([`take_up::OVER`]): no remote (no
    /// family), only a note that the socket is followed already.
    pub const FOLLOWED_NOTE: RemoteKey = RemoteKey {
        cgroup: 0,
        addr: [0; 16],
        port: 0,
        family: 0,
        pad: 0,
    };

    /// Whether it is [`RemoteKey::FOLLOWED_NOTE`].
    #[inline(always)]
    pub fn is_followed_note(&self) -> bool {
        self.family == 0
    }
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
    /// Its SYN was sent again (while it connected).
    pub const SYN_RESENT: u32 = 16;
    /// Its last send was a RESP array's header alone (`request::PARTIAL`):
    /// the next one opens the request and tells its command.
    pub const RESP_HEADER: u32 = 32;
    /// Its last request-opening send was a TLS handshake record: what waits
    /// unread may be the handshake's tail (TLS 1.3 session tickets, which a
    /// client reads only with its first answer), and does not keep the
    /// next request from opening.
    pub const HANDSHAKE: u32 = 4;
    /// Taken up at start (`follow`): what it carries is not known until a
    /// send opens an exchange whose bytes tell ([`request::resumed`]).
    pub const TAKEN_UP: u32 = 8;
}

#[cfg(feature = "user")]
// SAFETY: `RemoteKey` is `repr(C)` plain old data (integers, explicit padding).
unsafe impl aya::Pod for RemoteKey {}
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
        let of = |err| reason::LABELS[reason::of_close(err, false)];
        assert_eq!(of(111), "refused");
        assert_eq!(of(110), "timed_out");
        assert_eq!(of(113), "unreachable");
        assert_eq!(of(101), "unreachable");
        assert_eq!(of(0), "abandoned");
        assert_eq!(of(32), "other");
        // Given up after a SYN went unanswered and was sent again.
        assert_eq!(reason::LABELS[reason::of_close(0, true)], "timed_out");
        assert_eq!(reason::LABELS[reason::of_close(111, true)], "refused");
        assert_eq!(reason::failed(&[1, 2, 3, 4, 5]), 10);
    }

    #[test]
    fn the_key_has_no_hidden_padding() {
        assert_eq!(size_of::<RemoteKey>(), 8 + 16 + 2 + 2 + 4);
    }
}
