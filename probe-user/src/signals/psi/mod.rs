//! Pressure stall information: the kernel's own account of how long a
//! cgroup's tasks stalled on CPU, memory and I/O.

pub mod api;
pub mod files;
pub mod fold;
pub mod metrics;
pub mod rules;
pub mod window;

use super::Signal;
use crate::verdict;

/// The pressure stall information signal.
pub const SIGNAL: Signal = Signal {
    fold: fold::fold,
    families: metrics::families,
    rules: rules::rules,
    // Memory's pressure reads PSI memory.
    judge: verdict::no_pressure,
};
