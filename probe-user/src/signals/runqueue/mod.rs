//! The run queue: how long a container's runnable threads wait for a CPU,
//! and who ran instead (its own threads, its CPU quota, other containers,
//! the host).

pub mod api;
pub mod fold;
pub mod hooks;
pub mod maps;
pub mod metrics;
pub mod preemptions;
pub mod rules;
pub mod score;
pub mod window;

use super::SignalParts;

/// The run-queue signal's parts.
pub const PARTS: SignalParts = SignalParts {
    fold: fold::fold,
    families: metrics::families,
    rules: rules::rules,
    judge: score::judge,
};
