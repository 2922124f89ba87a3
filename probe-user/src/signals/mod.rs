//! One folder per signal: each holds its part of every stage of the
//! pipeline (docs/layout.md has the picture). The stages run over
//! [`ALL`] and know no signal by name.

pub mod dependency;
pub mod memory;
pub mod psi;
pub mod requests;
pub mod runqueue;
pub mod syscall;
pub mod tcp;

use crate::{
    export::model::LazyFamily,
    rules::{Context, SignalRules},
    sampler::Sample,
    snapshot::CgroupStats,
    verdict::{Finding, Thresholds},
    window::Evidence,
};

/// What a signal gives the stages, one function per part.
pub struct SignalParts {
    /// Adds the second cgroup's statistics into the first's, for `other`
    /// (snapshot).
    pub fold: fn(&mut CgroupStats, &mut CgroupStats),
    /// Its metric families of a sample, in exposition order.
    pub families: for<'a> fn(&'a Sample) -> Vec<LazyFamily<'a>>,
    /// Its Prometheus rules (for `pressure-probe rules`).
    pub rules: fn(&Context) -> SignalRules,
    /// Its pressure over a container's window, if over its threshold (verdict).
    pub judge: fn(&Evidence, &Thresholds) -> Option<Finding>,
}

/// Every signal, in exposition order.
pub const ALL: [&SignalParts; 7] = [
    &runqueue::PARTS,
    &syscall::PARTS,
    &tcp::PARTS,
    &memory::PARTS,
    &dependency::PARTS,
    &requests::PARTS,
    &psi::PARTS,
];
