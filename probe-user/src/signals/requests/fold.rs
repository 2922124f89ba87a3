//! The request signal's part in folding cgroups into `other`.

use crate::snapshot::{CgroupStats, ranker::merge_all_into_other};

/// Merges `a`'s and `b`'s ports into `other`.
pub fn fold(a: &mut CgroupStats, b: &mut CgroupStats) {
    let mut merged = Vec::new();
    merge_all_into_other(&mut merged, std::mem::take(&mut a.request_ports));
    merge_all_into_other(&mut merged, std::mem::take(&mut b.request_ports));
    a.request_ports = merged;
}
