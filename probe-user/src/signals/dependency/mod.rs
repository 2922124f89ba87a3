//! Dependencies: for each remote endpoint a container connects to, how
//! long it takes to answer and to connect, and how often it fails.

pub mod api;
pub mod fold;
pub mod hooks;
pub mod maps;
pub mod metrics;
pub mod remotes;
pub mod rules;
pub mod score;
pub mod window;

use super::SignalParts;

/// The dependency signal's parts.
pub const PARTS: SignalParts = SignalParts {
    fold: fold::fold,
    families: metrics::families,
    rules: rules::rules,
    judge: score::judge,
};
