//! Listen drops counted at the listener that drops, where the kernel drops.
//!
//! The kernel counts accept-queue overflows and SYN-queue drops per network
//! namespace only (`ListenOverflows`, `TCPReqQFullDrop`), at sites that
//! no tracepoint marks (`tcp_listendrop()` is inlined everywhere). Their
//! functions can be hooked, where the kernel allows fentry:
//! - `tcp_conn_request()` takes a SYN: with the SYN queue full it asks
//!   `tcp_syn_flood_action()`, which drops the SYN when SYN cookies are off
//!   (a SYN-queue drop); then, with the accept queue full, it drops the SYN
//!   (an overflow). Its entry notes whether the accept queue is full, the
//!   flood hook notes a SYN-queue drop, and its exit counts the overflow
//!   when the SYN was dropped (the socket's drop count rose), the accept
//!   queue was full and the SYN queue did not drop it first. Kernels that
//!   inline `tcp_syn_flood_action()` (6.1) count no SYN-queue drops; there
//!   a drop with SYN cookies off and the SYN queue at its bound (`qlen >=
//!   backlog`, those kernels' test) is the SYN queue's, not an overflow.
//!   Where the length cannot be read either (lockdown), the agent does not
//!   use these counts.
//! - `tcp_v4_syn_recv_sock()` / `tcp_v6_syn_recv_sock()` make the child of
//!   a completed handshake; their first step drops it when the accept queue
//!   is full (an overflow). An IPv4 connection to an IPv6 listener passes
//!   through both: the IPv6 hook counts it, the IPv4 one skips IPv6
//!   listeners.
//!
//! The queue is read at the hook, a few instructions before the kernel's own
//! check: an `accept()` on another CPU in between is the only way they can
//! differ. Counts are keyed by the listener's network namespace and socket
//! inode, as the agent identifies listeners; the agent deletes the entries
//! of listeners that closed.

use aya_ebpf::{
    macros::{fentry, fexit, map},
    maps::{HashMap, PerCpuArray},
    programs::{FEntryContext, FExitContext},
};
use probe_common::{
    counters::{TCP_DROPS_MAP_FULL, TCP_LISTENER_UNREADABLE},
    programs,
    tcp::{AF_INET, DROPS_ENTRIES, ListenerDrops, ListenerKey},
};

use crate::{
    atomic::atomic_add,
    counters::bump,
    globals::load_time_globals,
    hash_entry::get_or_insert,
    kernel::{KernelPtr, offsets},
    names::named,
    tcp::{
        FILE_INODE_OFFSET, INODE_INO_OFFSET, SOCK_ACK_BACKLOG_OFFSET, SOCK_DROPS_OFFSET,
        SOCK_FAMILY_OFFSET, SOCK_MAX_ACK_BACKLOG_OFFSET, SOCK_NET_OFFSET, netns_of, syn_queue_len,
    },
};

offsets!(
    SOCK_SOCKET_OFFSET,
    SOCKET_FILE_OFFSET,
    NET_SYNCOOKIES_OFFSET
);

load_time_globals! {
    /// 1 when `tcp_syn_queue_full` is attached: it tells SYN-queue drops.
    SYN_QUEUE_HOOKED: u8 = 0;
}

/// Drops per listener.
#[map]
static TCP_LISTENER_DROPS: HashMap<ListenerKey, ListenerDrops> =
    HashMap::with_max_entries(DROPS_ENTRIES, 0);

/// The SYN this CPU is handling, between the entry and the exit of
/// `tcp_conn_request()` (softirq: one at a time per CPU).
#[map]
static SYN_IN_FLIGHT: PerCpuArray<SynInFlight> = PerCpuArray::with_max_entries(1, 0);

named!(TCP_LISTENER_DROPS, probe_common::tcp::DROPS_MAP);
named!(tcp_syn_arrives, programs::TCP_SYN_ARRIVES);
named!(tcp_syn_handled, programs::TCP_SYN_HANDLED);
named!(tcp_syn_queue_full, programs::TCP_SYN_QUEUE_FULL);
named!(tcp_v4_handshake_done, programs::TCP_V4_HANDSHAKE_DONE);
named!(tcp_v6_handshake_done, programs::TCP_V6_HANDSHAKE_DONE);

/// What the entry of `tcp_conn_request()` saw.
#[repr(C)]
#[derive(Clone, Copy)]
struct SynInFlight {
    /// The listener (its address; 0: none in flight).
    sk: u64,
    /// Its drop count at the entry.
    drops: u32,
    /// Whether its accept queue was full.
    accept_queue_full: u8,
    /// Whether the SYN queue dropped the SYN: told by the flood hook, or
    /// without it foreseen at the entry (SYN cookies off, the SYN queue at
    /// its bound).
    syn_queue_dropped: u8,
    reserved: u16,
}

/// `tcp_conn_request(rsk_ops, af_ops, sk, skb)`: the listener is argument 2.
const CONN_REQUEST_SK: usize = 2;

/// Which count a drop adds to.
#[derive(Clone, Copy)]
enum Drop {
    Overflow,
    SynQueue,
}

/// `sk_acceptq_is_full()`: more connections queued than the backlog.
#[inline(always)]
fn accept_queue_full(sk: KernelPtr) -> bool {
    sk.read::<u32>(SOCK_ACK_BACKLOG_OFFSET.load())
        > sk.read::<u32>(SOCK_MAX_ACK_BACKLOG_OFFSET.load())
}

/// Whether SYN cookies are off in `sk`'s network namespace.
#[inline(always)]
fn cookies_off(sk: KernelPtr) -> bool {
    sk.read_ptr(SOCK_NET_OFFSET.load())
        .is_some_and(|net| net.read::<u8>(NET_SYNCOOKIES_OFFSET.load()) == 0)
}

/// Adds one to the listener's count of `drop`.
#[inline(always)]
fn count(sk: KernelPtr, drop: Drop) {
    let Some(inode) = sk
        .read_ptr(SOCK_SOCKET_OFFSET.load())
        .and_then(|socket| socket.read_ptr(SOCKET_FILE_OFFSET.load()))
        .and_then(|file| file.read_ptr(FILE_INODE_OFFSET.load()))
        .map(|inode| inode.read::<u64>(INODE_INO_OFFSET.load()))
    else {
        bump(TCP_LISTENER_UNREADABLE);
        return;
    };
    let key = ListenerKey {
        netns: netns_of(sk),
        reserved: 0,
        inode,
    };
    let Some(drops) = get_or_insert(&TCP_LISTENER_DROPS, &key, &ListenerDrops::default()) else {
        bump(TCP_DROPS_MAP_FULL);
        return;
    };
    // SAFETY: a value of the drop map, live for this program's run; other
    // CPUs add to it too, atomically.
    unsafe {
        match drop {
            Drop::Overflow => atomic_add(&raw mut (*drops).overflows, 1),
            Drop::SynQueue => atomic_add(&raw mut (*drops).syn_drops, 1),
        }
    }
}

#[fentry(function = "tcp_conn_request")]
pub fn tcp_syn_arrives(ctx: FEntryContext) -> i32 {
    let sk = KernelPtr::fentry_arg(&ctx, CONN_REQUEST_SK);
    let syn_queue_bound = SYN_QUEUE_HOOKED.load() == 0
        && cookies_off(sk)
        && syn_queue_len(sk)
            .is_some_and(|len| len >= sk.read::<u32>(SOCK_MAX_ACK_BACKLOG_OFFSET.load()));
    if let Some(slot) = SYN_IN_FLIGHT.get_ptr_mut(0) {
        // SAFETY: this CPU's slot; tracing programs do not nest on one CPU.
        unsafe {
            *slot = SynInFlight {
                sk: sk.as_ptr() as u64,
                drops: sk.read::<i32>(SOCK_DROPS_OFFSET.load()) as u32,
                accept_queue_full: u8::from(accept_queue_full(sk)),
                syn_queue_dropped: u8::from(syn_queue_bound),
                reserved: 0,
            };
        }
    }
    0
}

#[fentry(function = "tcp_syn_flood_action")]
pub fn tcp_syn_queue_full(ctx: FEntryContext) -> i32 {
    let sk = KernelPtr::fentry_arg(&ctx, 0);
    if !cookies_off(sk) {
        return 0;
    }
    count(sk, Drop::SynQueue);
    if let Some(slot) = SYN_IN_FLIGHT.get_ptr_mut(0) {
        // SAFETY: as in `tcp_syn_arrives`.
        unsafe {
            if (*slot).sk == sk.as_ptr() as u64 {
                (*slot).syn_queue_dropped = 1;
            }
        }
    }
    0
}

#[fexit(function = "tcp_conn_request")]
pub fn tcp_syn_handled(ctx: FExitContext) -> i32 {
    // SAFETY: fexit arguments are typed by the kernel's BTF, as fentry's.
    let sk = unsafe { KernelPtr::from_kernel(ctx.arg(CONN_REQUEST_SK)) };
    let Some(slot) = SYN_IN_FLIGHT.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: as in `tcp_syn_arrives`.
    let seen = unsafe { core::mem::replace(&mut (*slot).sk, 0) };
    if seen != sk.as_ptr() as u64 {
        return 0;
    }
    // SAFETY: as above.
    let (drops, full, syn_queue_dropped) = unsafe {
        (
            (*slot).drops,
            (*slot).accept_queue_full,
            (*slot).syn_queue_dropped,
        )
    };
    let dropped = sk.read::<i32>(SOCK_DROPS_OFFSET.load()) as u32 != drops;
    if dropped && full != 0 && syn_queue_dropped == 0 {
        count(sk, Drop::Overflow);
    }
    0
}

#[fentry(function = "tcp_v4_syn_recv_sock")]
pub fn tcp_v4_handshake_done(ctx: FEntryContext) -> i32 {
    let sk = KernelPtr::fentry_arg(&ctx, 0);
    // An IPv6 listener's IPv4 connection: counted by the IPv6 hook.
    if sk.read::<u16>(SOCK_FAMILY_OFFSET.load()) == AF_INET && accept_queue_full(sk) {
        count(sk, Drop::Overflow);
    }
    0
}

#[fentry(function = "tcp_v6_syn_recv_sock")]
pub fn tcp_v6_handshake_done(ctx: FEntryContext) -> i32 {
    let sk = KernelPtr::fentry_arg(&ctx, 0);
    if accept_queue_full(sk) {
        count(sk, Drop::Overflow);
    }
    0
}
