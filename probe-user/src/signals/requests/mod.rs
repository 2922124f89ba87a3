//! Requests: the server side of each container's inbound TCP connections,
//! per listening port: how long requests take to answer, how long they
//! wait for a worker to read them, how many wait now, connections, and
//! errors. The symptom a scaling policy acts on, beside its cause.

pub mod api;
pub mod fold;
pub mod hooks;
pub mod maps;
pub mod metrics;
pub mod ports;
pub mod rules;
pub mod score;
pub mod window;

use super::SignalParts;

/// The request signal's parts.
pub const PARTS: SignalParts = SignalParts {
    fold: fold::fold,
    families: metrics::families,
    rules: rules::rules,
    judge: score::judge,
};
