//! What this kernel offers and how the agent uses it: its BTF and the
//! struct offsets read from it, the hooks each signal attaches to, where
//! per-cgroup state lives, the privileges needed, what lockdown allows, the
//! loader, and running the programs' iterators.

pub mod btf;
pub mod cgroup_state;
pub mod hooks;
pub mod iterators;
pub mod loader;
pub mod lockdown;
pub mod offsets;
pub mod privileges;
pub mod signals;
