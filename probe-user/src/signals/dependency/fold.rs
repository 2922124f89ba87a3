//! The dependencies' part in folding cgroups into `other`.

use crate::snapshot::{CgroupStats, ranker::merge_all_into_other};

/// Merges `a`'s and `b`'s remote endpoints into `other`.
pub fn fold(a: &mut CgroupStats, b: &mut CgroupStats) {
    let mut merged = Vec::new();
    merge_all_into_other(&mut merged, std::mem::take(&mut a.remotes));
    merge_all_into_other(&mut merged, std::mem::take(&mut b.remotes));
    a.remotes = merged;
}
