//! TCP accept-queue pressure.
//!
//! Two parts:
//! - `tcp_listeners`, a BPF iterator over every task's open files
//!   (`iter/task_file`): for each listening TCP socket it reports the accept
//!   queue's depth and limit, the socket's drop count, its cgroup (the
//!   socket cgroup, read from the socket), its port and its network
//!   namespace. The agent runs it at every scrape, so a depth is never older
//!   than the scrape that reports it. One pass covers every network
//!   namespace (a `iter/tcp` pass covers only the creator's).
//! - `tcp_accept_queued`, on `sock:sk_data_ready`, which the kernel fires on
//!   a listener each time a connection is queued: the queue's fill at that
//!   moment goes into a per-cgroup histogram. Kernels before 6.10 lack the
//!   tracepoint; there `tcp_accept_queued_fentry` does the same from
//!   `fentry/sock_def_readable`, where the kernel allows fentry.

use core::ffi::c_void;

use aya_ebpf::{
    bindings::seq_file,
    helpers::generated::{bpf_seq_write, bpf_sock_from_file},
    macros::{btf_tracepoint, fentry, map},
    maps::{Array, HashMap},
    programs::{BtfTracePointContext, FEntryContext},
};
use probe_common::{
    cgroups::MAX_CGROUPS,
    counters::{TCP_CGROUP_UNREADABLE, TCP_FILL_MAP_FULL},
    programs,
    tcp::{
        AF_INET, AF_INET6, FILL_BUCKETS, IPPROTO_TCP, ITER_FILE_SLOT, ITER_META_SLOT,
        ITER_TASK_SLOT, ListenerRecord, SYN_QUEUE_UNKNOWN, TCP_LISTEN, TcpFill, fill_bucket,
        fill_micro,
    },
};

use crate::{
    atomic::atomic_add,
    counters::bump,
    hash_entry::get_or_insert_zeroed,
    kernel::{KernelPtr, cgroup_id, offsets, probe_read, task_tgid},
    names::named,
};

offsets!(
    ITER_META_SEQ_OFFSET,
    FILE_INODE_OFFSET,
    INODE_INO_OFFSET,
    SOCKET_SK_OFFSET,
    SOCK_FAMILY_OFFSET,
    SOCK_STATE_OFFSET,
    SOCK_PORT_OFFSET,
    SOCK_NET_OFFSET,
    SOCK_PROTOCOL_OFFSET,
    SOCK_ACK_BACKLOG_OFFSET,
    SOCK_MAX_ACK_BACKLOG_OFFSET,
    SOCK_DROPS_OFFSET,
    ICSK_SYN_QUEUE_OFFSET,
    SOCK_CGROUP_OFFSET,
    NET_NS_INUM_OFFSET,
);

/// Fill observations per socket cgroup id.
#[map]
static TCP_FILL: HashMap<u64, TcpFill> = HashMap::with_max_entries(MAX_CGROUPS, 0);

/// A zeroed `TcpFill`, to create entries from.
#[map]
static ZERO_FILL: Array<TcpFill> = Array::with_max_entries(1, 0);

named!(TCP_FILL, probe_common::tcp::FILL_MAP);
named!(tcp_listeners, programs::TCP_LISTENERS);
named!(tcp_accept_queued, programs::TCP_ACCEPT_QUEUED);
named!(tcp_accept_queued_fentry, programs::TCP_ACCEPT_QUEUED_FENTRY);

/// Whether `sk` is a TCP socket (IPv4 or IPv6) in state `state`.
#[inline(always)]
pub(crate) fn is_tcp_in(sk: KernelPtr, state: u8) -> bool {
    let family: u16 = sk.read(SOCK_FAMILY_OFFSET.load());
    (family == AF_INET || family == AF_INET6)
        && sk.read::<u8>(SOCK_STATE_OFFSET.load()) == state
        && sk.read::<u16>(SOCK_PROTOCOL_OFFSET.load()) == IPPROTO_TCP
}

/// Whether `sk` is a listening TCP socket (IPv4 or IPv6).
#[inline(always)]
pub(crate) fn is_tcp_listener(sk: KernelPtr) -> bool {
    is_tcp_in(sk, TCP_LISTEN)
}

/// The inode number of `sk`'s network namespace (0 if unreadable).
#[inline(always)]
pub(crate) fn netns_of(sk: KernelPtr) -> u32 {
    sk.read_ptr(SOCK_NET_OFFSET.load())
        .map_or(0, |net| net.read(NET_NS_INUM_OFFSET.load()))
}

/// The id of the socket's cgroup (`sk->sk_cgrp_data.cgroup->kn->id`).
#[inline(always)]
fn socket_cgroup_id(sk: KernelPtr) -> Option<u64> {
    cgroup_id(sk.read_ptr(SOCK_CGROUP_OFFSET.load())?)
}

/// The length of a listener's SYN queue (`inet_csk(sk)->icsk_accept_queue.qlen`).
/// The field lies past `struct sock`, where the verifier refuses a typed
/// load through the iterator's `sock` pointer, so it is read with the
/// helper; `None` where that is refused or faults.
#[inline(always)]
pub(crate) fn syn_queue_len(sk: KernelPtr) -> Option<u32> {
    probe_read::<u32>((sk.as_ptr() as u64).wrapping_add(ICSK_SYN_QUEUE_OFFSET.load()))
}

/// The slot `slot` of an `iter/task_file` context.
#[inline(always)]
fn iter_slot(ctx: *mut c_void, slot: usize) -> KernelPtr {
    // SAFETY: `ctx` is the iterator's context, `struct bpf_iter__task_file`,
    // whose slots the agent checked against the kernel's BTF; each holds a
    // BTF-typed kernel pointer (or null).
    unsafe { KernelPtr::from_kernel(*(ctx as *const *const u8).add(slot)) }
}

/// The file, its task, the iterator's meta and the file's socket, for a
/// file that is a socket, of an `iter/task_file` context (whose slots are
/// `probe_common::tcp::ITER_TASK_FILE_SLOTS`, checked against the kernel's
/// BTF by the agent before load).
pub(crate) struct IterSocket {
    /// The iterator's `bpf_iter_meta`.
    pub meta: KernelPtr,
    /// The task holding the file.
    pub task: KernelPtr,
    /// The file.
    pub file: KernelPtr,
    /// Its `struct sock`.
    pub sk: KernelPtr,
}

/// The socket of an `iter/task_file` context's file, if it is one.
#[inline(always)]
pub(crate) fn iter_socket(ctx: *mut c_void) -> Option<IterSocket> {
    let (meta, task, file) = (
        iter_slot(ctx, ITER_META_SLOT),
        iter_slot(ctx, ITER_TASK_SLOT),
        iter_slot(ctx, ITER_FILE_SLOT),
    );
    if meta.is_null() || task.is_null() || file.is_null() {
        return None;
    }
    // SAFETY: `file` is a kernel `struct file`; the helper returns its
    // socket (BTF-typed) or null.
    let socket =
        unsafe { KernelPtr::from_kernel(bpf_sock_from_file(file.as_ptr() as *mut _) as *const u8) };
    if socket.is_null() {
        return None;
    }
    let sk = socket.read_ptr(SOCKET_SK_OFFSET.load())?;
    Some(IterSocket {
        meta,
        task,
        file,
        sk,
    })
}

/// `iter/task_file`: called once per open file of every task (and once more
/// with a null file at the end).
#[unsafe(no_mangle)]
#[unsafe(link_section = "iter/task_file")]
pub fn tcp_listeners(ctx: *mut c_void) -> i32 {
    let Some(IterSocket {
        meta,
        task,
        file,
        sk,
    }) = iter_socket(ctx)
    else {
        return 0;
    };
    if !is_tcp_listener(sk) {
        return 0;
    }
    let Some(cgroup) = socket_cgroup_id(sk) else {
        bump(TCP_CGROUP_UNREADABLE);
        return 0;
    };
    let record = ListenerRecord {
        inode: file
            .read_ptr(FILE_INODE_OFFSET.load())
            .map_or(0, |inode| inode.read(INODE_INO_OFFSET.load())),
        cgroup,
        netns: netns_of(sk),
        tgid: task_tgid(task),
        depth: sk.read(SOCK_ACK_BACKLOG_OFFSET.load()),
        limit: sk.read(SOCK_MAX_ACK_BACKLOG_OFFSET.load()),
        drops: sk.read::<i32>(SOCK_DROPS_OFFSET.load()) as u32,
        syn_queue: syn_queue_len(sk).unwrap_or(SYN_QUEUE_UNKNOWN),
        port: sk.read(SOCK_PORT_OFFSET.load()),
        family: sk.read(SOCK_FAMILY_OFFSET.load()),
        reserved: 0,
    };
    let Some(seq) = meta.read_ptr(ITER_META_SEQ_OFFSET.load()) else {
        return 0;
    };
    // SAFETY: `seq` is the iterator's `seq_file`, and the record is on this
    // program's stack for the call.
    unsafe {
        bpf_seq_write(
            seq.as_ptr() as *mut seq_file,
            (&raw const record).cast(),
            size_of::<ListenerRecord>() as u32,
        );
    }
    0
}

/// `sk_data_ready(const struct sock *sk)` (Linux 6.10+): on a listener, a
/// connection was just queued; record how full the queue is now.
#[btf_tracepoint(function = "sk_data_ready")]
pub fn tcp_accept_queued(ctx: BtfTracePointContext) -> i32 {
    record_fill(KernelPtr::tracepoint_arg(&ctx, 0));
    0
}

/// The same on kernels without that tracepoint: `sock_def_readable()` is
/// the `sk_data_ready` callback the kernel calls on a listener when a
/// connection is queued (and where the tracepoint sits on newer kernels).
#[fentry(function = "sock_def_readable")]
pub fn tcp_accept_queued_fentry(ctx: FEntryContext) -> i32 {
    record_fill(KernelPtr::fentry_arg(&ctx, 0));
    0
}

/// Adds the fill of `sk`'s accept queue to its cgroup's histogram, if `sk`
/// is a TCP listener.
#[inline(always)]
fn record_fill(sk: KernelPtr) {
    if !is_tcp_listener(sk) {
        return;
    }
    let Some(cgroup) = socket_cgroup_id(sk) else {
        bump(TCP_CGROUP_UNREADABLE);
        return;
    };
    let depth: u32 = sk.read(SOCK_ACK_BACKLOG_OFFSET.load());
    let limit: u32 = sk.read(SOCK_MAX_ACK_BACKLOG_OFFSET.load());
    let Some(fill) = get_or_insert_zeroed(&TCP_FILL, &cgroup, &ZERO_FILL) else {
        bump(TCP_FILL_MAP_FULL);
        return;
    };
    let bucket = fill_bucket(depth, limit);
    if bucket >= FILL_BUCKETS {
        return;
    }
    // SAFETY: `bucket` is within the buckets, and `fill` is a value of the
    // fill map, live for this program's run.
    unsafe {
        atomic_add((*fill).buckets.as_mut_ptr().add(bucket), 1);
        atomic_add(&raw mut (*fill).sum_micro, fill_micro(depth, limit));
    }
}
