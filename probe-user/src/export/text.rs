//! The Prometheus text format (0.0.4): classic buckets only.

use anyhow::{Context, Result};
use prometheus::{
    Encoder, TextEncoder,
    proto::{self, LabelPair, MetricType},
};

use super::model::{Family, Kind, Value};

/// Appends `family` to `out` in the text format.
pub fn write(family: &Family, out: &mut Vec<u8>) -> Result<()> {
    TextEncoder::new()
        .encode(&[to_proto(family)], out)
        .context("encoding the text exposition")
}

fn to_proto(family: &Family) -> proto::MetricFamily {
    let mut out = proto::MetricFamily::default();
    out.set_name(family.name.into());
    out.set_help(family.help.into());
    out.set_field_type(match family.kind {
        Kind::Counter => MetricType::COUNTER,
        Kind::Gauge => MetricType::GAUGE,
        Kind::Histogram => MetricType::HISTOGRAM,
    });
    out.set_metric(
        family
            .series
            .iter()
            .map(|series| {
                let mut metric = proto::Metric::from_label(
                    series
                        .labels
                        .iter()
                        .map(|(name, value)| {
                            let mut pair = LabelPair::default();
                            pair.set_name((*name).into());
                            pair.set_value(value.clone());
                            pair
                        })
                        .collect(),
                );
                match (&series.value, family.kind) {
                    (Value::Number(v), Kind::Counter) => {
                        let mut counter = proto::Counter::default();
                        counter.set_value(*v);
                        metric.set_counter(counter);
                    }
                    (Value::Number(v), _) => {
                        let mut gauge = proto::Gauge::default();
                        gauge.set_value(*v);
                        metric.set_gauge(gauge);
                    }
                    (Value::Histogram(h), _) => {
                        let mut histogram = proto::Histogram::default();
                        histogram.set_sample_count(h.count);
                        histogram.set_sample_sum(h.sum);
                        histogram.set_bucket(
                            h.classic
                                .iter()
                                .map(|&(bound, count)| {
                                    let mut bucket = proto::Bucket::default();
                                    bucket.set_upper_bound(bound);
                                    bucket.set_cumulative_count(count);
                                    bucket
                                })
                                .collect(),
                        );
                        metric.set_histogram(histogram);
                    }
                }
                metric
            })
            .collect(),
    );
    out
}
