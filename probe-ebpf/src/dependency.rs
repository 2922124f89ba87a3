//! Dependency pressure: the remote endpoints a container connects to, how
//! long they take to answer, to connect, how often connecting fails, and
//! how many segments are retransmitted to them.
//!
//! Only sockets that connect (`SYN_SENT`) are followed: each gets a small
//! state in its local storage (freed with the socket) holding its (cgroup,
//! remote) key, so later events need no lookup of who and where.
//!
//! - `dependency_state` (`sock:inet_sock_set_state`): `CLOSE -> SYN_SENT`
//!   starts following the socket (the socket cgroup and the peer's address
//!   and port); `SYN_SENT -> ESTABLISHED` observes the connect time and
//!   counts the connection; `SYN_SENT -> CLOSE` counts a failure by the
//!   socket's error (`sk_err`; none: given up by the caller, a time-out if
//!   its SYN was sent again); leaving `ESTABLISHED` uncounts it.
//! - `dependency_send` (`tcp:tcp_sendmsg_locked`, or
//!   `fentry/tcp_sendmsg_locked` on kernels before that tracepoint): data
//!   written opens a request, unless one is open already or data from the
//!   peer waits unread in the receive queue (then it is not a request but
//!   part of an exchange still going on).
//! - `dependency_data_ready` (`sock:sk_data_ready`, or
//!   `fentry/sock_def_readable`): data from the peer closes the open
//!   request: its response time is observed. Data with no request open
//!   (server pushes, the rest of a streamed answer) is not.
//! - `dependency_retransmit` (`tcp:tcp_retransmit_skb`): a segment (SYNs
//!   included) sent again; a SYN sent again is noted on the socket.
//!
//! Pipelined requests are measured from the first unanswered one to the
//! first byte of the first answer: one observation per exchange. Send and
//! receive paths run under the socket's lock, so a socket's state is never
//! written from two CPUs at once; the (cgroup, remote) statistics are
//! shared and updated atomically.

use core::ptr;

use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, BPF_NOEXIST, seq_file},
    btf_maps::SkStorage,
    helpers::generated::bpf_seq_write,
    macros::{btf_map, btf_tracepoint, fentry, map},
    maps::{Array, HashMap},
    programs::{BtfTracePointContext, FEntryContext},
};
use probe_common::{
    cgroups::MAX_CGROUPS,
    counters::{
        DEPENDENCY_CGROUP_UNREADABLE, DEPENDENCY_REMOTES_FULL, DEPENDENCY_REMOTES_PER_CONTAINER,
        DEPENDENCY_SOCKET_UNAVAILABLE, DEPENDENCY_TOO_LONG,
    },
    dependency::{
        FollowRecord, MAX_PENDING, MAX_PENDING_PER_CGROUP, MAX_REMOTES, RemoteKey, RemoteStats,
        SocketState, follow, reason, request, socket_flags, take_up,
    },
    programs,
    tcp::{AF_INET, AF_INET6, IPPROTO_TCP},
};

use crate::{
    atomic::atomic_add,
    counters::bump,
    hash_entry::{create, get_or_insert},
    kernel::{KernelPtr, cgroup_id, ktime_ns, offsets},
    names::named,
    observe::observe_since,
    payload, socket_storage,
    tcp::{
        ITER_META_SEQ_OFFSET, IterSocket, SOCK_CGROUP_OFFSET, SOCK_FAMILY_OFFSET,
        SOCK_MAX_ACK_BACKLOG_OFFSET, SOCK_PROTOCOL_OFFSET, is_tcp_in, iter_socket,
    },
};

offsets!(
    SOCK_DADDR_OFFSET,
    SOCK_V6_DADDR_OFFSET,
    SOCK_DPORT_OFFSET,
    SOCK_ERR_OFFSET,
    SOCK_RCV_QLEN_OFFSET,
);

crate::globals::load_time_globals! {
    /// Answers slower than this (ns) count in `slow_responses`.
    DEPENDENCY_SLOW_NS: u64 = u64::MAX;
    /// The pairs one cgroup may hold of `DEPENDENCY_REMOTES`.
    REMOTES_PER_CGROUP: u64 = MAX_REMOTES as u64;
}

/// TCP states (`include/net/tcp_states.h`).
const TCP_ESTABLISHED: i32 = 1;
const TCP_SYN_SENT: i32 = 2;
const TCP_CLOSE: i32 = 7;

/// Statistics per (cgroup, remote); entries are made as connections are.
#[map]
static DEPENDENCY_REMOTES: HashMap<RemoteKey, RemoteStats> =
    HashMap::with_max_entries(MAX_REMOTES, BPF_F_NO_PREALLOC);

/// The pairs the kernel made, per cgroup (only the kernel writes it).
#[map]
static DEPENDENCY_PAIRS_MADE: HashMap<u64, u64> =
    HashMap::with_max_entries(MAX_CGROUPS, BPF_F_NO_PREALLOC);
named!(
    DEPENDENCY_PAIRS_MADE,
    probe_common::dependency::PAIRS_MADE_MAP
);

/// The pairs the agent dropped, per cgroup (only the agent writes it).
#[map]
static DEPENDENCY_PAIRS_DROPPED: HashMap<u64, u64> =
    HashMap::with_max_entries(MAX_CGROUPS, BPF_F_NO_PREALLOC);
named!(
    DEPENDENCY_PAIRS_DROPPED,
    probe_common::dependency::PAIRS_DROPPED_MAP
);

/// A zeroed `RemoteStats`, to create entries from.
#[map]
static ZERO_REMOTE: Array<RemoteStats> = Array::with_max_entries(1, 0);

/// The state of each followed socket.
#[btf_map]
static DEPENDENCY_SOCKETS: SkStorage<SocketState> = SkStorage::new();

named!(DEPENDENCY_REMOTES, probe_common::dependency::REMOTES_MAP);

/// Connections established before the agent started, counted and waiting
/// to be taken up, by the socket's kernel address (`follow`).
#[map]
static DEPENDENCY_PENDING: HashMap<u64, RemoteKey> =
    HashMap::with_max_entries(MAX_PENDING, BPF_F_NO_PREALLOC);
named!(DEPENDENCY_PENDING, probe_common::dependency::PENDING_MAP);

/// How many wait there, and whether the take-up is over (`take_up`).
#[map]
static DEPENDENCY_TAKE_UP: Array<u64> = Array::with_max_entries(2, 0);
named!(DEPENDENCY_TAKE_UP, probe_common::dependency::TAKE_UP_MAP);

/// The connections each cgroup has waiting (only the iterator writes it).
#[map]
static DEPENDENCY_PENDING_PER_CGROUP: HashMap<u64, u64> =
    HashMap::with_max_entries(MAX_CGROUPS, BPF_F_NO_PREALLOC);
named!(
    DEPENDENCY_PENDING_PER_CGROUP,
    probe_common::dependency::PENDING_PER_CGROUP_MAP
);
named!(dependency_follow, programs::DEPENDENCY_FOLLOW);
named!(DEPENDENCY_SOCKETS, probe_common::dependency::SOCKETS_MAP);
named!(dependency_state, programs::DEPENDENCY_STATE);
named!(dependency_send, programs::DEPENDENCY_SEND);
named!(dependency_send_fentry, programs::DEPENDENCY_SEND_FENTRY);
named!(dependency_data_ready, programs::DEPENDENCY_DATA_READY);
named!(
    dependency_data_ready_fentry,
    programs::DEPENDENCY_DATA_READY_FENTRY
);
named!(dependency_retransmit, programs::DEPENDENCY_RETRANSMIT);

/// The state of `sk`, if it is followed (or, with `create`, a new zeroed
/// one: `None` if the kernel cannot allocate it).
#[inline(always)]
fn socket_state(sk: KernelPtr, create: bool) -> Option<&'static mut SocketState> {
    socket_storage::get(&DEPENDENCY_SOCKETS, sk, create, ptr::null_mut())
}

/// The statistics of `key`, made on first use: within its cgroup's share
/// of the map (a cgroup that connects to thousands of remotes cannot take
/// the room of every other), and within the map's bound.
#[inline(always)]
fn remote_stats(key: &RemoteKey) -> Option<*mut RemoteStats> {
    if let Some(stats) = DEPENDENCY_REMOTES.get_ptr_mut(key) {
        return Some(stats);
    }
    // Without a count (more cgroups than the map of counts holds), no share.
    let made = get_or_insert(&DEPENDENCY_PAIRS_MADE, &key.cgroup, &0);
    if let Some(made) = made {
        // SAFETY: values of hash maps, live for this program's run.
        let dropped = unsafe { DEPENDENCY_PAIRS_DROPPED.get(key.cgroup) }.map_or(0, |d| *d);
        // SAFETY: as above.
        if unsafe { *made }.wrapping_sub(dropped) >= REMOTES_PER_CGROUP.load() {
            bump(DEPENDENCY_REMOTES_PER_CONTAINER);
            return None;
        }
    }
    let (stats, created) = create(&DEPENDENCY_REMOTES, key, ZERO_REMOTE.get(0)?);
    if created && let Some(made) = made {
        // SAFETY: as above.
        unsafe { atomic_add(made, 1) };
    }
    if stats.is_none() {
        bump(DEPENDENCY_REMOTES_FULL);
    }
    stats
}

/// The (cgroup, remote) of a TCP socket about to connect; `None` for other
/// sockets, or when its cgroup cannot be read.
#[inline(always)]
fn remote_of(sk: KernelPtr) -> Option<RemoteKey> {
    if sk.read::<u16>(SOCK_PROTOCOL_OFFSET.load()) != IPPROTO_TCP {
        return None;
    }
    let family: u16 = sk.read(SOCK_FAMILY_OFFSET.load());
    let mut key = RemoteKey {
        family,
        port: u16::from_be(sk.read(SOCK_DPORT_OFFSET.load())),
        ..RemoteKey::default()
    };
    if family == AF_INET {
        let addr: u32 = sk.read(SOCK_DADDR_OFFSET.load());
        key.addr[..4].copy_from_slice(&addr.to_ne_bytes());
    } else if family == AF_INET6 {
        let at = SOCK_V6_DADDR_OFFSET.load();
        let high: u64 = sk.read(at);
        let low: u64 = sk.read(at + 8);
        let low = low.to_ne_bytes();
        if high == 0 && low[..4] == [0, 0, 0xff, 0xff] {
            // An IPv4 peer reached through an IPv6 socket (`::ffff:a.b.c.d`):
            // the same remote as through an IPv4 one, one key.
            key.family = AF_INET;
            key.addr[..4].copy_from_slice(&low[4..]);
        } else {
            key.addr[..8].copy_from_slice(&high.to_ne_bytes());
            key.addr[8..].copy_from_slice(&low);
        }
    } else {
        return None;
    }
    let Some(cgroup) = sk.read_ptr(SOCK_CGROUP_OFFSET.load()).and_then(cgroup_id) else {
        bump(DEPENDENCY_CGROUP_UNREADABLE);
        return None;
    };
    key.cgroup = cgroup;
    Some(key)
}

/// `inet_sock_set_state(const struct sock *sk, int oldstate, int newstate)`.
#[btf_tracepoint(function = "inet_sock_set_state")]
pub fn dependency_state(ctx: BtfTracePointContext) -> i32 {
    let sk = KernelPtr::tracepoint_arg(&ctx, 0);
    if sk.is_null() {
        return 0;
    }
    let (old, new) = (ctx.arg::<u64>(1) as i32, ctx.arg::<u64>(2) as i32);
    match (old, new) {
        (TCP_CLOSE, TCP_SYN_SENT) => {
            // The peer's address and port are set before this transition.
            let Some(key) = remote_of(sk) else {
                return 0;
            };
            let Some(state) = socket_state(sk, true) else {
                bump(DEPENDENCY_SOCKET_UNAVAILABLE);
                return 0;
            };
            note_followed(sk);
            *state = SocketState {
                key,
                connect_ns: ktime_ns(),
                ..SocketState::default()
            };
        }
        (TCP_SYN_SENT, TCP_ESTABLISHED) => {
            let Some(state) = socket_state(sk, false) else {
                return 0;
            };
            let Some(stats) = remote_stats(&state.key) else {
                return 0;
            };
            state.established = 1;
            // SAFETY: `stats` is a value of the remotes map, live for this run.
            unsafe {
                let _ = observe_since(
                    &raw mut (*stats).connect,
                    state.connect_ns,
                    DEPENDENCY_TOO_LONG,
                );
                atomic_add((&raw mut (*stats).established).cast::<u64>(), 1);
            }
        }
        (TCP_SYN_SENT, TCP_CLOSE) => {
            let Some(state) = socket_state(sk, false) else {
                return 0;
            };
            let Some(stats) = remote_stats(&state.key) else {
                return 0;
            };
            let why = reason::of_close(
                sk.read::<i32>(SOCK_ERR_OFFSET.load()),
                state.flags & socket_flags::SYN_RESENT != 0,
            );
            if why < reason::COUNT {
                // SAFETY: as above; `why` is within the reasons.
                unsafe { atomic_add((*stats).failures.as_mut_ptr().add(why), 1) };
            }
        }
        (TCP_ESTABLISHED, _) => {
            let Some(state) = socket_state(sk, false) else {
                settle_pending(sk);
                return 0;
            };
            if state.established == 0 {
                return 0;
            }
            state.established = 0;
            if let Some(stats) = remote_stats(&state.key) {
                // SAFETY: as above; adding all ones subtracts one.
                unsafe { atomic_add((&raw mut (*stats).established).cast::<u64>(), u64::MAX) };
            }
        }
        _ => {}
    }
    0
}

/// Data written on `sk`: opens a request if none is open and nothing from
/// the peer waits unread (but a TLS handshake's tail).
#[inline(always)]
fn sent(sk: KernelPtr, msg: KernelPtr) {
    if sk.is_null() {
        return;
    }
    let Some(state) = socket_state(sk, false).or_else(|| take_up_pending(sk)) else {
        return;
    };
    if state.established == 0 {
        return;
    }
    let opens = state.request_ns == 0
        && (state.flags & socket_flags::HANDSHAKE != 0
            || sk.read::<u32>(SOCK_RCV_QLEN_OFFSET.load()) == 0);
    if state.flags & socket_flags::MULTIPLEXED != 0 {
        if opens {
            count_untimed(&state.key, request::MULTIPLEXED);
        }
        return;
    }
    // The first send is read whatever arrived before it: an HTTP/2 server
    // speaks first, and the client's preface is then no request. A
    // connection taken up at start sent its first bytes before.
    let taken_up = state.flags & socket_flags::TAKEN_UP != 0;
    let first = state.flags & socket_flags::SENT == 0 && !taken_up;
    if !opens && !first {
        return;
    }
    state.flags |= socket_flags::SENT;
    let continued = state.flags & socket_flags::RESP_HEADER != 0;
    state.flags &= !socket_flags::RESP_HEADER;
    let kind = request_kind(msg, taken_up, continued);
    if kind == request::MULTIPLEXED {
        state.flags = (state.flags | socket_flags::MULTIPLEXED) & !socket_flags::TAKEN_UP;
        count_untimed(&state.key, kind);
        return;
    }
    if !opens {
        return;
    }
    if kind == request::PARTIAL {
        // Opened by the next write, which tells the command.
        state.flags |= socket_flags::RESP_HEADER;
        return;
    }
    if kind == request::UNKNOWN {
        // Still not known: the next request may tell.
        count_untimed(&state.key, kind);
        return;
    }
    state.flags &= !socket_flags::TAKEN_UP;
    if kind == request::HANDSHAKE {
        state.flags |= socket_flags::HANDSHAKE;
    } else {
        state.flags &= !socket_flags::HANDSHAKE;
    }
    match kind {
        request::TIMED | request::LONG_POLL => {
            state.request_ns = ktime_ns();
            state.kind = u32::from(kind);
        }
        _ => count_untimed(&state.key, kind),
    }
}

/// Counts an exchange of `kind` that is not timed.
#[inline(always)]
fn count_untimed(key: &RemoteKey, kind: u8) {
    let kind = usize::from(kind);
    if kind >= request::COUNT {
        return;
    }
    if let Some(stats) = remote_stats(key) {
        // SAFETY: a value of the remotes map, live for this run; `kind` is
        // within the kinds.
        unsafe { atomic_add((*stats).untimed.as_mut_ptr().add(kind), 1) };
    }
}

/// The kind of the request `msg` starts, from its first bytes, on a
/// connection `taken_up` at start or not (`request::resumed`), or that it
/// goes on with after a RESP header written alone (`continued`). Where they
/// cannot be read: `TIMED`, or `UNKNOWN` on a connection taken up.
#[inline(always)]
fn request_kind(msg: KernelPtr, taken_up: bool, continued: bool) -> u8 {
    let mut buf = core::mem::MaybeUninit::uninit();
    let Some((bytes, len)) = payload::first_bytes(msg, &mut buf) else {
        return if taken_up {
            request::UNKNOWN
        } else {
            request::TIMED
        };
    };
    let kind = request::kind(bytes, len, continued);
    if taken_up {
        request::resumed(bytes, len).unwrap_or(kind)
    } else {
        kind
    }
}

/// `tcp_sendmsg_locked(const struct sock *sk, const struct msghdr *msg,
/// const struct sk_buff *skb, int size_goal)` (Linux 6.9+).
#[btf_tracepoint(function = "tcp_sendmsg_locked")]
pub fn dependency_send(ctx: BtfTracePointContext) -> i32 {
    sent(
        KernelPtr::tracepoint_arg(&ctx, 0),
        KernelPtr::tracepoint_arg(&ctx, 1),
    );
    0
}

/// `tcp_sendmsg_locked(struct sock *sk, struct msghdr *msg, size_t size)`,
/// where the tracepoint is missing.
#[fentry(function = "tcp_sendmsg_locked")]
pub fn dependency_send_fentry(ctx: FEntryContext) -> i32 {
    sent(
        KernelPtr::fentry_arg(&ctx, 0),
        KernelPtr::fentry_arg(&ctx, 1),
    );
    0
}

/// `iter/task_file`, run by the agent once at start: counts every outbound
/// TCP connection established before (a pool opened before an agent
/// restart) in its remote's connections and leaves it waiting in
/// `DEPENDENCY_PENDING` for [`take_up_pending`] (see
/// `probe_common::dependency::follow`); writes a [`FollowRecord`] of each.
///
/// Outbound is told by how the socket was made: a socket a listener
/// accepted (a passive open) inherits the listener's accept-queue bound,
/// one that connected has none. (A server that listens with a backlog of
/// 0 is the exception: its accepted sockets would pass for connections.)
#[unsafe(no_mangle)]
#[unsafe(link_section = "iter/task_file")]
pub fn dependency_follow(ctx: *mut core::ffi::c_void) -> i32 {
    let Some(IterSocket { meta, sk, .. }) = iter_socket(ctx) else {
        return 0;
    };
    if !is_tcp_in(sk, TCP_ESTABLISHED as u8) || passive(sk) {
        return 0;
    }
    let Some(key) = remote_of(sk) else {
        return 0;
    };
    let record = FollowRecord {
        key,
        outcome: pend(sk, &key),
        pad: 0,
    };
    let Some(seq) = meta.read_ptr(ITER_META_SEQ_OFFSET.load()) else {
        return 0;
    };
    // SAFETY: `seq` is the iterator's `seq_file`; the record is on this
    // program's stack for the call.
    unsafe {
        bpf_seq_write(
            seq.as_ptr() as *mut seq_file,
            (&raw const record).cast(),
            size_of::<FollowRecord>() as u32,
        );
    }
    0
}

/// Whether `sk` was made by a listener (a passive open).
#[inline(always)]
pub(crate) fn passive(sk: KernelPtr) -> bool {
    sk.read::<u32>(SOCK_MAX_ACK_BACKLOG_OFFSET.load()) != 0
}

/// The kernel address of `sk`, which keys `DEPENDENCY_PENDING`.
#[inline(always)]
fn address(sk: KernelPtr) -> u64 {
    sk.as_ptr() as u64
}

/// Slot `slot` of `DEPENDENCY_TAKE_UP`.
#[inline(always)]
fn take_up_slot(slot: u32) -> Option<*mut u64> {
    DEPENDENCY_TAKE_UP.get_ptr_mut(slot)
}

/// Counts the established connection `sk` of `key` in its remote's
/// connections and leaves it waiting to be taken up; the [`follow`]
/// outcome.
///
/// The connection is counted before it waits, so that a close seen
/// meanwhile (which uncounts what it finds waiting) never takes the count
/// below what it was. Whoever removes a waiting entry (the take-up, the
/// close, or this on a socket that closed since it was found) settles it:
/// a map deletion succeeds once.
#[inline(always)]
fn pend(sk: KernelPtr, key: &RemoteKey) -> u32 {
    let addr = address(sk);
    // SAFETY: a lookup in this program's map; the value is not kept.
    if unsafe { DEPENDENCY_PENDING.get(addr) }.is_some() {
        return follow::FOLLOWED;
    }
    let Some(waiting) = take_up_slot(take_up::WAITING) else {
        return follow::FULL;
    };
    let Some(mine) = get_or_insert(&DEPENDENCY_PENDING_PER_CGROUP, &key.cgroup, &0) else {
        return follow::FULL;
    };
    // SAFETY: a value of a hash map, live for this run (only this
    // iterator writes it, one socket at a time).
    if unsafe { *mine } >= MAX_PENDING_PER_CGROUP {
        return follow::FULL;
    }
    let Some(stats) = remote_stats(key) else {
        return follow::NO_ROOM;
    };
    // SAFETY: `stats` is a value of the remotes map, live for this run.
    let established = unsafe { (&raw mut (*stats).established).cast::<u64>() };
    // SAFETY: as above.
    unsafe { atomic_add(established, 1) };
    // Absent a moment ago, and only this iterator adds an established
    // socket: refused, the map is full.
    if DEPENDENCY_PENDING
        .insert(addr, key, u64::from(BPF_NOEXIST))
        .is_err()
    {
        // SAFETY: as above; adding all ones subtracts one.
        unsafe { atomic_add(established, u64::MAX) };
        return follow::FULL;
    }
    // SAFETY: values of this program's maps, live for this run.
    unsafe {
        atomic_add(waiting, 1);
        *mine += 1;
    }
    if is_tcp_in(sk, TCP_ESTABLISHED as u8) {
        return follow::TAKEN_UP;
    }
    if DEPENDENCY_PENDING.remove(addr).is_ok() {
        // SAFETY: as above.
        unsafe {
            atomic_add(waiting, u64::MAX);
            atomic_add(established, u64::MAX);
        }
    }
    follow::CLOSED
}

/// The state of `sk` if it waits to be taken up (`None` otherwise): made
/// now, counted in its remote's connections already, and what it carries
/// told by its next request ([`socket_flags::TAKEN_UP`]). Called at a send
/// (under the socket's lock) on a socket with no state.
#[inline(always)]
fn take_up_pending(sk: KernelPtr) -> Option<&'static mut SocketState> {
    let key = claim_pending(sk)?;
    let mut initial = SocketState {
        key,
        established: 1,
        flags: socket_flags::TAKEN_UP,
        ..SocketState::default()
    };
    let state = socket_storage::get(&DEPENDENCY_SOCKETS, sk, true, &raw mut initial);
    if state.is_none() {
        bump(DEPENDENCY_SOCKET_UNAVAILABLE);
        uncount(&key);
    }
    state
}

/// A socket with no state left `ESTABLISHED`: if it was waiting to be
/// taken up, it no longer counts.
#[inline(always)]
fn settle_pending(sk: KernelPtr) {
    if let Some(key) = claim_pending(sk) {
        uncount(&key);
    }
}

/// Removes `sk` from the connections waiting to be taken up; its key, if
/// it was one and this call removed it (a socket the programs follow, or
/// a busy host's every inbound socket, costs a load or two).
#[inline(always)]
fn claim_pending(sk: KernelPtr) -> Option<RemoteKey> {
    let waiting = take_up_slot(take_up::WAITING)?;
    // SAFETY: a value of this program's array, live for this run.
    if unsafe { *waiting } == 0 || passive(sk) {
        return None;
    }
    let addr = address(sk);
    // SAFETY: a lookup in this program's map; the value is copied.
    let key = *unsafe { DEPENDENCY_PENDING.get(addr) }?;
    if key.is_followed_note() || DEPENDENCY_PENDING.remove(addr).is_err() {
        return None;
    }
    // SAFETY: as above; adding all ones subtracts one.
    unsafe { atomic_add(waiting, u64::MAX) };
    Some(key)
}

/// Takes one connection out of `key`'s count.
#[inline(always)]
fn uncount(key: &RemoteKey) {
    if let Some(stats) = remote_stats(key) {
        // SAFETY: a value of the remotes map, live for this run; adding all
        // ones subtracts one.
        unsafe { atomic_add((&raw mut (*stats).established).cast::<u64>(), u64::MAX) };
    }
}

/// Until the follow iterator has run, notes that the programs follow `sk`
/// (it connects now), so that the iterator does not count it again.
#[inline(always)]
fn note_followed(sk: KernelPtr) {
    let Some(over) = take_up_slot(take_up::OVER) else {
        return;
    };
    // SAFETY: a value of this program's array, live for this run.
    if unsafe { *over } != 0 {
        return;
    }
    let _ = DEPENDENCY_PENDING.insert(address(sk), RemoteKey::FOLLOWED_NOTE, 0);
}

/// Data from the peer arrived on `sk`: closes the open request.
#[inline(always)]
fn answered(sk: KernelPtr) {
    if sk.is_null() {
        return;
    }
    let Some(state) = socket_state(sk, false) else {
        return;
    };
    if state.request_ns == 0 {
        return;
    }
    let since = state.request_ns;
    state.request_ns = 0;
    if state.kind == u32::from(request::LONG_POLL) {
        state.kind = 0;
        count_untimed(&state.key, request::LONG_POLL);
        return;
    }
    if let Some(stats) = remote_stats(&state.key) {
        // SAFETY: `stats` is a value of the remotes map, live for this run.
        let took = unsafe { observe_since(&raw mut (*stats).response, since, DEPENDENCY_TOO_LONG) };
        if took.is_some_and(|ns| ns > DEPENDENCY_SLOW_NS.load()) {
            // SAFETY: as above.
            unsafe { atomic_add(&raw mut (*stats).slow_responses, 1) };
        }
    }
}

/// `sk_data_ready(const struct sock *sk)` (Linux 6.10+).
#[btf_tracepoint(function = "sk_data_ready")]
pub fn dependency_data_ready(ctx: BtfTracePointContext) -> i32 {
    answered(KernelPtr::tracepoint_arg(&ctx, 0));
    0
}

/// `sock_def_readable(struct sock *sk)`, the `sk_data_ready` callback of
/// TCP sockets, where the tracepoint is missing.
#[fentry(function = "sock_def_readable")]
pub fn dependency_data_ready_fentry(ctx: FEntryContext) -> i32 {
    answered(KernelPtr::fentry_arg(&ctx, 0));
    0
}

/// `tcp_retransmit_skb(const struct sock *sk, const struct sk_buff *skb, ...)`.
#[btf_tracepoint(function = "tcp_retransmit_skb")]
pub fn dependency_retransmit(ctx: BtfTracePointContext) -> i32 {
    let sk = KernelPtr::tracepoint_arg(&ctx, 0);
    if sk.is_null() {
        return 0;
    }
    let Some(state) = socket_state(sk, false) else {
        return 0;
    };
    if state.established == 0 {
        // Still connecting (a closed socket sends no SYN): its SYN again.
        state.flags |= socket_flags::SYN_RESENT;
    }
    if let Some(stats) = remote_stats(&state.key) {
        // SAFETY: `stats` is a value of the remotes map, live for this run.
        unsafe { atomic_add(&raw mut (*stats).retransmits, 1) };
    }
    0
}
