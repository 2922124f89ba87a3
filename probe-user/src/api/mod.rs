//! The document `GET /api/v1/containers` answers (the schema is in
//! docs/verdict.md, section API): one set of types, built by the server
//! (`serve::api`) and read back by `top`. Fields are in alphabetical
//! order, the order they are written in; every field may be missing from
//! what is read (an older agent's answer), and reads as its default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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

/// Waits for a CPU.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Runqueue {
    /// Waits.
    pub count: u64,
    /// The share of the wait behind its own threads or its quota.
    pub own_wait_share: Option<f64>,
    /// Median wait, seconds.
    pub p50_seconds: Option<f64>,
    /// 95th percentile, seconds.
    pub p95_seconds: Option<f64>,
    /// 99th percentile, seconds.
    pub p99_seconds: Option<f64>,
    /// Preemptions by who ran instead.
    pub preempted_by: BTreeMap<String, u64>,
    /// Seconds waited per second.
    pub wait_share: f64,
    /// Seconds waited, by what the CPU did meanwhile.
    pub waited_behind_seconds: BTreeMap<String, f64>,
}

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

/// One class of syscalls.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Syscalls {
    /// Syscalls.
    pub count: u64,
    /// Those that returned an error.
    pub errors: u64,
    /// Median, seconds.
    pub p50_seconds: Option<f64>,
    /// 95th percentile, seconds.
    pub p95_seconds: Option<f64>,
    /// 99th percentile, seconds.
    pub p99_seconds: Option<f64>,
    /// The share above the class's slow threshold.
    pub slow_share: f64,
}

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

/// A resource's PSI over the window, per second.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Shares {
    /// All of the tasks stalled.
    pub full_share: f64,
    /// Some task stalled.
    pub some_share: f64,
}

/// One remote endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Dependency {
    /// Failed connects.
    pub connect_failures: u64,
    /// 95th percentile of connect times, seconds.
    pub connect_p95_seconds: Option<f64>,
    /// Connections established now.
    pub connections: i64,
    /// Answers timed.
    pub count: u64,
    /// Median response time, seconds.
    pub p50_seconds: Option<f64>,
    /// 95th percentile, seconds.
    pub p95_seconds: Option<f64>,
    /// 99th percentile, seconds.
    pub p99_seconds: Option<f64>,
    /// `IP:port`, or `other`.
    pub remote: String,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// The share of answers above the slow threshold.
    pub slow_share: f64,
}
