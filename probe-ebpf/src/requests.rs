//! Requests: the server side of each container's inbound TCP connections,
//! per listening port: how long requests wait for the application to read
//! them, how long it takes to answer, how many wait now, and errors. No
//! protocol is parsed: a request is data arriving on a connection with
//! nothing unanswered, its response the server's next write.
//!
//! Each inbound connection gets a small state in its socket's local
//! storage (freed with the socket) holding its (cgroup, port): the socket
//! cgroup is the listener's, which an accepted socket inherits.
//!
//! - `requests_state` (`sock:inet_sock_set_state`): `SYN_RECV ->
//!   ESTABLISHED` follows an inbound connection and counts it; leaving
//!   `ESTABLISHED` uncounts it; going to `FIN_WAIT1`, `LAST_ACK` or
//!   `CLOSE` (the server closes, or a reset) with a request open counts an
//!   error (`reset`).
//! - `requests_data_ready` (`sock:sk_data_ready`, or
//!   `fentry/sock_def_readable`): data arriving on an established
//!   connection with no request open opens one, waiting to be read. A
//!   connection accepted before the agent started is followed from its
//!   first request (a socket a listener made, with no state yet).
//! - `requests_read` (`tcp:tcp_rcv_space_adjust`, in the application's
//!   receive): the first read of the open request observes its queue time;
//!   it waits no more.
//! - `requests_send` (`tcp:tcp_sendmsg_locked`, or
//!   `fentry/tcp_sendmsg_locked`): the first write with a request open
//!   observes its response time and closes it (a response that starts with
//!   an HTTP/1.x 5xx status line counts `http_5xx`; a TLS handshake record
//!   closes it untimed). A server whose first write is an HTTP/2 SETTINGS
//!   frame multiplexes: nothing on that connection is timed.
//!
//! Send, receive and state paths run under the socket's lock, so a
//! socket's state is never written from two CPUs at once; the (cgroup,
//! port) statistics are shared and updated atomically.

use core::ptr;

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    btf_maps::SkStorage,
    macros::{btf_map, btf_tracepoint, fentry, map},
    maps::{Array, HashMap},
    programs::{BtfTracePointContext, FEntryContext},
};
use probe_common::{
    counters::{
        REQUESTS_CGROUP_UNREADABLE, REQUESTS_PORTS_FULL, REQUESTS_SOCKET_UNAVAILABLE,
        REQUESTS_TOO_LONG,
    },
    programs,
    requests::{
        MAX_PORTS, PortKey, PortStats, ServerSocket, error, is_http_5xx, is_http2_settings,
        socket_flags,
    },
    tcp::{AF_INET, AF_INET6},
};

use crate::{
    atomic::atomic_add,
    counters::bump,
    dependency::passive,
    hash_entry::get_or_insert_zeroed,
    kernel::{KernelPtr, cgroup_id, ktime_ns},
    names::named,
    observe::observe_since,
    payload, socket_storage,
    tcp::{SOCK_CGROUP_OFFSET, SOCK_FAMILY_OFFSET, SOCK_PORT_OFFSET, is_tcp_in},
};

crate::globals::load_time_globals! {
    /// Queue times longer than this (ns) count in `slow_queued`.
    REQUESTS_QUEUE_SLOW_NS: u64 = u64::MAX;
}

/// TCP states (`include/net/tcp_states.h`).
const TCP_ESTABLISHED: i32 = 1;
const TCP_SYN_RECV: i32 = 3;
const TCP_FIN_WAIT1: i32 = 4;
const TCP_CLOSE: i32 = 7;
const TCP_LAST_ACK: i32 = 9;

/// Statistics per (cgroup, listening port); entries are made as
/// connections are.
#[map]
static REQUEST_PORTS: HashMap<PortKey, PortStats> =
    HashMap::with_max_entries(MAX_PORTS, BPF_F_NO_PREALLOC);
named!(REQUEST_PORTS, probe_common::requests::PORTS_MAP);

/// A zeroed `PortStats`, to create entries from.
#[map]
static ZERO_PORT: Array<PortStats> = Array::with_max_entries(1, 0);

/// The state of each followed inbound socket.
#[btf_map]
static REQUEST_SOCKETS: SkStorage<ServerSocket> = SkStorage::new();
named!(REQUEST_SOCKETS, probe_common::requests::SOCKETS_MAP);

named!(requests_state, programs::REQUESTS_STATE);
named!(requests_data_ready, programs::REQUESTS_DATA_READY);
named!(
    requests_data_ready_fentry,
    programs::REQUESTS_DATA_READY_FENTRY
);
named!(requests_read, programs::REQUESTS_READ);
named!(requests_send, programs::REQUESTS_SEND);
named!(requests_send_fentry, programs::REQUESTS_SEND_FENTRY);

/// The state of `sk`, if it is followed (or, with `create`, a new zeroed
/// one: `None` if the kernel cannot allocate it).
#[inline(always)]
fn socket_state(sk: KernelPtr, create: bool) -> Option<&'static mut ServerSocket> {
    socket_storage::get(&REQUEST_SOCKETS, sk, create, ptr::null_mut())
}

/// The statistics of `key`, made on first use (`None`, counted, when the
/// map is full).
#[inline(always)]
fn port_stats(key: &PortKey) -> Option<*mut PortStats> {
    let stats = get_or_insert_zeroed(&REQUEST_PORTS, key, &ZERO_PORT);
    if stats.is_none() {
        bump(REQUESTS_PORTS_FULL);
    }
    stats
}

/// Adds `delta` (all ones: minus one) to the gauge `field` of `key`'s
/// statistics.
#[inline(always)]
fn add_to_gauge(key: &PortKey, field: fn(*mut PortStats) -> *mut i64, delta: u64) {
    if let Some(stats) = port_stats(key) {
        // SAFETY: a value of the ports map, live for this run.
        unsafe { atomic_add(field(stats).cast::<u64>(), delta) };
    }
}

/// The waiting gauge of a port's statistics.
fn waiting(stats: *mut PortStats) -> *mut i64 {
    // SAFETY: only the field's address is taken.
    unsafe { &raw mut (*stats).waiting }
}

/// The connections gauge of a port's statistics.
fn connections(stats: *mut PortStats) -> *mut i64 {
    // SAFETY: only the field's address is taken.
    unsafe { &raw mut (*stats).connections }
}

/// The (cgroup, port) of an inbound IPv4 or IPv6 socket; `None` for other
/// families, or when its cgroup cannot be read.
#[inline(always)]
fn port_of(sk: KernelPtr) -> Option<PortKey> {
    let family: u16 = sk.read(SOCK_FAMILY_OFFSET.load());
    if family != AF_INET && family != AF_INET6 {
        return None;
    }
    let Some(cgroup) = sk.read_ptr(SOCK_CGROUP_OFFSET.load()).and_then(cgroup_id) else {
        bump(REQUESTS_CGROUP_UNREADABLE);
        return None;
    };
    Some(PortKey {
        cgroup,
        port: sk.read(SOCK_PORT_OFFSET.load()),
        pad: [0; 3],
    })
}

/// Starts following the inbound connection `sk` and counts it; its state.
#[inline(always)]
fn follow(sk: KernelPtr) -> Option<&'static mut ServerSocket> {
    let key = port_of(sk)?;
    let Some(state) = socket_state(sk, true) else {
        bump(REQUESTS_SOCKET_UNAVAILABLE);
        return None;
    };
    *state = ServerSocket {
        key,
        flags: socket_flags::COUNTED,
        ..ServerSocket::default()
    };
    add_to_gauge(&key, connections, 1);
    Some(state)
}

/// Closes the open request of `state` without timing its response: it
/// waits no more.
#[inline(always)]
fn close_untimed(state: &mut ServerSocket) {
    state.arrived_ns = 0;
    if state.flags & socket_flags::READ == 0 {
        add_to_gauge(&state.key, waiting, u64::MAX);
    }
    state.flags &= !socket_flags::READ;
}

/// `inet_sock_set_state(const struct sock *sk, int oldstate, int newstate)`.
#[btf_tracepoint(function = "inet_sock_set_state")]
pub fn requests_state(ctx: BtfTracePointContext) -> i32 {
    let sk = KernelPtr::tracepoint_arg(&ctx, 0);
    if sk.is_null() {
        return 0;
    }
    let (old, new) = (ctx.arg::<u64>(1) as i32, ctx.arg::<u64>(2) as i32);
    if old == TCP_SYN_RECV && new == TCP_ESTABLISHED {
        let _ = follow(sk);
        return 0;
    }
    if old == TCP_SYN_RECV || old == TCP_CLOSE {
        return 0;
    }
    let Some(state) = socket_state(sk, false) else {
        return 0;
    };
    if old == TCP_ESTABLISHED && state.flags & socket_flags::COUNTED != 0 {
        state.flags &= !socket_flags::COUNTED;
        add_to_gauge(&state.key, connections, u64::MAX);
    }
    let closes = new == TCP_FIN_WAIT1 || new == TCP_LAST_ACK || new == TCP_CLOSE;
    if closes && state.arrived_ns != 0 {
        close_untimed(state);
        if let Some(stats) = port_stats(&state.key) {
            // SAFETY: a value of the ports map, live for this run.
            unsafe { atomic_add((*stats).errors.as_mut_ptr().add(error::RESET), 1) };
        }
    }
    0
}

/// Data arrived on `sk`: opens a request if none is open.
#[inline(always)]
fn arrived(sk: KernelPtr) {
    if sk.is_null() || !is_tcp_in(sk, TCP_ESTABLISHED as u8) {
        return;
    }
    let state = match socket_state(sk, false) {
        Some(state) => state,
        // Accepted before the agent started: followed from now on.
        None if passive(sk) => match follow(sk) {
            Some(state) => state,
            None => return,
        },
        None => return,
    };
    if state.arrived_ns != 0 || state.flags & socket_flags::MULTIPLEXED != 0 {
        return;
    }
    state.arrived_ns = ktime_ns();
    add_to_gauge(&state.key, waiting, 1);
}

/// `sk_data_ready(const struct sock *sk)` (Linux 6.10+).
#[btf_tracepoint(function = "sk_data_ready")]
pub fn requests_data_ready(ctx: BtfTracePointContext) -> i32 {
    arrived(KernelPtr::tracepoint_arg(&ctx, 0));
    0
}

/// `sock_def_readable(struct sock *sk)`, where the tracepoint is missing.
#[fentry(function = "sock_def_readable")]
pub fn requests_data_ready_fentry(ctx: FEntryContext) -> i32 {
    arrived(KernelPtr::fentry_arg(&ctx, 0));
    0
}

/// `tcp_rcv_space_adjust(struct sock *sk)`: the application read from
/// `sk`; the open request's first read ends its wait.
#[btf_tracepoint(function = "tcp_rcv_space_adjust")]
pub fn requests_read(ctx: BtfTracePointContext) -> i32 {
    let sk = KernelPtr::tracepoint_arg(&ctx, 0);
    if sk.is_null() {
        return 0;
    }
    let Some(state) = socket_state(sk, false) else {
        return 0;
    };
    if state.arrived_ns == 0 || state.flags & socket_flags::READ != 0 {
        return 0;
    }
    state.flags |= socket_flags::READ;
    if let Some(stats) = port_stats(&state.key) {
        // SAFETY: a value of the ports map, live for this run.
        unsafe {
            let took = observe_since(&raw mut (*stats).queue, state.arrived_ns, REQUESTS_TOO_LONG);
            if took.is_some_and(|ns| ns > REQUESTS_QUEUE_SLOW_NS.load()) {
                atomic_add(&raw mut (*stats).slow_queued, 1);
            }
            atomic_add(waiting(stats).cast::<u64>(), u64::MAX);
        }
    }
    0
}

/// Data written on `sk`: the response to the open request, if one is.
#[inline(always)]
fn sent(sk: KernelPtr, msg: KernelPtr) {
    if sk.is_null() {
        return;
    }
    let Some(state) = socket_state(sk, false) else {
        return;
    };
    let first = state.flags & socket_flags::SENT == 0;
    if state.flags & socket_flags::MULTIPLEXED != 0 || (state.arrived_ns == 0 && !first) {
        return;
    }
    state.flags |= socket_flags::SENT;
    let mut buf = core::mem::MaybeUninit::uninit();
    let peeked = payload::first_bytes(msg, &mut buf);
    if first
        && let Some((bytes, len)) = peeked
        && is_http2_settings(bytes, len)
    {
        state.flags |= socket_flags::MULTIPLEXED;
        if state.arrived_ns != 0 {
            close_untimed(state);
        }
        if let Some(stats) = port_stats(&state.key) {
            // SAFETY: a value of the ports map, live for this run.
            unsafe { atomic_add(&raw mut (*stats).multiplexed, 1) };
        }
        return;
    }
    if state.arrived_ns == 0 {
        return;
    }
    let since = state.arrived_ns;
    let handshake =
        peeked.is_some_and(|(bytes, len)| len >= 2 && bytes[0] == 0x16 && bytes[1] == 3);
    let http_5xx = peeked.is_some_and(|(bytes, len)| is_http_5xx(bytes, len));
    close_untimed(state);
    if handshake {
        return;
    }
    let Some(stats) = port_stats(&state.key) else {
        return;
    };
    // SAFETY: a value of the ports map, live for this run.
    unsafe {
        let _ = observe_since(&raw mut (*stats).response, since, REQUESTS_TOO_LONG);
        if http_5xx {
            atomic_add((*stats).errors.as_mut_ptr().add(error::HTTP_5XX), 1);
        }
    }
}

/// `tcp_sendmsg_locked(const struct sock *sk, const struct msghdr *msg,
/// const struct sk_buff *skb, int size_goal)` (Linux 6.9+).
#[btf_tracepoint(function = "tcp_sendmsg_locked")]
pub fn requests_send(ctx: BtfTracePointContext) -> i32 {
    sent(
        KernelPtr::tracepoint_arg(&ctx, 0),
        KernelPtr::tracepoint_arg(&ctx, 1),
    );
    0
}

/// `tcp_sendmsg_locked(struct sock *sk, struct msghdr *msg, size_t size)`,
/// where the tracepoint is missing.
#[fentry(function = "tcp_sendmsg_locked")]
pub fn requests_send_fentry(ctx: FEntryContext) -> i32 {
    sent(
        KernelPtr::fentry_arg(&ctx, 0),
        KernelPtr::fentry_arg(&ctx, 1),
    );
    0
}
