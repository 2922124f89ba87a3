//! The requests' section of the API's evidence: each listening port's
//! requests over the window, the symptom beside the cause.

use serde::{Deserialize, Serialize};

use crate::{
    api::{Latency, latency, round},
    window::Evidence,
};

/// One listening port's requests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Requests {
    /// Inbound connections established now.
    pub connections: i64,
    /// Requests that failed: reset, or answered with an HTTP 5xx.
    pub errors: u64,
    /// The port, or `other`.
    pub port: String,
    /// Time waited to be read (for a worker).
    pub queue: Latency,
    /// The share of queue times above the workers' threshold.
    pub queue_slow_share: f64,
    /// Time to answer; its count is the requests answered.
    pub response: Latency,
    /// Requests waiting to be read now.
    pub waiting: i64,
}

/// Its section of a container's evidence: one entry per port.
pub fn section(e: &Evidence) -> Vec<Requests> {
    e.requests
        .ports
        .iter()
        .map(|p| Requests {
            connections: p.connections,
            errors: p.errors.iter().sum(),
            port: p.port.to_string(),
            queue: latency(&p.queue),
            queue_slow_share: round(p.queue.slow_share()),
            response: latency(&p.response),
            waiting: p.waiting,
        })
        .collect()
}
