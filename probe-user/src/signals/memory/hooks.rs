//! The memory signal's kernel hooks.

use probe_common::programs;

use crate::kernel::hooks::{
    HookKind::{BtfTracepoint, Fentry, RawTracepoint},
    Need, rare, required,
};

/// Hooks of the memory signal: the four reclaim tracepoints (`tp_btf`, or
/// raw where that does not load), the ends first (the loader attaches in
/// this order: a reclaim that began once its begin hook was attached but
/// before its end hook was would leave its thread's slot open, and every
/// later reclaim of that thread would look nested in it), and the OOM
/// killer's choice, from `oom:mark_victim` where it passes the task (Linux
/// 6.8 and later; it passes only a pid before) or else
/// `fentry/mark_oom_victim`. They run rarely, off any hot path: no floor
/// programs of their own.
pub const NEEDS: &[Need] = &[
    required(&[
        rare(
            BtfTracepoint,
            "mm_vmscan_direct_reclaim_end",
            1,
            programs::MEMORY_DIRECT_RECLAIM_END,
        ),
        rare(
            RawTracepoint,
            "mm_vmscan_direct_reclaim_end",
            0,
            programs::MEMORY_DIRECT_RECLAIM_END_RAW,
        ),
    ]),
    required(&[
        rare(
            BtfTracepoint,
            "mm_vmscan_memcg_reclaim_end",
            1,
            programs::MEMORY_MEMCG_RECLAIM_END,
        ),
        rare(
            RawTracepoint,
            "mm_vmscan_memcg_reclaim_end",
            0,
            programs::MEMORY_MEMCG_RECLAIM_END_RAW,
        ),
    ]),
    required(&[
        rare(
            BtfTracepoint,
            "mm_vmscan_direct_reclaim_begin",
            1,
            programs::MEMORY_DIRECT_RECLAIM_BEGIN,
        ),
        rare(
            RawTracepoint,
            "mm_vmscan_direct_reclaim_begin",
            0,
            programs::MEMORY_DIRECT_RECLAIM_BEGIN_RAW,
        ),
    ]),
    required(&[
        rare(
            BtfTracepoint,
            "mm_vmscan_memcg_reclaim_begin",
            1,
            programs::MEMORY_MEMCG_RECLAIM_BEGIN,
        ),
        rare(
            RawTracepoint,
            "mm_vmscan_memcg_reclaim_begin",
            0,
            programs::MEMORY_MEMCG_RECLAIM_BEGIN_RAW,
        ),
    ]),
    Need {
        hooks: &[
            rare(BtfTracepoint, "mark_victim", 2, programs::MEMORY_OOM_VICTIM),
            rare(
                Fentry,
                "mark_oom_victim",
                1,
                programs::MEMORY_OOM_VICTIM_FENTRY,
            ),
        ],
        without: Some("no OOM-kill counts (reclaim stalls still work)"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The loader attaches needs in order: each reclaim end before its begin.
    #[test]
    fn reclaim_ends_attach_before_their_begins() {
        let position = |tracepoint: &str| {
            NEEDS
                .iter()
                .position(|need| need.hooks.iter().any(|h| h.tracepoint == tracepoint))
                .unwrap_or_else(|| panic!("no need of {tracepoint}"))
        };
        for reclaim in ["direct", "memcg"] {
            assert!(
                position(&format!("mm_vmscan_{reclaim}_reclaim_end"))
                    < position(&format!("mm_vmscan_{reclaim}_reclaim_begin")),
                "{reclaim} reclaim's begin attaches before its end"
            );
        }
    }
}
