//! What the window keeps of the run queue at each sample, and what it did
//! over the window.

use probe_common::runqueue::behind;

use crate::{
    snapshot::{CgroupStats, Preemptor},
    window::counters::{Latency, since},
};

/// A container's run-queue counters at one sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Waits for a CPU.
    pub waits: Option<Latency>,
    /// Preemptions by class.
    pub preemptions: [u64; Preemptor::COUNT],
    /// Nanoseconds waited, by what the CPU did meanwhile (`runqueue::behind`).
    pub waited_behind_ns: [u64; behind::COUNT],
}

impl Counters {
    /// The counters of a container's statistics.
    pub fn of(stats: &CgroupStats) -> Counters {
        Counters {
            waits: stats.kernel.runq.as_ref().map(|h| Latency::of(h, 0)),
            preemptions: stats.preemptions.unwrap_or_default(),
            waited_behind_ns: stats.kernel.waited_behind_ns.unwrap_or_default(),
        }
    }
}

/// What a container's threads waited for a CPU over the window.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Waits for a CPU.
    pub waits: Latency,
    /// Preemptions by class.
    pub preemptions: [u64; Preemptor::COUNT],
    /// Seconds waited, by what the CPU did meanwhile (`runqueue::behind`:
    /// its own threads, throttled, other cgroups, idle).
    pub waited_behind: [f64; behind::COUNT],
}

impl Evidence {
    /// What was added from `then` to `now`.
    pub fn between(now: &Counters, then: &Counters) -> Evidence {
        let mut waited_behind = [0.0; behind::COUNT];
        for (out, (n, t)) in waited_behind
            .iter_mut()
            .zip(now.waited_behind_ns.iter().zip(then.waited_behind_ns))
        {
            *out = n.saturating_sub(t) as f64 / 1e9;
        }
        let mut preemptions = [0; Preemptor::COUNT];
        for (out, (n, t)) in preemptions
            .iter_mut()
            .zip(now.preemptions.iter().zip(then.preemptions))
        {
            *out = n.saturating_sub(t);
        }
        Evidence {
            waits: since(&now.waits, &then.waits),
            preemptions,
            waited_behind,
        }
    }

    /// The share of `seconds` the container's threads spent waiting for a
    /// CPU, summed over its threads (above 1 when several wait at once).
    pub fn wait_share(&self, seconds: f64) -> f64 {
        self.waits.sum_seconds() / seconds.max(f64::EPSILON)
    }

    /// The share of the time its threads waited behind someone that was
    /// its own doing (behind its own threads, or throttled at its CPU
    /// quota) rather than other cgroups'; `None` when it waited behind
    /// nobody. Waits on an idle CPU (the time to switch in) count for
    /// neither.
    pub fn own_wait_share(&self) -> Option<f64> {
        let [same, throttled, other, _idle] = self.waited_behind;
        let all = same + throttled + other;
        (all > 0.0).then(|| (same + throttled) / all)
    }
}
