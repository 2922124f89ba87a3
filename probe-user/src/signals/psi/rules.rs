//! The PSI signal's rule: the share of time a container stalled on memory,
//! for dashboards.

use super::metrics::STALL;
use crate::rules::{Context, Record, SignalRules, promql::C};

/// Its rules.
pub fn rules(_: &Context) -> SignalRules {
    SignalRules {
        trends: vec![Record {
            comment: "Share of time some of a container's tasks stalled on memory (PSI), 0..1."
                .into(),
            name: "container:pressure_memory_stall:ratio5m",
            expr: format!(
                "sum by ({C}) (\n  \
                 rate({STALL}{{resource=\"memory\",kind=\"some\"}}[5m]))"
            ),
        }],
        ..SignalRules::default()
    }
}
