//! The dependency signal's kernel hooks.

use probe_common::programs::{self, floor};

use crate::kernel::hooks::{
    HookKind::{BtfTracepoint, Fentry},
    Need, hook, iter, required,
};

/// Hooks of the dependency signal: connection states (`sock:inet_sock_set_state`,
/// every kernel this probe runs on), sends and arrivals for response
/// times (tracepoints on Linux 6.9/6.10 and later, fentry before), and
/// retransmissions.
pub const NEEDS: &[Need] = &[
    required(&[hook(
        BtfTracepoint,
        "inet_sock_set_state",
        3,
        programs::DEPENDENCY_STATE,
        floor::INET_SOCK_SET_STATE,
    )]),
    Need {
        hooks: &[
            hook(
                BtfTracepoint,
                "tcp_sendmsg_locked",
                1,
                programs::DEPENDENCY_SEND,
                floor::TCP_SENDMSG_LOCKED,
            ),
            hook(
                Fentry,
                "tcp_sendmsg_locked",
                1,
                programs::DEPENDENCY_SEND_FENTRY,
                floor::TCP_SENDMSG_LOCKED_FENTRY,
            ),
        ],
        without: Some(
            "no response times (connect times, failures, retransmits and connections still work)",
        ),
    },
    Need {
        hooks: &[
            hook(
                BtfTracepoint,
                "sk_data_ready",
                1,
                programs::DEPENDENCY_DATA_READY,
                floor::DEPENDENCY_SK_DATA_READY,
            ),
            hook(
                Fentry,
                "sock_def_readable",
                1,
                programs::DEPENDENCY_DATA_READY_FENTRY,
                floor::DEPENDENCY_SOCK_DEF_READABLE,
            ),
        ],
        without: Some(
            "no response times (connect times, failures, retransmits and connections still work)",
        ),
    },
    Need {
        hooks: &[iter("task_file", programs::DEPENDENCY_FOLLOW)],
        without: Some("connections established before the agent started are not followed"),
    },
    Need {
        hooks: &[hook(
            BtfTracepoint,
            "tcp_retransmit_skb",
            1,
            programs::DEPENDENCY_RETRANSMIT,
            floor::TCP_RETRANSMIT_SKB,
        )],
        without: Some("no retransmit counts"),
    },
];
