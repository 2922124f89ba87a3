//! A real Prometheus server, for tests and the load test: it scrapes the
//! agent and answers PromQL.

use std::{
    fs,
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::agent::http_get;

/// A Prometheus server, stopped (and its data removed) on drop.
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    /// Prometheus on a free loopback port, scraping `target` every second,
    /// with its config and data in a temporary folder; with `native`, native
    /// histograms on (it then asks for the protobuf format, and keeps the
    /// native buckets of a histogram that has both).
    pub fn start(target: SocketAddr, native: bool) -> Prometheus {
        let job = json!({"job_name": "pressure-probe", "static_configs": [{"targets": [target.to_string()]}]});
        Self::start_with(vec![job], native)
    }

    /// Prometheus scraping every second with `scrape_configs` (as
    /// Prometheus takes them, in JSON).
    pub fn start_with(scrape_configs: Vec<Value>, native: bool) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "pp-prometheus-{}-{}",
            std::process::id(),
            if native { "native" } else { "classic" }
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // JSON is YAML.
        let config = json!({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": scrape_configs,
        });
        fs::write(dir.join("prometheus.yml"), config.to_string()).unwrap();
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
        // Ready, and past its first scrape (discovery hands targets over
        // about 5 s after start).
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(addr).is_ok()
                && http_get(addr, "/-/ready").0 == 200
                && prometheus.query("count(up)").is_some()
            {
                return prometheus;
            }
            thread::sleep(Duration::from_millis(200));
        }
        panic!("prometheus did not become ready and scrape within 30 s");
    }

    /// An instant query; the value of its single result.
    pub fn query(&self, promql: &str) -> Option<f64> {
        self.query_with(promql, "")
    }

    /// An instant query at `unix_seconds`; the value of its single result.
    pub fn query_at(&self, promql: &str, unix_seconds: f64) -> Option<f64> {
        self.query_with(promql, &format!("&time={unix_seconds:.3}"))
    }

    /// An instant query; the labels of every series in its result.
    pub fn series(&self, promql: &str) -> Vec<serde_json::Map<String, Value>> {
        self.answer(promql, "")
            .as_array()
            .map(|results| {
                results
                    .iter()
                    .filter_map(|r| r["metric"].as_object().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn answer(&self, promql: &str, extra: &str) -> Value {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (status, body) = http_get(self.addr, &format!("/api/v1/query?query={encoded}{extra}"));
        assert_eq!(status, 200, "query {promql} failed: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        answer["data"]["result"].clone()
    }

    fn query_with(&self, promql: &str, extra: &str) -> Option<f64> {
        let answer = self.answer(promql, extra);
        let result = answer.as_array()?.first()?;
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
