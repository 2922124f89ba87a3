//! Definitions shared by the kernel programs (`probe-ebpf`) and the agent
//! (`probe-user`): map layouts, histogram bucketing, counter indices and the
//! names of the read-only globals the agent fills in before load.
#![no_std]

pub mod cgroups;
pub mod counters;
pub mod globals;
pub mod histogram;
pub mod objects;
pub mod runqueue;
pub mod syscall;
pub mod tcp;
