//! A real Prometheus scrapes the probe and answers PromQL about a loaded cgroup.

use std::{thread, time::Duration};

use std::{fs, path::PathBuf};

use integration_tests::{
    agent::Agent,
    autoscaling::{adapter_queries, keda_queries, shipped},
    cgroup::TestCgroup,
    http::promtool_check,
    kubelet::log_tree,
    operator::{ProbePod, podmonitor_scrape_configs, yaml_file},
    prometheus::Prometheus,
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

/// Scraped the way the Prometheus Operator would from the shipped
/// PodMonitor, a container's series keep its own namespace, pod and
/// container (not the probe pod's, not as `exported_*`), a host cgroup's
/// get none of them, and every series names its node.
#[test]
fn operator_scrape_keeps_container_labels_and_adds_the_node() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let monitor = yaml_file(&repo.join("deploy/kubernetes/monitoring/podmonitor.yaml"));
    // A kubelet's pod: its cgroup, and its log directory naming it.
    let logs = std::env::temp_dir().join(format!("pp-operator-logs-{}", std::process::id()));
    let uid = "0000000a-1111-2222-3333-444444444444";
    let id = "ab".repeat(32);
    log_tree(
        &logs,
        &[(
            "shop",
            "web-6d4cf56db6-x2k4q",
            uid.to_string(),
            &[("nginx", id.clone())],
        )],
    );
    let tree = TestCgroup::create("pp-operator");
    let pods = format!("{}/kubepods.slice", tree.label());
    let agent = Agent::start(&[
        "--signals",
        "runq",
        "--log-root",
        logs.to_str().unwrap(),
        "--kubepods-root",
        &pods,
    ]);
    let (container_dir, _) = tree.add(&format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{id}.scope",
        uid.replace('-', "_")
    ));
    let host = TestCgroup::create("pp-operator-host");
    let pod = ProbePod {
        namespace: "pressure-probe",
        name: "pressure-probe-abcde",
        node: "node-1",
    };
    let configs = podmonitor_scrape_configs(&monitor, agent.addr(), &pod);
    let prometheus = Prometheus::start_with(configs, false);
    Workload::sleeper(&container_dir, 0, 5, 3000).wait();
    Workload::sleeper(host.dir(), 0, 5, 300).wait();
    thread::sleep(Duration::from_secs(2));
    let container =
        prometheus.series(r#"pressure_runqueue_latency_seconds_count{pod="web-6d4cf56db6-x2k4q"}"#);
    eprintln!("the container's series: {container:?}");
    assert_eq!(container.len(), 1, "{container:?}");
    let labels = &container[0];
    for (name, value) in [
        ("namespace", "shop"),
        ("pod", "web-6d4cf56db6-x2k4q"),
        ("container", "nginx"),
        ("node", "node-1"),
        ("job", "pressure-probe/pressure-probe"),
    ] {
        assert_eq!(
            labels.get(name).and_then(|v| v.as_str()),
            Some(value),
            "{name}: {labels:?}"
        );
    }
    assert!(
        labels.keys().all(|k| !k.starts_with("exported_")),
        "{labels:?}"
    );
    let host_series = prometheus.series(&format!(
        r#"pressure_runqueue_latency_seconds_count{{cgroup="{}"}}"#,
        host.label()
    ));
    eprintln!("the host cgroup's series: {host_series:?}");
    assert_eq!(host_series.len(), 1, "{host_series:?}");
    for name in ["namespace", "pod", "container"] {
        assert!(!host_series[0].contains_key(name), "{host_series:?}");
    }
    assert_eq!(host_series[0]["node"], "node-1");
    assert_eq!(
        prometheus.query(r#"up{job="pressure-probe/pressure-probe",node="node-1"}"#),
        Some(1.0)
    );
    // The shipped autoscaling queries find the pod (shop/web-6d4cf56db6-x2k4q, a pod of the example's Deployment `web`, as in
    // their example) by the labels it arrives with. Only the CPU ones: the
    // pod has no listener here.
    let (scaled_object, adapter) = shipped(&repo);
    let cpu: Vec<(String, String)> = keda_queries(&scaled_object)
        .into_iter()
        .chain(adapter_queries(&adapter))
        .filter(|(name, _)| name.contains("cpu"))
        .collect();
    assert_eq!(cpu.len(), 2, "{cpu:?}");
    for (name, query) in cpu {
        let value = prometheus.query(&query);
        eprintln!("{name}: {query} = {value:?}");
        assert!(
            value.is_some_and(|v| v >= 0.0),
            "{name}: {query} = {value:?}"
        );
    }
    fs::remove_dir_all(&logs).unwrap();
}
