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

use serde_json::Value;

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
    pub fn query(&self, promql: &str) -> Option<f64> {
        self.query_with(promql, "")
    }

    /// An instant query at `unix_seconds`; the value of its single result.
    pub fn query_at(&self, promql: &str, unix_seconds: f64) -> Option<f64> {
        self.query_with(promql, &format!("&time={unix_seconds:.3}"))
    }

    fn query_with(&self, promql: &str, extra: &str) -> Option<f64> {
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
