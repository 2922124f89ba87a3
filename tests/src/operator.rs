//! The scrape configuration the Prometheus Operator makes from a
//! `PodMonitor`, for a real Prometheus to scrape the agent the way it would
//! in a cluster: the operator's own relabelling (namespace, container, pod,
//! job, endpoint from the probe's pod), then the monitor's, with its
//! `honorLabels`. The pod's Kubernetes metadata are the target's
//! `__meta_kubernetes_*` labels, as service discovery would set them.

use std::{net::SocketAddr, path::Path, process::Command};

use serde_json::{Map, Value, json};

/// The probe's pod as discovery would see it.
pub struct ProbePod<'a> {
    /// Its namespace.
    pub namespace: &'a str,
    /// Its name.
    pub name: &'a str,
    /// The node it runs on.
    pub node: &'a str,
}

/// Reads a YAML file as JSON (through python3's yaml, which the test
/// tools' virtual environment has).
pub fn yaml_file(path: &Path) -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(path)
        .output()
        .expect("cannot run python3");
    assert!(
        out.status.success(),
        "cannot read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python3 printed no JSON")
}

/// One relabelling of a monitor (camelCase) as Prometheus takes it.
fn relabel(rule: &Value) -> Value {
    let mut out = Map::new();
    for (key, value) in rule.as_object().expect("a relabelling is a map") {
        let key = match key.as_str() {
            "sourceLabels" => "source_labels",
            "targetLabel" => "target_label",
            other => other,
        };
        out.insert(key.to_string(), value.clone());
    }
    Value::Object(out)
}

/// The scrape configurations of `monitor`'s endpoints, scraping `target`
/// as `pod`'s container port named by each endpoint.
pub fn podmonitor_scrape_configs(
    monitor: &Value,
    target: SocketAddr,
    pod: &ProbePod,
) -> Vec<Value> {
    assert_eq!(monitor["kind"], "PodMonitor");
    let namespace = monitor["metadata"]["namespace"]
        .as_str()
        .expect("no namespace");
    let name = monitor["metadata"]["name"].as_str().expect("no name");
    let selector = monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("the operator's selector: matchLabels");
    let endpoints = monitor["spec"]["podMetricsEndpoints"]
        .as_array()
        .expect("no podMetricsEndpoints");
    endpoints
        .iter()
        .enumerate()
        .map(|(i, endpoint)| {
            let port = endpoint["port"].as_str().expect("an endpoint names its port");
            let mut labels = Map::new();
            let mut meta = |k: &str, v: &str| labels.insert(format!("__meta_kubernetes_{k}"), json!(v));
            meta("namespace", pod.namespace);
            meta("pod_name", pod.name);
            meta("pod_node_name", pod.node);
            meta("pod_container_name", "probe");
            meta("pod_container_port_name", port);
            for (key, value) in selector {
                let key: String = key
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                meta(&format!("pod_label_{key}"), value.as_str().unwrap());
                meta(&format!("pod_labelpresent_{key}"), "true");
            }
            let mut relabelings = vec![json!({"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"})];
            for (key, value) in selector {
                let key: String = key
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                relabelings.push(json!({
                    "action": "keep",
                    "source_labels": [format!("__meta_kubernetes_pod_label_{key}"), format!("__meta_kubernetes_pod_labelpresent_{key}")],
                    "regex": format!("({});true", value.as_str().unwrap()),
                }));
            }
            relabelings.extend([
                json!({"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": port}),
                json!({"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"}),
                json!({"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"}),
                json!({"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"}),
                json!({"target_label": "job", "replacement": format!("{namespace}/{name}")}),
                json!({"target_label": "endpoint", "replacement": port}),
            ]);
            if let Some(rules) = endpoint["relabelings"].as_array() {
                relabelings.extend(rules.iter().map(relabel));
            }
            json!({
                "job_name": format!("podMonitor/{namespace}/{name}/{i}"),
                "honor_labels": endpoint["honorLabels"].as_bool().unwrap_or(false),
                "metrics_path": endpoint["path"].as_str().unwrap_or("/metrics"),
                "static_configs": [{"targets": [target.to_string()], "labels": labels}],
                "relabel_configs": relabelings,
            })
        })
        .collect()
}

/// The documents of a multi-document YAML text, as JSON.
pub fn yaml_documents(text: &str) -> Vec<Value> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(sys.stdin))))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cannot run python3");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 could not read the YAML");
    match serde_json::from_slice(&out.stdout).expect("python3 printed no JSON") {
        Value::Array(docs) => docs,
        other => panic!("not a list of documents: {other}"),
    }
}
