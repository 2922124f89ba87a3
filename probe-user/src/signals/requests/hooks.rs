//! The request signal's kernel hooks.

use probe_common::programs::{self, floor};

use crate::kernel::hooks::{
    HookKind::{BtfTracepoint, Fentry},
    Need, hook, required,
};

/// Hooks of the request signal: inbound connections' states
/// (`sock:inet_sock_set_state`), arrivals (`sock:sk_data_ready` on Linux
/// 6.10 and later, fentry before), the application's reads
/// (`tcp:tcp_rcv_space_adjust`) and its responses (`tcp:tcp_sendmsg_locked`
/// on Linux 6.9 and later, fentry before).
pub const NEEDS: &[Need] = &[
    required(&[hook(
        BtfTracepoint,
        "inet_sock_set_state",
        3,
        programs::REQUESTS_STATE,
        floor::REQUESTS_INET_SOCK_SET_STATE,
    )]),
    required(&[
        hook(
            BtfTracepoint,
            "sk_data_ready",
            1,
            programs::REQUESTS_DATA_READY,
            floor::REQUESTS_SK_DATA_READY,
        ),
        hook(
            Fentry,
            "sock_def_readable",
            1,
            programs::REQUESTS_DATA_READY_FENTRY,
            floor::REQUESTS_SOCK_DEF_READABLE,
        ),
    ]),
    Need {
        hooks: &[hook(
            BtfTracepoint,
            "tcp_rcv_space_adjust",
            1,
            programs::REQUESTS_READ,
            floor::TCP_RCV_SPACE_ADJUST,
        )],
        without: Some(
            "no queue times, and requests count as waiting until answered (response times, \
             connections and errors still work)",
        ),
    },
    required(&[
        hook(
            BtfTracepoint,
            "tcp_sendmsg_locked",
            1,
            programs::REQUESTS_SEND,
            floor::REQUESTS_TCP_SENDMSG_LOCKED,
        ),
        hook(
            Fentry,
            "tcp_sendmsg_locked",
            1,
            programs::REQUESTS_SEND_FENTRY,
            floor::REQUESTS_TCP_SENDMSG_LOCKED_FENTRY,
        ),
    ]),
];
