//! Prometheus exposition of a [`Snapshot`].

use anyhow::{Context, Result};
use bytes::Bytes;
use probe_common::{
    histogram::{BUCKETS, Histogram, bucket_upper_ns},
    syscall::SyscallClass,
    tcp::{FILL_SCALE, FILL_STEPS},
};
use prometheus::{
    Encoder, TextEncoder,
    proto::{
        Bucket, Counter, Gauge, Histogram as PromHistogram, LabelPair, Metric, MetricFamily,
        MetricType,
    },
};

use crate::{
    identity::Labels,
    sampler::Sample,
    snapshot::{PortStats, Preemptor, Snapshot},
};

/// Exported run-queue bucket bounds, as powers of two nanoseconds: 2^10 ns
/// (1.024 µs) to 2^32 ns (4.29 s), doubling. Each is an edge of the kernel
/// histogram, so every exported bucket count is exact.
pub fn runq_bounds_pow2() -> impl Iterator<Item = u32> {
    10..=32
}

/// Exported syscall bucket bounds: 2^10 ns (1.024 µs) to 2^32 ns (4.29 s),
/// quadrupling (seven classes per container: fewer series per class).
pub fn syscall_bounds_pow2() -> impl Iterator<Item = u32> {
    (10..=32).step_by(2)
}

/// The Prometheus text exposition of `sample`.
pub fn text(sample: &Sample) -> Result<Bytes> {
    encode(&sample.snapshot, sample.took.as_secs_f64(), sample.sequence).map(Bytes::from)
}

/// `text` gzipped (for clients that accept it).
pub fn gzip(text: &[u8]) -> Result<Bytes> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 8),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(text)
        .context("compressing the exposition")?;
    Ok(Bytes::from(
        encoder.finish().context("compressing the exposition")?,
    ))
}

/// Encodes `snapshot` in the Prometheus text format.
fn encode(snapshot: &Snapshot, sample_seconds: f64, sequence: u64) -> Result<String> {
    let families = vec![
        runqueue_latency(snapshot),
        runqueue_preemptions(snapshot),
        syscall_latency(snapshot),
        syscall_errors(snapshot),
        port_gauge(
            snapshot,
            "pressure_tcp_accept_queue_depth",
            "Connections waiting in the accept queue of a listening TCP port, read from the \
             sockets at this scrape (IPv4, IPv6 and SO_REUSEPORT sockets of a port add up).",
            |p| p.depth,
        ),
        port_gauge(
            snapshot,
            "pressure_tcp_accept_queue_limit",
            "Accept queue limit (listen backlog) of a listening TCP port; the queue holds at \
             most one more connection than this.",
            |p| p.limit,
        ),
        listen_overflows(snapshot),
        accept_queue_fill(snapshot),
        events_lost(snapshot),
        gauge_family(
            "pressure_probe_cgroups_tracked",
            "Cgroups with series of their own in this scrape.",
            vec![gauge(
                vec![],
                snapshot.cgroups.iter().filter(|c| c.id != 0).count() as f64,
            )],
        ),
        gauge_family(
            "pressure_probe_cgroups_folded",
            "Cgroups summed into the series labelled cgroup=\"other\" because more than \
             --max-cgroups have data.",
            vec![gauge(vec![], snapshot.folded as f64)],
        ),
        gauge_family(
            "pressure_probe_cgroups_unresolved",
            "Live cgroups with data whose path could not be read (longer than PATH_MAX, or \
             no permission to open them), exported as cgroup=\"id:N\".",
            vec![gauge(vec![], snapshot.unresolved as f64)],
        ),
        gauge_family(
            "pressure_probe_cgroups_unreadable",
            "Cgroups left out of this scrape because their kernel state could not be read \
             (each is logged).",
            vec![gauge(vec![], snapshot.unreadable as f64)],
        ),
        gauge_family(
            "pressure_probe_sample_duration_seconds",
            "Time the sample behind this exposition spent reading kernel maps and resolving \
             cgroups (the agent samples every --interval; scrapes read the latest sample).",
            vec![gauge(vec![], sample_seconds)],
        ),
        family(
            "pressure_probe_samples_total",
            "Readings of the kernel the agent has taken (one every --interval); this \
             exposition is of the latest.",
            MetricType::COUNTER,
            vec![counter(vec![], sequence as f64)],
        ),
        gauge_family(
            "pressure_probe_build_info",
            "pressure-probe build information; the value is always 1.",
            vec![gauge(
                vec![label("version", env!("CARGO_PKG_VERSION"))],
                1.0,
            )],
        ),
    ];
    // The encoder refuses a family without samples (e.g. no syscall seen yet).
    let families: Vec<MetricFamily> = families
        .into_iter()
        .filter(|family| !family.get_metric().is_empty())
        .collect();
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut out)
        .context("encoding the exposition")?;
    String::from_utf8(out).context("the exposition is not UTF-8")
}

fn runqueue_latency(snapshot: &Snapshot) -> MetricFamily {
    let metrics = snapshot
        .cgroups
        .iter()
        .filter_map(|c| {
            let hist = c.runq.as_ref()?;
            let mut metric = Metric::from_label(cgroup_labels(&c.labels));
            metric.set_histogram(prometheus_histogram(hist, runq_bounds_pow2()));
            Some(metric)
        })
        .collect();
    family(
        "pressure_runqueue_latency_seconds",
        "Time a runnable thread of the cgroup waited for a CPU: from its wakeup, or from \
         being preempted while still runnable, until it ran.",
        MetricType::HISTOGRAM,
        metrics,
    )
}

/// Converts a kernel histogram into cumulative Prometheus buckets at the
/// powers of two `bounds_pow2` (nanoseconds).
pub fn prometheus_histogram(
    hist: &Histogram,
    bounds_pow2: impl Iterator<Item = u32>,
) -> PromHistogram {
    let mut buckets = Vec::new();
    let mut index = 0;
    let mut cumulative = 0u64;
    for pow in bounds_pow2 {
        let bound_ns = 1u64 << pow;
        while index < BUCKETS && bucket_upper_ns(index) <= bound_ns {
            cumulative += hist.buckets[index];
            index += 1;
        }
        let mut bucket = Bucket::default();
        bucket.set_upper_bound(bound_ns as f64 / 1e9);
        bucket.set_cumulative_count(cumulative);
        buckets.push(bucket);
    }
    let total: u64 = hist.buckets.iter().sum();
    let mut out = PromHistogram::default();
    out.set_sample_count(total);
    out.set_sample_sum(hist.sum_ns as f64 / 1e9);
    out.set_bucket(buckets);
    out
}

fn runqueue_preemptions(snapshot: &Snapshot) -> MetricFamily {
    let mut metrics = Vec::new();
    for c in &snapshot.cgroups {
        let Some(counts) = c.preemptions else {
            continue;
        };
        for (class, count) in Preemptor::ALL.iter().zip(counts) {
            let mut labels = cgroup_labels(&c.labels);
            labels.push(label("by", class.label()));
            metrics.push(counter(labels, count as f64));
        }
    }
    family(
        "pressure_runqueue_preemptions_total",
        "Times a running thread of the cgroup was switched out while still runnable, by \
         who ran instead: same_cgroup (a thread of the same cgroup), other_container \
         (a thread of another container), host (the root cgroup, kernel threads, \
         system.slice, user.slice, init.scope).",
        MetricType::COUNTER,
        metrics,
    )
}

/// Classes of a cgroup that saw at least one syscall, with their data.
fn syscall_classes(
    snapshot: &Snapshot,
) -> impl Iterator<Item = (&Labels, SyscallClass, &Histogram, u64)> {
    snapshot.cgroups.iter().flat_map(|c| {
        c.syscalls.iter().flat_map(move |s| {
            SyscallClass::ALL
                .iter()
                .zip(s.latency.iter().zip(s.errors))
                .filter(|(_, (hist, _))| hist.buckets.iter().any(|&n| n > 0))
                .map(move |(class, (hist, errors))| (c.labels.as_ref(), *class, hist, errors))
        })
    })
}

fn syscall_latency(snapshot: &Snapshot) -> MetricFamily {
    let metrics = syscall_classes(snapshot)
        .map(|(labels, class, hist, _)| {
            let mut pairs = cgroup_labels(labels);
            pairs.push(label("class", class.label()));
            let mut metric = Metric::from_label(pairs);
            metric.set_histogram(prometheus_histogram(hist, syscall_bounds_pow2()));
            metric
        })
        .collect();
    family(
        "pressure_syscall_latency_seconds",
        "Time a syscall made by a thread of the cgroup took, from entry to return, by class: \
         file_io, net_io, wait (waiting by design: epoll, poll, sleeps, futex, wait4, \
         accept), sync (fsync and friends), memory, process, other.",
        MetricType::HISTOGRAM,
        metrics,
    )
}

fn syscall_errors(snapshot: &Snapshot) -> MetricFamily {
    let metrics = syscall_classes(snapshot)
        .map(|(labels, class, _, errors)| {
            let mut pairs = cgroup_labels(labels);
            pairs.push(label("class", class.label()));
            counter(pairs, errors as f64)
        })
        .collect();
    family(
        "pressure_syscall_errors_total",
        "Syscalls made by a thread of the cgroup that returned an error (-4095 to -1), by class.",
        MetricType::COUNTER,
        metrics,
    )
}

/// The labels of a cgroup's series.
fn cgroup_labels(labels: &Labels) -> Vec<LabelPair> {
    labels
        .pairs()
        .map(|(name, value)| label(name, value))
        .collect()
}

fn port_labels(port: &PortStats) -> Vec<LabelPair> {
    let mut labels = cgroup_labels(&port.labels);
    labels.push(label("netns", &port.netns.to_string()));
    labels.push(label("port", &port.port.to_string()));
    labels
}

fn port_gauge(
    snapshot: &Snapshot,
    name: &str,
    help: &str,
    value: fn(&PortStats) -> u64,
) -> MetricFamily {
    let metrics = snapshot
        .ports
        .iter()
        .map(|p| gauge(port_labels(p), value(p) as f64))
        .collect();
    gauge_family(name, help, metrics)
}

fn listen_overflows(snapshot: &Snapshot) -> MetricFamily {
    let metrics = snapshot
        .ports
        .iter()
        .map(|p| counter(port_labels(p), p.overflows as f64))
        .collect();
    family(
        "pressure_tcp_listen_overflows_total",
        "Connections dropped because the accept queue of a listening TCP port was full, \
         since the agent first saw the port: the kernel's ListenOverflows of the network \
         namespace, attributed to the port whose sockets' drop count rose with it.",
        MetricType::COUNTER,
        metrics,
    )
}

/// Exported fill bounds, in twentieths (the kernel's fill buckets).
const FILL_BOUNDS_TWENTIETHS: [usize; 5] = [5, 10, 15, 18, 20];

fn accept_queue_fill(snapshot: &Snapshot) -> MetricFamily {
    let metrics = snapshot
        .cgroups
        .iter()
        .filter_map(|c| {
            let fill = c.tcp_fill.as_ref()?;
            let mut buckets = Vec::new();
            for bound in FILL_BOUNDS_TWENTIETHS {
                let mut bucket = Bucket::default();
                bucket.set_upper_bound(bound as f64 / f64::from(FILL_STEPS));
                bucket.set_cumulative_count(fill.buckets[..=bound].iter().sum());
                buckets.push(bucket);
            }
            let mut hist = PromHistogram::default();
            hist.set_sample_count(fill.buckets.iter().sum());
            hist.set_sample_sum(fill.sum_micro as f64 / FILL_SCALE as f64);
            hist.set_bucket(buckets);
            let mut metric = Metric::from_label(cgroup_labels(&c.labels));
            metric.set_histogram(hist);
            Some(metric)
        })
        .collect();
    family(
        "pressure_tcp_accept_queue_fill_ratio",
        "Accept queue depth / limit of the cgroup's listening TCP sockets, observed each \
         time a connection is queued (above 1: the queue holds one more than its limit).",
        MetricType::HISTOGRAM,
        metrics,
    )
}

fn events_lost(snapshot: &Snapshot) -> MetricFamily {
    let metrics = snapshot
        .lost
        .iter()
        .map(|(signal, reason, count)| {
            counter(
                vec![label("signal", signal), label("reason", reason)],
                *count as f64,
            )
        })
        .collect();
    family(
        "pressure_probe_events_lost_total",
        "Kernel events the probe could not record (a full map, a wakeup slot taken) or \
         discarded (negative or absurd duration), by signal and reason.",
        MetricType::COUNTER,
        metrics,
    )
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.into());
    family.set_help(help.into());
    family.set_field_type(kind);
    family.set_metric(metrics);
    family
}

fn gauge_family(name: &str, help: &str, metrics: Vec<Metric>) -> MetricFamily {
    family(name, help, MetricType::GAUGE, metrics)
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.into());
    pair.set_value(value.into());
    pair
}

fn gauge(labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut g = Gauge::default();
    g.set_value(value);
    let mut metric = Metric::from_gauge(g);
    metric.set_label(labels);
    metric
}

fn counter(labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut c = Counter::default();
    c.set_value(value);
    let mut metric = Metric::from_label(labels);
    metric.set_counter(c);
    metric
}

#[cfg(test)]
mod tests {
    use probe_common::histogram::bucket_index;

    use super::*;

    fn histogram_of(values: &[u64]) -> Histogram {
        let mut hist = Histogram::ZERO;
        for &v in values {
            hist.buckets[bucket_index(v)] += 1;
            hist.sum_ns += v;
        }
        hist
    }

    #[test]
    fn export_bounds_are_kernel_bucket_edges() {
        for pow in runq_bounds_pow2().chain(syscall_bounds_pow2()) {
            let bound = 1u64 << pow;
            assert_eq!(bucket_upper_ns(bucket_index(bound - 1)), bound, "2^{pow}");
        }
    }

    #[test]
    fn cumulative_counts_at_edges() {
        // 1023 ns is below the first bound, 1024 ns is exactly on it (le is inclusive
        // in Prometheus, but kernel buckets are [lo, hi): 1024 falls above 1.024 µs).
        let hist = histogram_of(&[1023, 1024, 2047, 2048, 1 << 33]);
        let prom = prometheus_histogram(&hist, runq_bounds_pow2());
        let buckets = prom.get_bucket();
        assert_eq!(buckets[0].cumulative_count(), 1);
        assert_eq!(buckets[1].cumulative_count(), 3);
        assert_eq!(buckets[2].cumulative_count(), 4);
        assert_eq!(buckets.last().unwrap().cumulative_count(), 4);
        assert_eq!(prom.get_sample_count(), 5);
        let sum = (1023 + 1024 + 2047 + 2048 + (1u64 << 33)) as f64 / 1e9;
        assert!((prom.get_sample_sum() - sum).abs() < 1e-12);
    }
}
