//! Names of the read-only globals (`.rodata`) that the agent sets before load.
//! Kernel struct offsets come from the running kernel's BTF, never from here.

/// Byte offset of `task_struct.pid`.
pub const TASK_PID_OFFSET: &str = "TASK_PID_OFFSET";
/// `task_struct.group_leader`.
pub const TASK_GROUP_LEADER_OFFSET: &str = "TASK_GROUP_LEADER_OFFSET";
/// `task_struct.start_time`.
pub const TASK_START_TIME_OFFSET: &str = "TASK_START_TIME_OFFSET";
/// Byte offset of `task_struct.cgroups` (`struct css_set *`).
pub const TASK_CGROUPS_OFFSET: &str = "TASK_CGROUPS_OFFSET";
/// Byte offset of `css_set.dfl_cgrp` (`struct cgroup *`).
pub const CSS_SET_DFL_CGRP_OFFSET: &str = "CSS_SET_DFL_CGRP_OFFSET";
/// Byte offset of `cgroup.kn` (`struct kernfs_node *`).
pub const CGROUP_KN_OFFSET: &str = "CGROUP_KN_OFFSET";
/// Byte offset of `kernfs_node.id` (the cgroup id, the directory's inode).
pub const KERNFS_NODE_ID_OFFSET: &str = "KERNFS_NODE_ID_OFFSET";
/// Mask applied to a thread id to pick its wakeup slot.
pub const WAKEUP_SLOT_MASK: &str = "WAKEUP_SLOT_MASK";
/// Byte offset of `task_struct.se.cfs_rq` (`struct cfs_rq *`).
pub const TASK_SE_CFS_RQ_OFFSET: &str = "TASK_SE_CFS_RQ_OFFSET";
/// Byte offset of `cfs_rq.rq` (`struct rq *`).
pub const CFS_RQ_RQ_OFFSET: &str = "CFS_RQ_RQ_OFFSET";
/// Byte offset of `rq.clock`.
pub const RQ_CLOCK_OFFSET: &str = "RQ_CLOCK_OFFSET";
/// Byte offset of `rq.cpu` (the CPU a run queue belongs to).
pub const RQ_CPU_OFFSET: &str = "RQ_CPU_OFFSET";
/// 1 when the run-queue clock offsets are set, 0 to use `bpf_ktime_get_ns()`.
pub const USE_RQ_CLOCK: &str = "USE_RQ_CLOCK";
/// Byte offset of `task_struct.throttled` (Linux 6.18+: the task was
/// throttled at its cgroup's CPU quota).
pub const TASK_THROTTLED_OFFSET: &str = "TASK_THROTTLED_OFFSET";
/// Byte offset of `cfs_rq.throttle_count` (non-zero while the run queue or
/// an ancestor is throttled).
pub const CFS_RQ_THROTTLE_COUNT_OFFSET: &str = "CFS_RQ_THROTTLE_COUNT_OFFSET";
/// How the run-queue program tells a throttled task: see
/// `runqueue::throttle_check`.
pub const THROTTLE_CHECK: &str = "THROTTLE_CHECK";
/// Mask applied to a thread id to pick its syscall entry slot.
pub const SYSCALL_SLOT_MASK: &str = "SYSCALL_SLOT_MASK";
/// Syscall number -> class table (`syscall::TABLE_SIZE` bytes).
pub const SYSCALL_CLASSES: &str = "SYSCALL_CLASSES";
/// Per syscall class, the duration in ns above which a call counts as slow
/// (`u64::MAX`: none).
pub const SYSCALL_SLOW_NS: &str = "SYSCALL_SLOW_NS";
/// The response time in ns above which an answer counts as slow.
pub const DEPENDENCY_SLOW_NS: &str = "DEPENDENCY_SLOW_NS";
/// Queue times longer than this (ns) count in `slow_queued`.
pub const REQUESTS_QUEUE_SLOW_NS: &str = "REQUESTS_QUEUE_SLOW_NS";
/// The (cgroup, remote) pairs one cgroup may hold of the kernel's table.
pub const REMOTES_PER_CGROUP: &str = "REMOTES_PER_CGROUP";
/// Byte offset of a syscall's first argument in `pt_regs`.
pub const SYSCALL_ARG0_OFFSET: &str = "SYSCALL_ARG0_OFFSET";
/// Byte offset of the `u32` of `task_struct` that holds the compat flag.
pub const SYSCALL_COMPAT_OFFSET: &str = "SYSCALL_COMPAT_OFFSET";
/// The compat flag's bits in it (0: none).
pub const SYSCALL_COMPAT_MASK: &str = "SYSCALL_COMPAT_MASK";
/// `task_struct.files`.
pub const TASK_FILES_OFFSET: &str = "TASK_FILES_OFFSET";
/// `files_struct.fdt`.
pub const FILES_FDT_OFFSET: &str = "FILES_FDT_OFFSET";
/// `fdtable.max_fds`.
pub const FDTABLE_MAX_FDS_OFFSET: &str = "FDTABLE_MAX_FDS_OFFSET";
/// `fdtable.fd` (the array of open files).
pub const FDTABLE_FD_OFFSET: &str = "FDTABLE_FD_OFFSET";
/// `file.f_inode`, for the syscall program.
pub const SYSCALL_FILE_INODE_OFFSET: &str = "SYSCALL_FILE_INODE_OFFSET";
/// `inode.i_mode`.
pub const INODE_MODE_OFFSET: &str = "INODE_MODE_OFFSET";
/// 1 when the dependency programs may read the first bytes a client sends
/// (the offsets below are set).
pub const PEEK_PAYLOAD: &str = "PEEK_PAYLOAD";
/// `msghdr.msg_iter`.
pub const MSGHDR_ITER_OFFSET: &str = "MSGHDR_ITER_OFFSET";
/// `iov_iter.iter_type`.
pub const ITER_TYPE_OFFSET: &str = "ITER_TYPE_OFFSET";
/// `iov_iter.iov_offset`.
pub const ITER_IOV_OFFSET_OFFSET: &str = "ITER_IOV_OFFSET_OFFSET";
/// `iov_iter.ubuf` (a user buffer, for `ITER_UBUF`).
pub const ITER_UBUF_OFFSET: &str = "ITER_UBUF_OFFSET";
/// `iov_iter.__iov` (an array of `iovec`, for `ITER_IOVEC`).
pub const ITER_IOV_OFFSET: &str = "ITER_IOV_OFFSET";
/// `iov_iter.count`.
pub const ITER_COUNT_OFFSET: &str = "ITER_COUNT_OFFSET";
/// `iovec.iov_base`.
pub const IOVEC_BASE_OFFSET: &str = "IOVEC_BASE_OFFSET";
/// `iovec.iov_len`.
pub const IOVEC_LEN_OFFSET: &str = "IOVEC_LEN_OFFSET";
/// `iov_iter.nr_segs` (how many `iovec`s, for `ITER_IOVEC`).
pub const ITER_NR_SEGS_OFFSET: &str = "ITER_NR_SEGS_OFFSET";
/// The value of `ITER_UBUF` in `enum iter_type`.
pub const ITER_UBUF_TYPE: &str = "ITER_UBUF_TYPE";
/// The value of `ITER_IOVEC` in `enum iter_type`.
pub const ITER_IOVEC_TYPE: &str = "ITER_IOVEC_TYPE";

// The fields the TCP programs read (see `probe-user`'s offsets for the
// struct and field of each).
/// `bpf_iter_meta.seq`.
pub const ITER_META_SEQ_OFFSET: &str = "ITER_META_SEQ_OFFSET";
/// `task_struct.tgid`.
pub const TASK_TGID_OFFSET: &str = "TASK_TGID_OFFSET";
/// `file.f_inode`.
pub const FILE_INODE_OFFSET: &str = "FILE_INODE_OFFSET";
/// `inode.i_ino`.
pub const INODE_INO_OFFSET: &str = "INODE_INO_OFFSET";
/// `socket.sk`.
pub const SOCKET_SK_OFFSET: &str = "SOCKET_SK_OFFSET";
/// `sock.__sk_common.skc_family`.
pub const SOCK_FAMILY_OFFSET: &str = "SOCK_FAMILY_OFFSET";
/// `sock.__sk_common.skc_state`.
pub const SOCK_STATE_OFFSET: &str = "SOCK_STATE_OFFSET";
/// `sock.__sk_common.skc_num` (the local port).
pub const SOCK_PORT_OFFSET: &str = "SOCK_PORT_OFFSET";
/// `sock.__sk_common.skc_net.net`.
pub const SOCK_NET_OFFSET: &str = "SOCK_NET_OFFSET";
/// `sock.sk_protocol`.
pub const SOCK_PROTOCOL_OFFSET: &str = "SOCK_PROTOCOL_OFFSET";
/// `sock.sk_ack_backlog`.
pub const SOCK_ACK_BACKLOG_OFFSET: &str = "SOCK_ACK_BACKLOG_OFFSET";
/// `sock.sk_max_ack_backlog`.
pub const SOCK_MAX_ACK_BACKLOG_OFFSET: &str = "SOCK_MAX_ACK_BACKLOG_OFFSET";
/// `sock.sk_drops`.
pub const SOCK_DROPS_OFFSET: &str = "SOCK_DROPS_OFFSET";
/// `inet_connection_sock.icsk_accept_queue.qlen` (the SYN queue's length).
pub const ICSK_SYN_QUEUE_OFFSET: &str = "ICSK_SYN_QUEUE_OFFSET";
/// 1 when programs may read kernel memory with `bpf_probe_read_kernel`
/// (not in `confidentiality` lockdown): the features that need it are in
/// the programs only then.
pub const KERNEL_READS: &str = "KERNEL_READS";
/// 1 when the SYN-queue flood hook (`fentry/tcp_syn_flood_action`) is
/// planned: it, not the queue's length, tells SYN-queue drops.
pub const SYN_QUEUE_HOOKED: &str = "SYN_QUEUE_HOOKED";
/// `sock.sk_socket`.
pub const SOCK_SOCKET_OFFSET: &str = "SOCK_SOCKET_OFFSET";
/// `socket.file`.
pub const SOCKET_FILE_OFFSET: &str = "SOCKET_FILE_OFFSET";
/// `net.ipv4.sysctl_tcp_syncookies`.
pub const NET_SYNCOOKIES_OFFSET: &str = "NET_SYNCOOKIES_OFFSET";
/// `sock.sk_cgrp_data.cgroup`.
pub const SOCK_CGROUP_OFFSET: &str = "SOCK_CGROUP_OFFSET";
/// `net.ns.inum`.
pub const NET_NS_INUM_OFFSET: &str = "NET_NS_INUM_OFFSET";

// The fields the dependency programs read (besides the TCP ones above).
/// `sock.__sk_common.skc_daddr` (the peer's IPv4 address).
pub const SOCK_DADDR_OFFSET: &str = "SOCK_DADDR_OFFSET";
/// `sock.__sk_common.skc_v6_daddr` (the peer's IPv6 address).
pub const SOCK_V6_DADDR_OFFSET: &str = "SOCK_V6_DADDR_OFFSET";
/// `sock.__sk_common.skc_dport` (the peer's port, network order).
pub const SOCK_DPORT_OFFSET: &str = "SOCK_DPORT_OFFSET";
/// `sock.sk_err`.
pub const SOCK_ERR_OFFSET: &str = "SOCK_ERR_OFFSET";
/// `sock.sk_receive_queue.qlen`.
pub const SOCK_RCV_QLEN_OFFSET: &str = "SOCK_RCV_QLEN_OFFSET";
