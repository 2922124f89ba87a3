//! Memory's section of the API's evidence.

use serde::{Deserialize, Serialize};

use crate::{
    api::{Latency, latency, round},
    window::Evidence,
};

/// Reclaim stalls and OOM kills.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    /// OOM kills.
    pub oom_kills: u64,
    /// Reclaim stalls.
    pub reclaim: Latency,
    /// Seconds stalled in reclaim per second.
    pub reclaim_share: f64,
}

/// Its section of a container's evidence.
pub fn section(e: &Evidence) -> Memory {
    Memory {
        oom_kills: e.memory.oom_kills,
        reclaim: latency(&e.memory.reclaim),
        reclaim_share: round(e.memory.reclaim_share(e.seconds)),
    }
}
