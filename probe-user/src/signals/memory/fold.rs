//! Memory's part in folding cgroups into `other`.

use probe_common::memory::CgroupMemory;

use crate::snapshot::{
    CgroupStats,
    fold::{add_histogram, sum},
};

/// Adds `b`'s reclaim stalls and OOM kills into `a`'s.
pub fn fold(a: &mut CgroupStats, b: &mut CgroupStats) {
    a.kernel.memory = sum(
        a.kernel.memory.take(),
        b.kernel.memory.take(),
        |x: &mut Box<CgroupMemory>, y| {
            add_histogram(&mut x.reclaim, &y.reclaim);
            x.oom_kills += y.oom_kills;
        },
    );
}
