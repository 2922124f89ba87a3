//! The TCP listener signal's kernel hooks.

use probe_common::programs::{self, floor};

use crate::kernel::hooks::{
    HookKind::{BtfTracepoint, Fentry, Fexit},
    Need, hook, iter, rare, required,
};

/// Hooks of the TCP accept-queue signal: the listener iterator, and the
/// queue-fill histogram on `sock:sk_data_ready` (Linux 6.10 and later) or,
/// where that tracepoint is missing, `fentry/sock_def_readable` (the
/// function it sits in) where the kernel allows fentry.
pub const NEEDS: &[Need] = &[
    required(&[iter("task_file", programs::TCP_LISTENERS)]),
    Need {
        hooks: &[
            hook(
                BtfTracepoint,
                "sk_data_ready",
                1,
                programs::TCP_ACCEPT_QUEUED,
                floor::SK_DATA_READY,
            ),
            hook(
                Fentry,
                "sock_def_readable",
                1,
                programs::TCP_ACCEPT_QUEUED_FENTRY,
                floor::SOCK_DEF_READABLE,
            ),
        ],
        without: Some("no accept-queue fill histogram (depth, limit and overflows still work)"),
    },
    Need {
        hooks: &[rare(
            Fentry,
            "tcp_conn_request",
            3,
            programs::TCP_SYN_ARRIVES,
        )],
        without: Some(WITHOUT_LISTEN_DROPS),
    },
    Need {
        hooks: &[rare(
            Fexit,
            "tcp_conn_request",
            3,
            programs::TCP_SYN_HANDLED,
        )],
        without: Some(WITHOUT_LISTEN_DROPS),
    },
    Need {
        hooks: &[rare(
            Fentry,
            "tcp_syn_flood_action",
            1,
            programs::TCP_SYN_QUEUE_FULL,
        )],
        without: Some("no SYN-queue drops (a kernel that inlines tcp_syn_flood_action)"),
    },
    Need {
        hooks: &[rare(
            Fentry,
            "tcp_v4_syn_recv_sock",
            1,
            programs::TCP_V4_HANDSHAKE_DONE,
        )],
        without: Some(WITHOUT_LISTEN_DROPS),
    },
    Need {
        hooks: &[rare(
            Fentry,
            "tcp_v6_syn_recv_sock",
            1,
            programs::TCP_V6_HANDSHAKE_DONE,
        )],
        without: Some(WITHOUT_LISTEN_DROPS),
    },
];

/// What the TCP signal loses without one of the hooks that count overflows
/// at each listener (the agent uses them only when all are attached:
/// [`OVERFLOW_PROGRAMS`]).
const WITHOUT_LISTEN_DROPS: &str = "no SYN-queue drops, and a namespace's listen overflows are \
     split between its listeners in proportion to their drop counts";

/// The programs that count accept-queue overflows at each listener, at
/// the SYN and at the final ACK (`programs::TCP_SYN_QUEUE_FULL` counts
/// SYN-queue drops beside them).
pub const OVERFLOW_PROGRAMS: [&str; 4] = [
    programs::TCP_SYN_ARRIVES,
    programs::TCP_SYN_HANDLED,
    programs::TCP_V4_HANDSHAKE_DONE,
    programs::TCP_V6_HANDSHAKE_DONE,
];
