//! Phase 3: who preempted whom, by class, with the counts of removed
//! preemptors kept so that no counter goes backwards.

use std::{collections::HashMap, sync::Arc};

use probe_common::runqueue::{NOBODY, PreemptionKey};

use crate::{
    identity::{Labels, is_host_cgroup},
    snapshot::{
        Cgroups, KernelState, PerCgroup, Preemptor,
        resolve::{Resolutions, Status},
    },
};

/// Preemption counts whose preemptor cgroup is gone, per victim cgroup (the
/// kernel entries are dropped; the counts are not).
#[derive(Default)]
pub struct RetiredPreemptions(HashMap<u64, [u64; Preemptor::COUNT]>);

impl RetiredPreemptions {
    /// Attributes the kernel's count of one (victim, preemptor) pair: the
    /// victim's labels and the class to add `count` to. `None` when the
    /// victim is gone (its pair is dropped), or when the preemptor is: then
    /// the pair is dropped and its count retired, and [`Self::carry`] adds
    /// it (once) from now on.
    pub fn attribute(
        &mut self,
        key: PreemptionKey,
        count: u64,
        kernel: &mut impl KernelState,
        cgroups: &mut impl Cgroups,
        resolutions: &mut Resolutions,
    ) -> Option<(Option<Arc<Labels>>, Preemptor)> {
        let victim = resolutions.status(key.victim, cgroups);
        if victim == Status::Gone {
            kernel.forget_pair(&key);
            return None;
        }
        if key.by == NOBODY {
            return Some((victim.labels().cloned(), Preemptor::Throttled));
        }
        let by = resolutions.status(key.by, cgroups);
        let class = classify(key.victim, key.by, &by, cgroups);
        if by == Status::Gone {
            self.0.entry(key.victim).or_default()[class.index()] += count;
            kernel.forget_pair(&key);
            return None;
        }
        Some((victim.labels().cloned(), class))
    }

    /// Whether no count is retired.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds the retired counts to their victims; forgets those of victims
    /// that are gone.
    pub fn carry(
        &mut self,
        stats: &mut PerCgroup,
        cgroups: &mut impl Cgroups,
        resolutions: &mut Resolutions,
    ) {
        self.0.retain(|&id, counts| {
            let status = resolutions.status(id, cgroups);
            if status == Status::Gone {
                return false;
            }
            let total = stats
                .entry(id, status.labels())
                .preemptions
                .get_or_insert([0; Preemptor::COUNT]);
            for (sum, retired) in total.iter_mut().zip(*counts) {
                *sum += retired;
            }
            true
        });
    }
}

/// The class of `by`, which preempted a thread of `victim`: the same
/// cgroup, another container, or the host (also when `by` is unknown or
/// was never seen live).
pub fn classify(victim: u64, by: u64, status: &Status, cgroups: &impl Cgroups) -> Preemptor {
    if victim == by {
        return Preemptor::SameCgroup;
    }
    match status
        .labels()
        .map(Arc::as_ref)
        .or_else(|| cgroups.last_known(by))
    {
        Some(labels) if !is_host_cgroup(labels) => Preemptor::OtherContainer,
        _ => Preemptor::Host,
    }
}
