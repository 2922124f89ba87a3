//! The listeners' part in folding cgroups into `other`.

use crate::snapshot::{
    CgroupStats,
    fold::{add, sum},
};

/// Adds `b`'s accept-queue fill into `a`'s (ports are folded with the
/// listeners).
pub fn fold(a: &mut CgroupStats, b: &mut CgroupStats) {
    a.tcp_fill = sum(a.tcp_fill.take(), b.tcp_fill.take(), |x, y| {
        add(&mut x.buckets, &y.buckets);
        x.sum_micro += y.sum_micro;
    });
}
