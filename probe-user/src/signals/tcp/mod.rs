//! TCP listeners: each listening port's accept and SYN queues, their
//! drops, and how full the accept queue was as connections queued.

pub mod api;
pub mod fold;
pub mod hooks;
pub mod listen_drops;
pub mod listeners;
pub mod maps;
pub mod metrics;
pub mod overflows;
pub mod ports;
pub mod rules;
pub mod score;
pub mod window;

use super::SignalParts;

/// The TCP listener signal's parts.
pub const PARTS: SignalParts = SignalParts {
    fold: fold::fold,
    families: metrics::families,
    rules: rules::rules,
    judge: score::judge,
};
