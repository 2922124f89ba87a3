//! The dependencies' part in folding cgroups into `other`.

use super::remotes;
use crate::snapshot::CgroupStats;

/// Merges `a`'s and `b`'s remote endpoints into `other`.
pub fn fold(a: &mut CgroupStats, b: &mut CgroupStats) {
    let mut merged = Vec::new();
    remotes::merge_all_into_other(&mut merged, std::mem::take(&mut a.remotes));
    remotes::merge_all_into_other(&mut merged, std::mem::take(&mut b.remotes));
    a.remotes = merged;
}
