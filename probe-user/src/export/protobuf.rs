//! The Prometheus protobuf format (length-delimited `MetricFamily`
//! messages): the only one that carries native histograms. Histograms go
//! out with both their classic and their native buckets, so a Prometheus
//! with native histograms on keeps the native ones, and any other the
//! classic ones.

use anyhow::{Context, Result};
use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model as pb;
use prost::Message;

use super::model::{Family, Kind, Value};
use probe_common::histogram::SCHEMA;

/// The media type a scraper asks for in `Accept`.
pub const MEDIA_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// The zero bucket's breadth, in seconds: only observations of 0 ns fall in
/// it (the smallest other is 1 ns). Not 0, so that a native histogram is
/// recognised as one even when all its observations are zeros (the
/// default of Prometheus' own Go client).
const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39; // 2^-128

/// Appends `family` to `out` as one length-delimited message.
pub fn write(family: &Family, out: &mut Vec<u8>) -> Result<()> {
    to_message(family)
        .encode_length_delimited(out)
        .context("encoding the protobuf exposition")
}

fn to_message(family: &Family) -> pb::MetricFamily {
    pb::MetricFamily {
        name: family.name.to_string(),
        help: family.help.to_string(),
        r#type: match family.kind {
            Kind::Counter => pb::MetricType::Counter,
            Kind::Gauge => pb::MetricType::Gauge,
            Kind::Histogram => pb::MetricType::Histogram,
        } as i32,
        metric: family
            .series
            .iter()
            .map(|series| {
                let mut metric = pb::Metric {
                    label: series
                        .labels
                        .iter()
                        .map(|(name, value)| pb::LabelPair {
                            name: (*name).to_string(),
                            value: value.clone(),
                        })
                        .collect(),
                    ..pb::Metric::default()
                };
                match (&series.value, family.kind) {
                    (Value::Number(v), Kind::Counter) => {
                        metric.counter = Some(pb::Counter {
                            value: *v,
                            ..pb::Counter::default()
                        });
                    }
                    (Value::Number(v), _) => {
                        metric.gauge = Some(pb::Gauge { value: *v });
                    }
                    (Value::Histogram(h), _) => {
                        let mut histogram = pb::Histogram {
                            sample_count: h.count,
                            sample_sum: h.sum,
                            bucket: h
                                .classic
                                .iter()
                                .map(|&(bound, count)| pb::Bucket {
                                    cumulative_count: count,
                                    upper_bound: bound,
                                    ..pb::Bucket::default()
                                })
                                .collect(),
                            ..pb::Histogram::default()
                        };
                        if let Some(native) = &h.native {
                            histogram.schema = SCHEMA;
                            histogram.zero_threshold = ZERO_THRESHOLD;
                            histogram.zero_count = native.zero_count;
                            histogram.positive_span = native
                                .spans
                                .iter()
                                .map(|&(offset, length)| pb::BucketSpan { offset, length })
                                .collect();
                            histogram.positive_delta = native.deltas.clone();
                        }
                        metric.histogram = Some(histogram);
                    }
                }
                metric
            })
            .collect(),
        ..pb::MetricFamily::default()
    }
}
