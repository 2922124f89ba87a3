//! Pressure stall information: the kernel's own account of how long a
//! cgroup's tasks stalled on CPU, memory and I/O.

pub mod api;
pub mod files;
pub mod fold;
pub mod metrics;
pub mod rules;
pub mod window;

use super::SignalParts;
use crate::verdict;

/// The pressure stall information signal's parts.
pub const PARTS: SignalParts = SignalParts {
    fold: fold::fold,
    families: metrics::families,
    rules: rules::rules,
    // Memory's pressure reads PSI memory.
    judge: verdict::no_pressure,
};
