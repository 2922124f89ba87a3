//! What the window keeps of a cgroup's pressure stall information at each
//! sample, and the stalls over the window.

use crate::{signals::psi::files::Psi, snapshot::CgroupStats};

/// A cgroup's PSI totals at one sample (since the cgroup was made).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// The totals, where they could be read.
    pub totals: Option<Psi>,
}

impl Counters {
    /// The counters of a container's statistics.
    pub fn of(stats: &CgroupStats) -> Counters {
        Counters {
            totals: stats.kernel.psi,
        }
    }
}

/// A cgroup's stalls over the window.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Stall seconds: `[resource][some, full]`, where read.
    pub stalls: Option<[[f64; 2]; 3]>,
}

impl Evidence {
    /// What was added from `then` to `now`.
    pub fn between(now: &Counters, then: &Counters) -> Evidence {
        let stalls = now.totals.map(|psi| {
            let before = then.totals.unwrap_or_default();
            let mut stalls = [[0.0; 2]; 3];
            for (r, row) in stalls.iter_mut().enumerate() {
                for (k, stall) in row.iter_mut().enumerate() {
                    *stall = psi.0[r][k].saturating_sub(before.0[r][k]) as f64 / 1e6;
                }
            }
            stalls
        });
        Evidence { stalls }
    }
}
