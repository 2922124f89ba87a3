//! A real Prometheus scrapes the probe and answers PromQL about a loaded cgroup.

use std::{
    fs,
    net::TcpListener,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use integration_tests::{
    agent::{Agent, http_get},
    cgroup::TestCgroup,
    http::promtool_check,
    workload::Workload,
};
use serde_json::Value;

struct Prometheus {
    child: Child,
    addr: std::net::SocketAddr,
    dir: std::path::PathBuf,
}

impl Prometheus {
    /// Prometheus on a free loopback port, scraping `target` every second,
    /// with its config and data in a temporary folder; with `native`, native
    /// histograms on (it then asks for the protobuf format, and keeps the
    /// native buckets of a histogram that has both).
    fn start(target: std::net::SocketAddr, native: bool) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "pp-prometheus-{}-{}",
            std::process::id(),
            if native { "native" } else { "classic" }
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: pressure-probe\n    static_configs:\n      - targets: ['{target}']\n"
        );
        fs::write(dir.join("prometheus.yml"), config).unwrap();
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut command = Command::new("prometheus");
        if native {
            command.arg("--enable-feature=native-histograms");
        }
        let child = command
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("cannot start prometheus (Debian package prometheus, installed by `cargo xtask test`)");
        let prometheus = Prometheus { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(addr).is_ok() && http_get(addr, "/-/ready").0 == 200 {
                return prometheus;
            }
            thread::sleep(Duration::from_millis(200));
        }
        panic!("prometheus did not become ready");
    }

    /// An instant query; the value of its single result.
    fn query(&self, promql: &str) -> Option<f64> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (status, body) = http_get(self.addr, &format!("/api/v1/query?query={encoded}"));
        assert_eq!(status, 200, "query {promql} failed: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        let result = answer["data"]["result"].as_array()?.first()?;
        result["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

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
