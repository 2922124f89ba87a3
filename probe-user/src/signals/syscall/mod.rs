//! Syscalls: how long a container's syscalls take and how often they
//! fail, by class (file and network I/O, waits, sync, memory, process).

pub mod api;
pub mod fold;
pub mod hooks;
pub mod maps;
pub mod metrics;
pub mod rules;
pub mod score;
pub mod window;

use super::SignalParts;

/// The syscall signal's parts.
pub const PARTS: SignalParts = SignalParts {
    fold: fold::fold,
    families: metrics::families,
    rules: rules::rules,
    judge: score::judge,
};
