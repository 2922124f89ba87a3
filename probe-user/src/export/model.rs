//! The exposition's families, built from a sample one at a time as they
//! are written in one format or another: what each metric is, its help
//! text, its series and their values.

use super::{bottleneck, probe};
use crate::{identity::Labels, sampler::Sample, signals};

/// A family built when an encoder reaches it: an encoder holds one family
/// at a time, not the whole exposition's series.
pub type LazyFamily<'a> = Box<dyn Fn() -> Family + 'a>;

/// A metric family.
pub struct Family {
    /// Full name (with `_total` for counters, without `_bucket` for histograms).
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its series.
    pub series: Vec<Series>,
}

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Goes only up (but resets).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Counts of observations in buckets.
    Histogram,
}

/// One series: labels and a value.
pub struct Series {
    /// (name, value) of each label.
    pub labels: Vec<(&'static str, String)>,
    /// Its value.
    pub value: Value,
}

/// A series' value.
pub enum Value {
    /// A counter or gauge.
    Number(f64),
    /// A histogram.
    Histogram(HistogramValue),
}

/// A histogram's value.
pub struct HistogramValue {
    /// Observations.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Classic buckets: (upper bound, cumulative count), ascending, without `+Inf`.
    pub classic: Vec<(f64, u64)>,
    /// Native buckets, for histograms that have them.
    pub native: Option<NativeBuckets>,
}

/// A native histogram's buckets (schema [`probe_common::histogram::SCHEMA`],
/// zero threshold 0).
pub struct NativeBuckets {
    /// Observations of exactly zero.
    pub zero_count: u64,
    /// Spans of positive buckets: (offset from the end of the previous
    /// span, or the first index for the first span; length).
    pub spans: Vec<(i32, u32)>,
    /// Counts of the buckets in the spans, each as the difference from
    /// the previous bucket's count.
    pub deltas: Vec<i64>,
}

/// Every family of `sample`, empty ones left out, each built when the
/// iterator reaches it: an encoder holds one family at a time, not the
/// whole exposition's series.
pub fn families(sample: &Sample) -> impl Iterator<Item = Family> + '_ {
    signals::ALL
        .iter()
        .flat_map(|signal| (signal.families)(sample))
        .chain(bottleneck::families(sample))
        .chain(probe::families(sample))
        .map(|build| build())
        .filter(|family| !family.series.is_empty())
}

pub fn series(labels: Vec<(&'static str, String)>, value: Value) -> Series {
    Series { labels, value }
}

pub fn number(labels: Vec<(&'static str, String)>, value: f64) -> Series {
    series(labels, Value::Number(value))
}

pub fn with(
    mut labels: Vec<(&'static str, String)>,
    name: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    labels.push((name, value.to_string()));
    labels
}

pub fn histogram_family(name: &'static str, help: &'static str, series: Vec<Series>) -> Family {
    Family {
        name,
        help,
        kind: Kind::Histogram,
        series,
    }
}

pub fn single(name: &'static str, help: &'static str, kind: Kind, value: f64) -> Family {
    Family {
        name,
        help,
        kind,
        series: vec![number(Vec::new(), value)],
    }
}

/// The labels of a cgroup's series.
pub fn cgroup_labels(labels: &Labels) -> Vec<(&'static str, String)> {
    labels
        .pairs()
        .map(|(name, value)| (name, value.to_string()))
        .collect()
}
