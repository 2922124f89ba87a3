//! The agent's heap: bounded arenas, large blocks mapped, and freed memory
//! given back to the system when there is much of it.

/// Keeps the heap to two glibc arenas: each thread that allocates may
/// otherwise get an arena of its own, each keeping its freed memory, and
/// the agent's memory would grow with bursts of concurrent scrapes; and
/// maps large blocks, which go back to the system when freed.
pub fn bound_arenas() {
    // SAFETY: mallopt only changes an allocator setting.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    // Blocks of a MiB and more (encoded expositions, answers on their way
    // to slow clients) are mapped and given back when freed: left to
    // itself, glibc raises this bound to the largest block freed, and
    // memory freed from the heap stays resident.
    // SAFETY: as above.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
}

/// Gives freed heap memory back to the system.
pub fn trim() {
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe { libc::malloc_trim(0) };
}

/// Gives the heap back once the cgroups a sample lists have fallen well
/// below their peak: thousands of containers gone left their samples'
/// memory free but resident (86 MB where a fresh agent with the
/// containers left took 49 MB).
#[derive(Default)]
pub struct TrimOnShrink {
    peak: usize,
}

impl TrimOnShrink {
    /// Listed cgroups this fraction below the peak since the last trim
    /// (an eighth) make the next trim.
    const FALL: usize = 8;

    /// A sample listed `cgroups`; trims the heap if they fell far enough.
    /// Whether it did.
    pub fn after_sample(&mut self, cgroups: usize) -> bool {
        self.peak = self.peak.max(cgroups);
        if self.peak - cgroups <= self.peak / Self::FALL {
            return false;
        }
        trim();
        self.peak = cgroups;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_the_cgroups_fall_by_an_eighth() {
        let mut trims = TrimOnShrink::default();
        let trimmed: Vec<bool> = [100, 5000, 4500, 4374, 4370, 1000, 1000, 2000, 1700]
            .into_iter()
            .map(|cgroups| trims.after_sample(cgroups))
            .collect();
        assert_eq!(
            trimmed,
            [false, false, false, true, false, true, false, false, true]
        );
    }
}
