//! The document `GET /api/v1/containers` answers (the schema is in
//! docs/verdict.md, section API): one set of types, built by the server
//! (`serve::api`) and read back by `top`; each signal's section of the
//! evidence is its own (`signals/<signal>/api.rs`). Fields are in alphabetical
//! order, the order they are written in; every field may be missing from
//! what is read (an older agent's answer), and reads as its default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::signals::{
    dependency::api::Dependency,
    memory::api::Memory,
    psi::api::Shares,
    requests::api::Requests,
    runqueue::api::Runqueue,
    syscall::api::Syscalls,
    tcp::api::{AcceptQueue, Port},
};
use crate::{
    signals::{dependency, memory, psi, requests, runqueue, syscall, tcp},
    window::{self, counters},
};

/// The answer: every container's verdict over the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Document {
    /// One entry per container.
    pub containers: Vec<Container>,
    /// The sample's number (1 for the agent's first).
    pub sample: u64,
    /// The window the verdicts cover.
    pub window_seconds: f64,
}

/// One container's verdict and the evidence behind it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Container {
    /// What to do about its bottleneck.
    pub advice: String,
    /// The verdict.
    pub bottleneck: String,
    /// What the verdict is about (a port, a remote, a syscall class).
    pub detail: String,
    /// The evidence over the window.
    pub evidence: Evidence,
    /// The labels of its series.
    pub labels: BTreeMap<String, String>,
    /// Every pressure over its threshold, worst first.
    pub pressures: Vec<Pressure>,
    /// Whether more replicas would help: `yes`, `no`, `n/a`.
    pub replicas_help: String,
}

/// One pressure over its threshold.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Pressure {
    /// Its bottleneck.
    pub bottleneck: String,
    /// What it is about.
    pub detail: String,
    /// How many times over its threshold.
    pub score: f64,
}

/// What a container's signals measured over the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Evidence {
    /// Its listening ports' accept queues.
    pub accept_queue: AcceptQueue,
    /// Its remote endpoints.
    pub dependencies: Vec<Dependency>,
    /// Reclaim stalls and OOM kills.
    pub memory: Memory,
    /// Stall shares by resource (`cpu`, `memory`, `io`), where read.
    pub psi: Option<BTreeMap<String, Shares>>,
    /// Its listening ports' requests.
    pub requests: Vec<Requests>,
    /// Waits for a CPU.
    pub runqueue: Runqueue,
    /// Seconds the evidence covers.
    pub seconds: f64,
    /// Syscalls by class.
    pub syscalls: BTreeMap<String, Syscalls>,
}

/// A latency distribution: its count and quantiles (`None`: too few
/// observations for it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    /// Observations.
    pub count: u64,
    /// Median, seconds.
    pub p50_seconds: Option<f64>,
    /// 95th percentile, seconds.
    pub p95_seconds: Option<f64>,
    /// 99th percentile, seconds.
    pub p99_seconds: Option<f64>,
}

impl Evidence {
    /// The document's account of `e`: each signal's section.
    pub fn of(e: &window::Evidence) -> Evidence {
        Evidence {
            accept_queue: tcp::api::section(e),
            dependencies: dependency::api::section(e),
            memory: memory::api::section(e),
            psi: psi::api::section(e),
            requests: requests::api::section(e),
            runqueue: runqueue::api::section(e),
            seconds: round(e.seconds),
            syscalls: syscall::api::section(e),
        }
    }
}

/// `v` to the document's precision (a millionth).
pub fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// A quantile, rounded; `None` with too few observations for it.
pub fn quantile(c: &counters::Latency, q: f64) -> Option<f64> {
    c.quantile(q).map(round)
}

/// A latency distribution's count and quantiles.
pub fn latency(c: &counters::Latency) -> Latency {
    Latency {
        count: c.count(),
        p50_seconds: quantile(c, 0.5),
        p95_seconds: quantile(c, 0.95),
        p99_seconds: quantile(c, 0.99),
    }
}
