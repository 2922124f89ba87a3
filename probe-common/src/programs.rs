//! Names of the kernel programs, as the agent finds them in the object.
//! Each is checked against its function at compile time (`probe-ebpf`'s
//! `named!`).

/// `tp_btf/sched_wakeup`: a thread becomes runnable.
pub const RUNQ_SCHED_WAKEUP: &str = "runq_sched_wakeup";
/// `tp_btf/sched_wakeup_new`: a new thread becomes runnable.
pub const RUNQ_SCHED_WAKEUP_NEW: &str = "runq_sched_wakeup_new";
/// `tp_btf/sched_switch`: waits end and start, preemptions.
pub const RUNQ_SCHED_SWITCH: &str = "runq_sched_switch";
/// `tp_btf/sched_migrate_task`: a waiting thread moves to another CPU.
pub const RUNQ_SCHED_MIGRATE: &str = "runq_sched_migrate";
/// `tp_btf/sys_enter`.
pub const SYSCALL_ENTER: &str = "syscall_enter";
/// `raw_tp/sys_exit`.
pub const SYSCALL_EXIT: &str = "syscall_exit";
/// `tp_btf/sched_process_exit`: a thread that dies inside a syscall.
pub const SYSCALL_THREAD_EXIT: &str = "syscall_thread_exit";
/// `tp_btf/sched_process_exec`: a thread that becomes the leader in execve.
pub const SYSCALL_THREAD_EXEC: &str = "syscall_thread_exec";
/// `iter/task_file`: every listening TCP socket.
pub const TCP_LISTENERS: &str = "tcp_listeners";
/// `tp_btf/sk_data_ready`: a connection was queued on a listener.
pub const TCP_ACCEPT_QUEUED: &str = "tcp_accept_queued";
/// `fentry/sock_def_readable`: the same, where the tracepoint is missing.
pub const TCP_ACCEPT_QUEUED_FENTRY: &str = "tcp_accept_queued_fentry";
/// `fentry/tcp_conn_request`: a SYN reaches a listener (notes whether its
/// accept queue is full).
pub const TCP_SYN_ARRIVES: &str = "tcp_syn_arrives";
/// `fexit/tcp_conn_request`: counts the SYN dropped at a full accept queue.
pub const TCP_SYN_HANDLED: &str = "tcp_syn_handled";
/// `fentry/tcp_syn_flood_action`: the SYN queue is full; counts the SYN
/// dropped when SYN cookies are off.
pub const TCP_SYN_QUEUE_FULL: &str = "tcp_syn_queue_full";
/// `fentry/tcp_v4_syn_recv_sock`: a handshake completes on an IPv4
/// listener; counts it dropped at a full accept queue.
pub const TCP_V4_HANDSHAKE_DONE: &str = "tcp_v4_handshake_done";
/// `fentry/tcp_v6_syn_recv_sock`: the same on an IPv6 listener.
pub const TCP_V6_HANDSHAKE_DONE: &str = "tcp_v6_handshake_done";

/// `tp_btf/mm_vmscan_direct_reclaim_begin`: a thread starts reclaiming memory itself.
pub const MEMORY_DIRECT_RECLAIM_BEGIN: &str = "memory_direct_reclaim_begin";
/// `tp_btf/mm_vmscan_direct_reclaim_end`.
pub const MEMORY_DIRECT_RECLAIM_END: &str = "memory_direct_reclaim_end";
/// `tp_btf/mm_vmscan_memcg_reclaim_begin`: a thread reclaims at its cgroup's limit.
pub const MEMORY_MEMCG_RECLAIM_BEGIN: &str = "memory_memcg_reclaim_begin";
/// `tp_btf/mm_vmscan_memcg_reclaim_end`.
pub const MEMORY_MEMCG_RECLAIM_END: &str = "memory_memcg_reclaim_end";
/// `raw_tp/mm_vmscan_direct_reclaim_begin`: the same, where `tp_btf` does not load.
pub const MEMORY_DIRECT_RECLAIM_BEGIN_RAW: &str = "memory_direct_reclaim_begin_raw";
/// `raw_tp/mm_vmscan_direct_reclaim_end`.
pub const MEMORY_DIRECT_RECLAIM_END_RAW: &str = "memory_direct_reclaim_end_raw";
/// `raw_tp/mm_vmscan_memcg_reclaim_begin`.
pub const MEMORY_MEMCG_RECLAIM_BEGIN_RAW: &str = "memory_memcg_reclaim_begin_raw";
/// `raw_tp/mm_vmscan_memcg_reclaim_end`.
pub const MEMORY_MEMCG_RECLAIM_END_RAW: &str = "memory_memcg_reclaim_end_raw";
/// `tp_btf/mark_victim`: the OOM killer chose a task (Linux 6.8+: with its task).
pub const MEMORY_OOM_VICTIM: &str = "memory_oom_victim";
/// `fentry/mark_oom_victim`: the same where the tracepoint passes only a pid.
pub const MEMORY_OOM_VICTIM_FENTRY: &str = "memory_oom_victim_fentry";

/// `tp_btf/inet_sock_set_state`: outbound connections start, connect, fail, end.
pub const DEPENDENCY_STATE: &str = "dependency_state";
/// `tp_btf/tcp_sendmsg_locked`: a request is sent.
pub const DEPENDENCY_SEND: &str = "dependency_send";
/// `fentry/tcp_sendmsg_locked`: the same, where the tracepoint is missing.
pub const DEPENDENCY_SEND_FENTRY: &str = "dependency_send_fentry";
/// `tp_btf/sk_data_ready`: an answer arrives.
pub const DEPENDENCY_DATA_READY: &str = "dependency_data_ready";
/// `fentry/sock_def_readable`: the same, where the tracepoint is missing.
pub const DEPENDENCY_DATA_READY_FENTRY: &str = "dependency_data_ready_fentry";
/// `tp_btf/tcp_retransmit_skb`: a segment is sent again.
pub const DEPENDENCY_RETRANSMIT: &str = "dependency_retransmit";
/// `iter/task_file`: follows the connections established before the agent.
pub const DEPENDENCY_FOLLOW: &str = "dependency_follow";

/// `tp_btf/inet_sock_set_state`: inbound connections open and close.
pub const REQUESTS_STATE: &str = "requests_state";
/// `tp_btf/sk_data_ready`: a request arrives.
pub const REQUESTS_DATA_READY: &str = "requests_data_ready";
/// `fentry/sock_def_readable`: the same, where the tracepoint is missing.
pub const REQUESTS_DATA_READY_FENTRY: &str = "requests_data_ready_fentry";
/// `tp_btf/tcp_rcv_space_adjust`: the application reads.
pub const REQUESTS_READ: &str = "requests_read";
/// `tp_btf/tcp_sendmsg_locked`: a response is sent.
pub const REQUESTS_SEND: &str = "requests_send";
/// `fentry/tcp_sendmsg_locked`: the same, where the tracepoint is missing.
pub const REQUESTS_SEND_FENTRY: &str = "requests_send_fentry";

/// The empty programs on the same hooks (the benchmark's floor).
pub mod floor {
    /// `tp_btf/sched_wakeup`.
    pub const SCHED_WAKEUP: &str = "floor_sched_wakeup";
    /// `tp_btf/sched_wakeup_new`.
    pub const SCHED_WAKEUP_NEW: &str = "floor_sched_wakeup_new";
    /// `tp_btf/sched_switch`.
    pub const SCHED_SWITCH: &str = "floor_sched_switch";
    /// `tp_btf/sched_migrate_task`.
    pub const SCHED_MIGRATE_TASK: &str = "floor_sched_migrate_task";
    /// `tp_btf/sys_enter`.
    pub const SYS_ENTER: &str = "floor_sys_enter";
    /// `raw_tp/sys_exit`.
    pub const SYS_EXIT: &str = "floor_sys_exit";
    /// `tp_btf/sched_process_exit`.
    pub const SCHED_PROCESS_EXIT: &str = "floor_sched_process_exit";
    /// `tp_btf/sched_process_exec`.
    pub const SCHED_PROCESS_EXEC: &str = "floor_sched_process_exec";
    /// `tp_btf/sk_data_ready`.
    pub const SK_DATA_READY: &str = "floor_sk_data_ready";
    /// `fentry/sock_def_readable`.
    pub const SOCK_DEF_READABLE: &str = "floor_sock_def_readable";
    /// `tp_btf/inet_sock_set_state`.
    pub const INET_SOCK_SET_STATE: &str = "floor_inet_sock_set_state";
    /// `tp_btf/tcp_sendmsg_locked`.
    pub const TCP_SENDMSG_LOCKED: &str = "floor_tcp_sendmsg_locked";
    /// `fentry/tcp_sendmsg_locked`.
    pub const TCP_SENDMSG_LOCKED_FENTRY: &str = "floor_tcp_sendmsg_locked_fentry";
    /// `tp_btf/sk_data_ready`, the dependency signal's (the TCP signal has its own).
    pub const DEPENDENCY_SK_DATA_READY: &str = "floor_dependency_sk_data_ready";
    /// `fentry/sock_def_readable`, the dependency signal's.
    pub const DEPENDENCY_SOCK_DEF_READABLE: &str = "floor_dependency_sock_def_readable";
    /// `tp_btf/inet_sock_set_state`, the request signal's.
    pub const REQUESTS_INET_SOCK_SET_STATE: &str = "floor_requests_inet_sock_set_state";
    /// `tp_btf/sk_data_ready`, the request signal's.
    pub const REQUESTS_SK_DATA_READY: &str = "floor_requests_sk_data_ready";
    /// `fentry/sock_def_readable`, the request signal's.
    pub const REQUESTS_SOCK_DEF_READABLE: &str = "floor_requests_sock_def_readable";
    /// `tp_btf/tcp_rcv_space_adjust`.
    pub const TCP_RCV_SPACE_ADJUST: &str = "floor_tcp_rcv_space_adjust";
    /// `tp_btf/tcp_sendmsg_locked`, the request signal's.
    pub const REQUESTS_TCP_SENDMSG_LOCKED: &str = "floor_requests_tcp_sendmsg_locked";
    /// `fentry/tcp_sendmsg_locked`, the request signal's.
    pub const REQUESTS_TCP_SENDMSG_LOCKED_FENTRY: &str = "floor_requests_tcp_sendmsg_locked_fentry";
    /// `tp_btf/tcp_retransmit_skb`.
    pub const TCP_RETRANSMIT_SKB: &str = "floor_tcp_retransmit_skb";
}
