//! Empty programs on the same hooks as the real ones. They are never attached
//! in normal operation: `cargo xtask bench` attaches them to measure the cost
//! of the hooks themselves (the floor any probe pays).

use aya_ebpf::{
    macros::{btf_tracepoint, fentry, raw_tracepoint},
    programs::{BtfTracePointContext, FEntryContext, RawTracePointContext},
};
use probe_common::programs::floor;

use crate::names::named;

named!(floor_sched_wakeup, floor::SCHED_WAKEUP);
named!(floor_sched_wakeup_new, floor::SCHED_WAKEUP_NEW);
named!(floor_sched_switch, floor::SCHED_SWITCH);
named!(floor_sched_migrate_task, floor::SCHED_MIGRATE_TASK);
named!(floor_sys_enter, floor::SYS_ENTER);
named!(floor_sys_exit, floor::SYS_EXIT);
named!(floor_sched_process_exit, floor::SCHED_PROCESS_EXIT);
named!(floor_sched_process_exec, floor::SCHED_PROCESS_EXEC);
named!(floor_sk_data_ready, floor::SK_DATA_READY);
named!(floor_sock_def_readable, floor::SOCK_DEF_READABLE);
named!(floor_inet_sock_set_state, floor::INET_SOCK_SET_STATE);
named!(floor_tcp_sendmsg_locked, floor::TCP_SENDMSG_LOCKED);
named!(
    floor_tcp_sendmsg_locked_fentry,
    floor::TCP_SENDMSG_LOCKED_FENTRY
);
named!(
    floor_dependency_sk_data_ready,
    floor::DEPENDENCY_SK_DATA_READY
);
named!(
    floor_dependency_sock_def_readable,
    floor::DEPENDENCY_SOCK_DEF_READABLE
);
named!(floor_tcp_retransmit_skb, floor::TCP_RETRANSMIT_SKB);
named!(
    floor_requests_inet_sock_set_state,
    floor::REQUESTS_INET_SOCK_SET_STATE
);
named!(floor_requests_sk_data_ready, floor::REQUESTS_SK_DATA_READY);
named!(
    floor_requests_sock_def_readable,
    floor::REQUESTS_SOCK_DEF_READABLE
);
named!(floor_tcp_rcv_space_adjust, floor::TCP_RCV_SPACE_ADJUST);
named!(
    floor_requests_tcp_sendmsg_locked,
    floor::REQUESTS_TCP_SENDMSG_LOCKED
);
named!(
    floor_requests_tcp_sendmsg_locked_fentry,
    floor::REQUESTS_TCP_SENDMSG_LOCKED_FENTRY
);

#[btf_tracepoint(function = "sched_wakeup")]
pub fn floor_sched_wakeup(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "sched_wakeup_new")]
pub fn floor_sched_wakeup_new(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "sched_switch")]
pub fn floor_sched_switch(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "sys_enter")]
pub fn floor_sys_enter(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn floor_sys_exit(_ctx: RawTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "sched_migrate_task")]
pub fn floor_sched_migrate_task(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "sched_process_exit")]
pub fn floor_sched_process_exit(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "sched_process_exec")]
pub fn floor_sched_process_exec(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "sk_data_ready")]
pub fn floor_sk_data_ready(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[fentry(function = "sock_def_readable")]
pub fn floor_sock_def_readable(_ctx: FEntryContext) -> i32 {
    0
}

#[btf_tracepoint(function = "inet_sock_set_state")]
pub fn floor_inet_sock_set_state(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "tcp_sendmsg_locked")]
pub fn floor_tcp_sendmsg_locked(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[fentry(function = "tcp_sendmsg_locked")]
pub fn floor_tcp_sendmsg_locked_fentry(_ctx: FEntryContext) -> i32 {
    0
}

#[btf_tracepoint(function = "sk_data_ready")]
pub fn floor_dependency_sk_data_ready(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[fentry(function = "sock_def_readable")]
pub fn floor_dependency_sock_def_readable(_ctx: FEntryContext) -> i32 {
    0
}

#[btf_tracepoint(function = "tcp_retransmit_skb")]
pub fn floor_tcp_retransmit_skb(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "inet_sock_set_state")]
pub fn floor_requests_inet_sock_set_state(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "sk_data_ready")]
pub fn floor_requests_sk_data_ready(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[fentry(function = "sock_def_readable")]
pub fn floor_requests_sock_def_readable(_ctx: FEntryContext) -> i32 {
    0
}

#[btf_tracepoint(function = "tcp_rcv_space_adjust")]
pub fn floor_tcp_rcv_space_adjust(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "tcp_sendmsg_locked")]
pub fn floor_requests_tcp_sendmsg_locked(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[fentry(function = "tcp_sendmsg_locked")]
pub fn floor_requests_tcp_sendmsg_locked_fentry(_ctx: FEntryContext) -> i32 {
    0
}
