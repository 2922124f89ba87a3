//! Memory: how long a container's threads stall reclaiming memory, and
//! the OOM killer's kills.

pub mod api;
pub mod fold;
pub mod hooks;
pub mod maps;
pub mod metrics;
pub mod rules;
pub mod score;
pub mod window;

use super::SignalParts;

/// The memory signal's parts.
pub const PARTS: SignalParts = SignalParts {
    fold: fold::fold,
    families: metrics::families,
    rules: rules::rules,
    judge: score::judge,
};
