//! Helpers for pressure-probe's integration tests: the agent as a process,
//! real cgroups that clean up after themselves, workloads, and a parser for
//! the Prometheus text format. Tests panic with context instead of returning
//! errors, so a failure says where and why.

pub mod agent;
pub mod cgroup;
pub mod exposition;
pub mod kernel_maps;
pub mod netns;
pub mod workload;
