//! The accept queues' section of the API's evidence.

use serde::{Deserialize, Serialize};

use crate::{api::round, window::Evidence};

/// Accept queues.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AcceptQueue {
    /// Mean fill of the queued connections.
    pub fill_mean: f64,
    /// 95th percentile of the fill.
    pub fill_p95: f64,
    /// Per listening port.
    pub ports: Vec<Port>,
    /// Connections queued.
    pub queued: u64,
}

/// One listening port.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Port {
    /// Connections dropped (listen overflows).
    pub dropped: u64,
    /// Its fill now.
    pub fill_now: f64,
    /// The port.
    pub port: u16,
}

/// Its section of a container's evidence.
pub fn section(e: &Evidence) -> AcceptQueue {
    AcceptQueue {
        fill_mean: round(e.tcp.fill_mean),
        fill_p95: round(e.tcp.fill_quantile(0.95)),
        ports: e
            .tcp
            .ports
            .iter()
            .map(|&(port, dropped, fill)| Port {
                dropped,
                fill_now: round(fill),
                port,
            })
            .collect(),
        queued: e.tcp.fill.iter().sum(),
    }
}
