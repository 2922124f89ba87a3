//! What the window keeps of a container's memory signal at each sample,
//! and what it did over the window.

use crate::{
    snapshot::CgroupStats,
    window::counters::{Latency, since},
};

/// A container's memory counters at one sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Reclaim stalls.
    pub reclaim: Option<Latency>,
    /// OOM kills.
    pub oom_kills: u64,
}

impl Counters {
    /// The counters of a container's statistics.
    pub fn of(stats: &CgroupStats) -> Counters {
        Counters {
            reclaim: stats
                .kernel
                .memory
                .as_ref()
                .map(|m| Latency::of(&m.reclaim, 0)),
            oom_kills: stats.kernel.memory.as_ref().map_or(0, |m| m.oom_kills),
        }
    }
}

/// A container's reclaim stalls and OOM kills over the window.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Reclaim stalls.
    pub reclaim: Latency,
    /// OOM kills.
    pub oom_kills: u64,
}

impl Evidence {
    /// What was added from `then` to `now`.
    pub fn between(now: &Counters, then: &Counters) -> Evidence {
        Evidence {
            reclaim: since(&now.reclaim, &then.reclaim),
            oom_kills: now.oom_kills.saturating_sub(then.oom_kills),
        }
    }

    /// The share of `seconds` its threads stalled in reclaim.
    pub fn reclaim_share(&self, seconds: f64) -> f64 {
        self.reclaim.sum_seconds() / seconds.max(f64::EPSILON)
    }
}
