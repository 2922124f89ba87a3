//! The run queue's part in folding cgroups into `other`.

use crate::snapshot::{
    CgroupStats,
    fold::{add, add_histogram, sum},
};

/// Adds `b`'s waits and preemptions into `a`'s.
pub fn fold(a: &mut CgroupStats, b: &mut CgroupStats) {
    a.kernel.runq = sum(a.kernel.runq.take(), b.kernel.runq.take(), |x, y| {
        add_histogram(x, y)
    });
    a.kernel.waited_behind_ns = sum(
        a.kernel.waited_behind_ns,
        b.kernel.waited_behind_ns,
        |x, y| add(x, y),
    );
    a.preemptions = sum(a.preemptions, b.preemptions, |x, y| add(x, y));
}
