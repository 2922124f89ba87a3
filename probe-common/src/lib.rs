//! Definitions shared by the kernel programs (`probe-ebpf`) and the agent
//! (`probe-user`): map layouts, histogram bucketing, counter indices, and
//! every name one side gives and the other looks up (maps, programs, the
//! read-only globals the agent fills in before load). The kernel side
//! checks each name against its item at compile time, so a rename fails
//! the build, not the load.
#![no_std]

pub mod cgroups;
pub mod counters;
pub mod dependency;
pub mod globals;
pub mod histogram;
pub mod memory;
pub mod objects;
pub mod programs;
pub mod requests;
pub mod runqueue;
pub mod syscall;
pub mod tcp;

/// Whether two names are the same (usable in constants: the kernel side's
/// compile-time name checks).
pub const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
