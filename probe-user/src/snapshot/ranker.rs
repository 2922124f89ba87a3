//! Bounds the entries each container exports of a keyed kernel map (the
//! dependency signal's remote endpoints, the request signal's ports): at
//! most N per container get series of their own, the busiest over the
//! last minutes (an activity score that halves every five minutes of
//! samples; a place changes hands only to an entry 1.5 times busier); the
//! rest are counted in one `other` series, which grows by their events at
//! each sample and by nothing else (an entry moving in or out brings no
//! past along, and leaves none behind). An entry's kernel key is dropped
//! when it has had nothing open and no event for ten minutes.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    hash::Hash,
    time::{Duration, Instant},
};

/// What the ranker needs of a kernel entry's statistics.
pub trait Counts: Clone {
    /// The entry's kernel key.
    type Key: Copy + Eq + Hash + Ord;
    /// No events.
    const ZERO: Self;
    /// The cgroup a key belongs to.
    fn cgroup(key: &Self::Key) -> u64;
    /// Every event it counts.
    fn events(&self) -> u64;
    /// `op` of each counter of `self` and `other` into `self` (gauges are
    /// left alone).
    fn combine_counters(&mut self, other: &Self, op: fn(u64, u64) -> u64);
    /// Adds `other`'s gauges into `self`'s.
    fn add_gauges(&mut self, other: &Self);
    /// Whether something is open on it now (a connection): kept however
    /// idle.
    fn open(&self) -> bool;

    /// Adds `other` into `self`, counters and gauges.
    fn add(&mut self, other: &Self) {
        self.combine_counters(other, u64::wrapping_add);
        self.add_gauges(other);
    }
}

/// One exported series of a container: an entry's own, or `other`.
#[derive(Debug, Clone)]
pub struct Series<S: Counts> {
    /// Its key; `None` for `other`.
    pub key: Option<S::Key>,
    /// Its statistics (summed, for `other`).
    pub stats: Box<S>,
}

/// Each container's series, by cgroup id, and the keys to drop from the
/// kernel.
pub type Ranked<S> = (BTreeMap<u64, Vec<Series<S>>>, Vec<<S as Counts>::Key>);

/// Samples over which an entry's activity score halves (five minutes at
/// the default interval).
const HALF_LIFE_SAMPLES: f64 = 300.0;
/// How long an entry with nothing open and no event is kept.
pub const IDLE: Duration = Duration::from_secs(600);

/// How much busier than the quietest entry with a series of its own
/// another must be to take its place: entries of about equal traffic (the
/// pods behind one Service) keep their places.
const HYSTERESIS: f64 = 1.5;

/// What the ranker remembers of an entry.
struct Seen {
    /// Events counted at the last sample.
    events: u64,
    /// Decayed events per sample.
    score: f64,
    /// When its events last changed.
    changed: Instant,
}

/// An entry at this sample, to rank.
struct Candidate<S: Counts> {
    score: f64,
    key: S::Key,
    stats: S,
    /// First seen at this sample: every event it counts is new.
    new: bool,
}

/// An entry with a series of its own.
struct Own<S> {
    /// Its statistics when it was promoted: its series counts from there
    /// (what came before is in `other`), so that a promotion adds no past
    /// to any series.
    baseline: Box<S>,
    /// Its statistics at the last sample: when it is demoted, `other`
    /// takes its events from there.
    last: Box<S>,
}

/// A container's entries as exported: which have series of their own, and
/// what its `other` carries. The events of an interval are counted once:
/// by the entry's own series if it has one at both ends, else by `other`.
struct Exported<S: Counts> {
    /// The entries with series of their own.
    own: HashMap<S::Key, Own<S>>,
    /// What `other` adds to the sum of its entries' statistics, so that it
    /// grows by their events and nothing else: the statistics of the
    /// entries promoted out of it or dropped from it, less those demoted
    /// into it (counters modulo 2^64; gauges unused). `None` until the
    /// container first has an `other`.
    offset: Option<Box<S>>,
}

impl<S: Counts> Default for Exported<S> {
    fn default() -> Self {
        Self {
            own: HashMap::new(),
            offset: None,
        }
    }
}

/// Ranks each container's entries and bounds how many are exported.
pub struct Ranker<S: Counts> {
    max: usize,
    seen: HashMap<S::Key, Seen>,
    containers: HashMap<u64, Exported<S>>,
}

impl<S: Counts> Exported<S> {
    /// The offset, made when first needed.
    fn offset(&mut self) -> &mut S {
        self.offset.get_or_insert_with(|| Box::new(S::ZERO))
    }

    /// `entry` leaves `other` for a series of its own, which counts its
    /// events from the next sample on (a new entry's, all of them).
    fn promote(&mut self, entry: &Candidate<S>) {
        let baseline = if entry.new {
            S::ZERO
        } else {
            self.offset()
                .combine_counters(&entry.stats, u64::wrapping_add);
            entry.stats.clone()
        };
        self.own.insert(
            entry.key,
            Own {
                baseline: Box::new(baseline.clone()),
                last: Box::new(baseline),
            },
        );
    }

    /// `entry` loses its series; its events since the last sample, and
    /// from now on, are `other`'s.
    fn demote(&mut self, entry: &Candidate<S>) {
        if let Some(own) = self.own.remove(&entry.key) {
            self.offset().combine_counters(&own.last, u64::wrapping_sub);
        }
    }

    /// An entry in `other` is dropped: `other` keeps its events.
    fn drop_from_other(&mut self, stats: &S) {
        self.offset().combine_counters(stats, u64::wrapping_add);
    }

    /// Chooses which of `entries` (this container's at this sample) have
    /// series of their own: the busiest `max`, a place changing hands only
    /// when an entry is [`HYSTERESIS`] times busier than the quietest
    /// holder; returns their series, busiest first, and `other`.
    fn choose(&mut self, mut entries: Vec<Candidate<S>>, max: usize) -> Vec<Series<S>> {
        entries.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
        let present: HashSet<S::Key> = entries.iter().map(|r| r.key).collect();
        self.own.retain(|key, _| present.contains(key));
        for entry in &entries {
            if self.own.len() < max && !self.own.contains_key(&entry.key) {
                self.promote(entry);
            }
        }
        for _ in 0..entries.len() {
            let quietest = entries.iter().rev().find(|r| self.own.contains_key(&r.key));
            let busiest = entries.iter().find(|r| !self.own.contains_key(&r.key));
            match (quietest, busiest) {
                (Some(quietest), Some(busiest)) if busiest.score > HYSTERESIS * quietest.score => {
                    self.demote(quietest);
                    self.promote(busiest);
                }
                _ => break,
            }
        }
        let mut series = Vec::with_capacity(self.own.len() + 1);
        let (mut other, mut in_other) = (S::ZERO, false);
        for entry in entries {
            if let Some(own) = self.own.get_mut(&entry.key) {
                *own.last = entry.stats.clone();
                let mut stats = Box::new(entry.stats);
                stats.combine_counters(&own.baseline, u64::wrapping_sub);
                series.push(Series {
                    key: Some(entry.key),
                    stats,
                });
            } else {
                other.add(&entry.stats);
                in_other = true;
            }
        }
        // Once a container has had an `other`, it keeps it (empty or not).
        if in_other || self.offset.is_some() {
            other.combine_counters(self.offset(), u64::wrapping_add);
            series.push(Series {
                key: None,
                stats: Box::new(other),
            });
        }
        series
    }
}

impl<S: Counts> Ranker<S> {
    /// At most `max` entries per container with series of their own.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            seen: HashMap::new(),
            containers: HashMap::new(),
        }
    }

    /// Groups `entries` (those of live cgroups) per cgroup id, each
    /// container's busiest first and the rest in `other` (which grows by
    /// its entries' events at each sample, whatever moves in or out of
    /// it); returns them and the keys to drop from the kernel (idle too
    /// long).
    pub fn rank(&mut self, entries: Vec<(S::Key, S)>, now: Instant) -> Ranked<S> {
        let decay = 0.5f64.powf(1.0 / HALF_LIFE_SAMPLES);
        let mut idle = Vec::new();
        let mut per_cgroup: BTreeMap<u64, Vec<Candidate<S>>> = BTreeMap::new();
        let mut present = HashSet::with_capacity(entries.len());
        for (key, stats) in entries {
            let count = stats.events();
            let new = !self.seen.contains_key(&key);
            let seen = self.seen.entry(key).or_insert(Seen {
                events: 0,
                score: 0.0,
                changed: now,
            });
            let added = count.saturating_sub(seen.events);
            seen.score = seen.score * decay + added as f64;
            if count != seen.events {
                seen.changed = now;
            }
            seen.events = count;
            let cgroup = S::cgroup(&key);
            if !stats.open() && now.duration_since(seen.changed) >= IDLE {
                if let Some(exported) = self.containers.get_mut(&cgroup)
                    && exported.own.remove(&key).is_none()
                {
                    exported.drop_from_other(&stats);
                }
                idle.push(key);
                continue;
            }
            present.insert(key);
            per_cgroup.entry(cgroup).or_default().push(Candidate {
                score: seen.score,
                key,
                stats,
                new,
            });
        }
        self.seen.retain(|key, _| present.contains(key));
        self.containers
            .retain(|cgroup, _| per_cgroup.contains_key(cgroup));
        let ranked = per_cgroup
            .into_iter()
            .map(|(cgroup, entries)| {
                let exported = self.containers.entry(cgroup).or_default();
                (cgroup, exported.choose(entries, self.max))
            })
            .collect();
        (ranked, idle)
    }
}

/// Merges `from` into `into`'s `other` (`cgroup="other"`: the entries of
/// folded cgroups, all summed into one `other` series).
pub fn merge_all_into_other<S: Counts>(into: &mut Vec<Series<S>>, from: Vec<Series<S>>) {
    for series in from {
        match into.iter_mut().find(|s| s.key.is_none()) {
            Some(other) => other.stats.add(&series.stats),
            None => into.push(Series {
                key: None,
                stats: series.stats,
            }),
        }
    }
}
