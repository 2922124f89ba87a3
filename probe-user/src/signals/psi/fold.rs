//! PSI's part in folding cgroups into `other`: none.

use crate::snapshot::CgroupStats;

/// `other` has no PSI: stall times do not add up across cgroups.
pub fn fold(a: &mut CgroupStats, _: &mut CgroupStats) {
    a.kernel.psi = None;
}
