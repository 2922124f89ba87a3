//! Cgroups folded into `other` are read in turns: each once every `period`
//! samples (about [`FOLDED_REFRESH`]), not at every sample. Past
//! `--max-cgroups`, thousands of folded cgroups took most of a sample
//! (opening each cgroup and three storage lookups); in turns they cost a
//! period's fraction of that. Between its turns a folded cgroup counts in
//! `other` with what it held when last read: `other`'s counters lag by at
//! most a period and never go back (each member's only grows between reads).
//! A removed folded cgroup is found at its next turn. What a folded cgroup
//! last held is kept compact ([`KeptData`]).

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use super::resolve::Status;
use crate::{
    collect::{kept::KeptData, maps::CgroupData},
    identity::Labels,
};

/// How long a folded cgroup may go unread.
pub const FOLDED_REFRESH: Duration = Duration::from_secs(10);

/// What a folded cgroup held when it was last read.
pub struct LastRead {
    /// Its labels then (not exported: it is in `other`).
    labels: Option<Arc<Labels>>,
    /// Its kernel data then, kept compact.
    data: KeptData,
}

/// The folded cgroups not read in a sample (not their turn), and the sum of
/// what they last held: they count in `other` without a copy each.
#[derive(Default)]
pub struct BetweenTurns {
    /// Their ids.
    pub ids: HashSet<u64>,
    /// The sum of their last reads (PSI is not summed).
    pub sum: CgroupData,
}

impl BetweenTurns {
    /// Counts folded cgroup `id` with what it last held.
    fn add(&mut self, id: u64, last: &LastRead) {
        self.ids.insert(id);
        last.data.add_to(&mut self.sum);
    }
}

/// The folded cgroups' last reads, and whose turn it is.
pub struct FoldedReads {
    period: u64,
    sample: u64,
    last: HashMap<u64, LastRead>,
    between: BetweenTurns,
}

impl FoldedReads {
    /// Each folded cgroup read at least every [`FOLDED_REFRESH`] when
    /// sampling every `interval` (every sample from an interval that long).
    pub fn new(interval: Duration) -> Self {
        let period = FOLDED_REFRESH.as_secs_f64() / interval.as_secs_f64().max(1e-3);
        Self {
            period: (period.floor() as u64).max(1),
            sample: 0,
            last: HashMap::new(),
            between: BetweenTurns::default(),
        }
    }

    /// A sample begins: the next cgroups' turn.
    pub fn begin_sample(&mut self) {
        self.sample = self.sample.wrapping_add(1);
    }

    /// Unless it is its turn to be read again (or it was never read as
    /// folded), counts folded cgroup `id` with what it held when last read,
    /// and says what it was then.
    pub fn count_between_turns(&mut self, id: u64) -> Option<Status> {
        if id % self.period == self.sample % self.period {
            return None;
        }
        let last = self.last.get(&id)?;
        self.between.add(id, last);
        Some(last.labels.clone().into())
    }

    /// The cgroups this sample counted between their turns, and their sum.
    pub fn take_between(&mut self) -> BetweenTurns {
        std::mem::take(&mut self.between)
    }

    /// Keeps what folded cgroup `id` holds now, until its next turn.
    pub fn keep(&mut self, id: u64, labels: Option<Arc<Labels>>, data: &CgroupData) {
        self.last.insert(
            id,
            LastRead {
                labels,
                data: data.keep(),
            },
        );
    }

    /// Forgets the cgroups that are no longer folded (removed or given
    /// series of their own).
    pub fn retain(&mut self, folded: impl Fn(u64) -> bool) {
        self.last.retain(|&id, _| folded(id));
        if self.last.capacity() > 2 * self.last.len().max(64) {
            self.last.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use probe_common::{histogram::Histogram, syscall::CgroupSyscalls};

    use super::*;
    use crate::collect::zeroed;

    #[test]
    fn cgroups_between_turns_count_with_what_they_last_held() {
        let mut syscalls: CgroupSyscalls = zeroed();
        syscalls.latency[3].buckets[100] = 7;
        syscalls.latency[3].sum_ns = 12_345;
        syscalls.errors[6] = u64::MAX;
        let mut runq = Histogram::ZERO;
        runq.buckets[0] = 1;
        let data = CgroupData {
            runq: Some(Box::new(runq)),
            waited_behind_ns: Some([1, 2, 3, 4]),
            syscalls: Some(Box::new(syscalls)),
            ..CgroupData::default()
        };
        let last = LastRead {
            labels: None,
            data: data.keep(),
        };
        let mut between = BetweenTurns::default();
        between.add(1, &last);
        assert_eq!(format!("{:?}", between.sum), format!("{data:?}"));
        between.add(2, &last);
        let sum = between.sum.syscalls.unwrap();
        assert_eq!(sum.latency[3].buckets[100], 14);
        assert_eq!(sum.errors[6], u64::MAX.wrapping_mul(2));
        assert_eq!(between.sum.waited_behind_ns, Some([2, 4, 6, 8]));
    }

    #[test]
    fn each_cgroup_is_read_once_a_period() {
        let mut reads = FoldedReads::new(Duration::from_secs(2));
        assert_eq!(reads.period, 5);
        for id in 0..10 {
            reads.keep(id, None, &CgroupData::default());
        }
        let mut read = [0; 10];
        for _ in 0..20 {
            reads.begin_sample();
            for (id, count) in read.iter_mut().enumerate() {
                if reads.count_between_turns(id as u64).is_none() {
                    *count += 1;
                }
            }
        }
        assert_eq!(read, [4; 10]);
        // Past the refresh time, every sample reads every folded cgroup.
        assert_eq!(FoldedReads::new(Duration::from_secs(30)).period, 1);
    }
}
