//! A real Prometheus scrapes the probe and answers PromQL about a loaded cgroup.

use std::{thread, time::Duration};

use integration_tests::{
    agent::Agent, cgroup::TestCgroup, http::promtool_check, prometheus::Prometheus,
    workload::Workload,
};

/// Two Prometheus servers scrape the same agent, one with native
/// histograms on (protobuf), one without (text, classic buckets).
#[test]
fn prometheus_scrapes_and_answers_the_runqueue_quantile() {
    let agent = Agent::start(&["--signals", "runq"]);
    let prometheus = Prometheus::start(agent.addr(), false);
    let native = Prometheus::start(agent.addr(), true);
    let starved = TestCgroup::create("pp-prom-starved");
    let cpu = thread::available_parallelism().map_or(1, |n| n.get()) - 1;
    Workload::spin(starved.dir(), cpu, 3, 8000).wait();
    // Let one more scrape see the final counts.
    thread::sleep(Duration::from_secs(2));
    let promql = format!(
        "histogram_quantile(0.95, rate(pressure_runqueue_latency_seconds_bucket{{cgroup=\"{}\"}}[30s]))",
        starved.label()
    );
    let p95 = prometheus
        .query(&promql)
        .unwrap_or_else(|| panic!("no answer to {promql}"));
    eprintln!("{promql} = {p95}");
    // Three CPU-bound threads share one CPU: each waits for the other two's
    // time slices, milliseconds, never microseconds nor seconds.
    assert!(
        (0.001..0.1).contains(&p95),
        "p95 run-queue latency {p95} s does not fit 3 threads on 1 CPU"
    );
    let up = prometheus.query("up{job=\"pressure-probe\"}");
    assert_eq!(up, Some(1.0), "Prometheus does not see the probe up");

    // The native series: no _bucket, a native histogram per sample.
    let promql = format!(
        "histogram_quantile(0.95, rate(pressure_runqueue_latency_seconds{{cgroup=\"{}\"}}[30s]))",
        starved.label()
    );
    let native_p95 = native
        .query(&promql)
        .unwrap_or_else(|| panic!("no answer to {promql} from the native Prometheus"));
    eprintln!("{promql} = {native_p95} (native)");
    // Both estimate one quantile; the native one from buckets 1.19 times
    // wide, the classic one from buckets 2 times wide that are unions of
    // native ones: they agree within a classic bucket.
    let ratio = native_p95 / p95;
    assert!(
        (0.5..=2.0).contains(&ratio),
        "native p95 {native_p95} s and classic p95 {p95} s are more than a bucket apart"
    );
    assert!(
        native
            .query("count(pressure_runqueue_latency_seconds_bucket)")
            .is_none(),
        "the native Prometheus stored classic buckets: the scrape was not protobuf"
    );
}

#[test]
fn promtool_finds_nothing_to_say_about_the_exposition() {
    let agent = Agent::start(&[]);
    let (_, body) = agent.get("/metrics");
    let report = promtool_check(&body);
    assert!(report.is_empty(), "promtool check metrics:\n{report}");
}
