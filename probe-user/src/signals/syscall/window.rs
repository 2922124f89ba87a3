//! What the window keeps of a container's syscalls at each sample, and
//! what they did over the window.

use probe_common::syscall::{CLASSES, SyscallClass};

use crate::{snapshot::CgroupStats, window::counters::Latency};

/// A container's syscall counters at one sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// By class: durations (slow: above the class's threshold) and errors.
    pub classes: [Option<(Latency, u64)>; CLASSES],
}

impl Counters {
    /// The counters of a container's statistics.
    pub fn of(stats: &CgroupStats) -> Counters {
        let mut classes: [Option<(Latency, u64)>; CLASSES] = Default::default();
        if let Some(s) = &stats.kernel.syscalls {
            for (class, slot) in classes.iter_mut().enumerate() {
                let latency = Latency::of(&s.latency[class], s.slow[class]);
                if latency.count() > 0 {
                    *slot = Some((latency, s.errors[class]));
                }
            }
        }
        Counters { classes }
    }
}

/// A container's syscalls over the window.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// By class, those with calls: durations (slow: above the class's
    /// threshold) and errors.
    pub classes: Vec<(SyscallClass, Latency, u64)>,
}

impl Evidence {
    /// What was added from `then` to `now`.
    pub fn between(now: &Counters, then: &Counters) -> Evidence {
        let classes = (0..CLASSES)
            .filter_map(|class| {
                let (hist, errors) = now.classes[class].as_ref()?;
                let (before, errors_before) = then.classes[class].clone().unwrap_or_default();
                let delta = hist.since(&before);
                (delta.count() > 0).then(|| {
                    (
                        SyscallClass::ALL[class],
                        delta,
                        errors.saturating_sub(errors_before),
                    )
                })
            })
            .collect();
        Evidence { classes }
    }
}
