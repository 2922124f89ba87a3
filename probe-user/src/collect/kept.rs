//! A cgroup's kernel data kept compact, as its non-zero words: its
//! histograms are mostly empty buckets (about 12 KiB whole, a few hundred
//! bytes kept), and thousands of folded cgroups are kept between their
//! turns.

use std::{marker::PhantomData, mem::size_of};

use aya::Pod;
use probe_common::{
    histogram::Histogram, memory::CgroupMemory, runqueue::behind, syscall::CgroupSyscalls,
};

use super::{maps::CgroupData, zeroed};

/// What a cgroup's storages held (its PSI is not kept: stall times do not
/// add up across cgroups).
pub struct KeptData {
    runq: Option<Sparse<Histogram>>,
    waited_behind_ns: Option<[u64; behind::COUNT]>,
    syscalls: Option<Sparse<CgroupSyscalls>>,
    memory: Option<Sparse<CgroupMemory>>,
}

impl CgroupData {
    /// This data, kept compact.
    pub fn keep(&self) -> KeptData {
        KeptData {
            runq: self.runq.as_deref().map(Sparse::new),
            waited_behind_ns: self.waited_behind_ns,
            syscalls: self.syscalls.as_deref().map(Sparse::new),
            memory: self.memory.as_deref().map(Sparse::new),
        }
    }
}

impl KeptData {
    /// Adds what was kept to `sum`.
    pub fn add_to(&self, sum: &mut CgroupData) {
        if let Some(runq) = &self.runq {
            runq.add_to(sum.runq.get_or_insert_with(|| Box::new(Histogram::ZERO)));
        }
        if let Some(waited) = self.waited_behind_ns {
            let into = sum.waited_behind_ns.get_or_insert([0; behind::COUNT]);
            for (x, y) in into.iter_mut().zip(waited) {
                *x = x.wrapping_add(y);
            }
        }
        if let Some(syscalls) = &self.syscalls {
            syscalls.add_to(sum.syscalls.get_or_insert_with(|| Box::new(zeroed())));
        }
        if let Some(memory) = &self.memory {
            memory.add_to(sum.memory.get_or_insert_with(|| Box::new(zeroed())));
        }
    }
}

/// A plain-data value of 64-bit words, kept as its non-zero words.
struct Sparse<T> {
    words: Box<[(u16, u64)]>,
    kind: PhantomData<T>,
}

impl<T: Pod> Sparse<T> {
    /// Words of a `T` (whole: every kept type is made of `u64`s).
    const WORDS: usize = {
        assert!(size_of::<T>().is_multiple_of(8) && size_of::<T>() / 8 <= u16::MAX as usize);
        size_of::<T>() / 8
    };

    fn new(value: &T) -> Self {
        let base = (value as *const T).cast::<u64>();
        let words = (0..Self::WORDS)
            // SAFETY: `T` is plain data made of `WORDS` whole words; the
            // reads are unaligned-safe.
            .map(|i| (i as u16, unsafe { base.add(i).read_unaligned() }))
            .filter(|&(_, word)| word != 0)
            .collect();
        Self {
            words,
            kind: PhantomData,
        }
    }

    /// Adds each word to `sum`'s (every kept type is counters and
    /// histograms: sums of words; its `registered` flag is not read).
    fn add_to(&self, sum: &mut T) {
        let base = (sum as *mut T).cast::<u64>();
        for &(i, word) in &self.words {
            // SAFETY: `i` < `WORDS`, inside `sum`.
            unsafe {
                let at = base.add(usize::from(i));
                at.write_unaligned(at.read_unaligned().wrapping_add(word));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_non_zero_words_and_adds_them_back() {
        let mut syscalls: CgroupSyscalls = zeroed();
        syscalls.latency[3].buckets[100] = 7;
        syscalls.latency[3].sum_ns = 12_345;
        syscalls.errors[6] = u64::MAX;
        let data = CgroupData {
            syscalls: Some(Box::new(syscalls)),
            ..CgroupData::default()
        };
        let kept = data.keep();
        assert_eq!(kept.syscalls.as_ref().unwrap().words.len(), 3);
        let mut sum = CgroupData::default();
        kept.add_to(&mut sum);
        assert_eq!(format!("{sum:?}"), format!("{data:?}"));
    }
}
