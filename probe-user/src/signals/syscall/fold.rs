//! The syscalls' part in folding cgroups into `other`.

use probe_common::syscall::CgroupSyscalls;

use crate::snapshot::{
    CgroupStats,
    fold::{add, add_histogram, sum},
};

/// Adds `b`'s syscalls into `a`'s.
pub fn fold(a: &mut CgroupStats, b: &mut CgroupStats) {
    a.kernel.syscalls = sum(
        a.kernel.syscalls.take(),
        b.kernel.syscalls.take(),
        |x: &mut Box<CgroupSyscalls>, y| {
            for (h, g) in x.latency.iter_mut().zip(&y.latency) {
                add_histogram(h, g);
            }
            add(&mut x.errors, &y.errors);
            add(&mut x.slow, &y.slow);
        },
    );
}
