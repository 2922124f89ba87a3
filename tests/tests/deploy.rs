//! The deployment artifacts, checked with the tools their users run:
//! promtool for the rules and the dashboard's queries, kubernetes-validate and
//! checkov for the manifests and the Dockerfile, systemd-analyze for the unit.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use integration_tests::{
    autoscaling::{adapter_queries, keda_queries, shipped},
    operator::{yaml_documents, yaml_file},
};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs a tool in the repository; panics with its output unless it
/// succeeds. Returns stdout.
fn run(program: &str, args: &[&str]) -> String {
    integration_tests::run_ok(Command::new(program).args(args).current_dir(repo()))
}

/// The committed rules are what `pressure-probe rules` prints with the
/// defaults: the rule and its thresholds live in the agent, once. The
/// PrometheusRule holds the same groups.
#[test]
fn committed_rules_are_generated_from_the_verdict() {
    for (args, path) in [
        (&["rules"][..], "deploy/prometheus/rules.yml"),
        (
            &["rules", "--format", "prometheus-rule"][..],
            "deploy/kubernetes/monitoring/prometheusrule.yaml",
        ),
    ] {
        let generated =
            integration_tests::run_ok(Command::new(integration_tests::agent::binary()).args(args));
        let committed = fs::read_to_string(repo().join(path)).unwrap();
        assert!(
            generated == committed,
            "{path} is not what `pressure-probe {}` prints: regenerate it",
            args.join(" ")
        );
    }
    let plain = yaml_file(&repo().join("deploy/prometheus/rules.yml"));
    let operator = yaml_file(&repo().join("deploy/kubernetes/monitoring/prometheusrule.yaml"));
    assert_eq!(operator["kind"], "PrometheusRule");
    assert_eq!(operator["spec"]["groups"], plain["groups"]);
}

#[test]
fn rules_check_and_unit_tests_pass() {
    run(
        "promtool",
        &["check", "rules", "deploy/prometheus/rules.yml"],
    );
    run(
        "promtool",
        &["test", "rules", "deploy/prometheus/rules.test.yml"],
    );
}

const GRAFANA_BUILTINS: [&str; 4] = ["__rate_interval", "__interval", "__range", "__all"];

/// `$name` and `${name}` references in `text`.
fn variables(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let name: String = rest
            .trim_start_matches('{')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

fn panels(dashboard: &Value) -> Vec<&Value> {
    dashboard["panels"]
        .as_array()
        .expect("the dashboard has panels")
        .iter()
        .flat_map(|p| std::iter::once(p).chain(p["panels"].as_array().into_iter().flatten()))
        .filter(|p| p["type"] != "row")
        .collect()
}

#[test]
fn dashboard_queries_parse_and_variables_resolve() {
    let text = fs::read_to_string(repo().join("deploy/grafana/pressure-probe.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let defined: BTreeSet<String> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    assert!(defined.contains("datasource"), "no datasource variable");
    let mut exprs = Vec::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or("?");
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "panel {title} does not use the datasource variable"
        );
        let targets = panel["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("panel {title} has no queries"));
        for target in targets {
            exprs.push((
                title.to_string(),
                target["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            let metric = query
                .strip_prefix("label_values(")
                .unwrap_or_else(|| panic!("variable query {query} is not label_values()"));
            assert!(
                metric.starts_with("pressure_"),
                "variable query {query} reads no pressure-probe metric"
            );
            exprs.push((format!("variable {}", variable["name"]), query.to_string()));
        }
    }
    // Every panel answers for the chosen node(s).
    for (title, expr) in exprs.iter().filter(|(t, _)| !t.starts_with("variable")) {
        assert!(
            expr.contains("node=~\"$node\""),
            "{title}: not per node: {expr}"
        );
    }
    for (title, expr) in &exprs {
        for name in variables(expr) {
            assert!(
                defined.contains(&name) || GRAFANA_BUILTINS.contains(&name.as_str()),
                "{title}: ${name} is not defined"
            );
        }
    }
    // Every panel query, with its variables filled in, must parse as PromQL.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in exprs
        .iter()
        .enumerate()
        .filter(|(_, (t, _))| !t.starts_with("variable"))
    {
        let filled = expr
            .replace("$__rate_interval", "5m")
            .replace("${datasource}", "x")
            .replace("$node", ".*")
            .replace("$namespace", ".*")
            .replace("$pod", ".*")
            .replace("$container", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:panel_{i}\n        expr: {}\n",
            serde_json::to_string(&filled).unwrap()
        ));
    }
    let file = std::env::temp_dir().join(format!("pp-dashboard-rules-{}.yml", std::process::id()));
    fs::write(&file, rules).unwrap();
    run("promtool", &["check", "rules", file.to_str().unwrap()]);
    fs::remove_file(file).unwrap();
}

/// `kubectl apply -k deploy/kubernetes` installs what validates against
/// Kubernetes' schema, in an order that applies (the namespace first), with
/// no dangling reference and nothing that needs a CRD; the monitoring
/// kustomization adds the operator's objects to the same namespace.
#[test]
fn kustomize_renders_an_install_that_applies_in_order() {
    let base = run("kubectl", &["kustomize", "deploy/kubernetes"]);
    let docs = yaml_documents(&base);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    eprintln!("deploy/kubernetes renders {kinds:?}");
    assert_eq!(kinds[0], "Namespace", "{kinds:?}");
    let namespace = docs[0]["metadata"]["name"].as_str().unwrap();
    for doc in &docs[1..] {
        assert_eq!(doc["metadata"]["namespace"], namespace, "{doc}");
        let api = doc["apiVersion"].as_str().unwrap();
        assert!(!api.contains("monitoring.coreos.com"), "{api} needs a CRD");
    }
    let find = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    let daemonset = find("DaemonSet");
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(
        find("ServiceAccount")["metadata"]["name"],
        pod["serviceAccountName"]
    );
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(
        pod["containers"][0]["image"],
        "ghcr.io/pressure-probe/pressure-probe:0.1.0"
    );
    // The critical priority class is admitted outside kube-system where a
    // quota scopes it.
    let scope = &find("ResourceQuota")["spec"]["scopeSelector"]["matchExpressions"][0];
    assert_eq!(scope["scopeName"], "PriorityClass");
    assert!(
        scope["values"]
            .as_array()
            .unwrap()
            .contains(&pod["priorityClassName"])
    );
    let pod_labels = daemonset["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    let selects = |selector: &Value| {
        selector
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| pod_labels.get(k) == Some(v))
    };
    assert!(selects(&find("Service")["spec"]["selector"]));
    let policy = &find("NetworkPolicy")["spec"];
    assert!(selects(&policy["podSelector"]["matchLabels"]));
    // Scrapes come from the monitoring namespace only.
    assert!(
        policy["ingress"]
            .as_array()
            .unwrap()
            .iter()
            .all(|rule| rule["from"][0]["namespaceSelector"]["matchLabels"].is_object()),
        "{policy}"
    );
    let rendered = std::env::temp_dir().join(format!("pp-kustomize-{}.yaml", std::process::id()));
    fs::write(&rendered, &base).unwrap();
    run(
        "kubernetes-validate",
        &["--strict", rendered.to_str().unwrap()],
    );
    fs::remove_file(&rendered).unwrap();

    let monitoring = yaml_documents(&run(
        "kubectl",
        &["kustomize", "deploy/kubernetes/monitoring"],
    ));
    let kinds: Vec<&str> = monitoring
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["PodMonitor", "PrometheusRule"]);
    for doc in &monitoring {
        assert_eq!(doc["metadata"]["namespace"], namespace, "{doc}");
    }
    assert!(selects(&monitoring[0]["spec"]["selector"]["matchLabels"]));

    // The overlay with every value: each lands where it belongs.
    let overlay = yaml_documents(&run("kubectl", &["kustomize", "deploy/kubernetes-overlay"]));
    assert_eq!(overlay[0]["kind"], "Namespace");
    let find = |kind: &str| {
        overlay
            .iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("the overlay renders no {kind}"))
    };
    let container = &find("DaemonSet")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        "registry.example.com/pressure-probe:0.1.0"
    );
    assert_eq!(container["resources"]["limits"]["memory"], "384Mi");
    for kind in ["PodMonitor", "PrometheusRule"] {
        assert_eq!(
            find(kind)["metadata"]["labels"]["release"],
            "kube-prometheus-stack",
            "{kind}"
        );
    }
    assert_eq!(
        find("PodMonitor")["spec"]["podMetricsEndpoints"][0]["interval"],
        "30s"
    );
    assert_eq!(
        find("NetworkPolicy")["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]
            ["kubernetes.io/metadata.name"],
        "prometheus"
    );
}

/// The errors of `doc` against the JSON schema `schema` (python's
/// jsonschema; a schema without `$schema`, such as a CRD's OpenAPI schema,
/// is read as draft 7).
fn schema_errors(schema: &Value, doc: &Value) -> Vec<String> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             s = json.load(sys.stdin)\n\
             v = jsonschema.validators.validator_for(s['schema'], default=jsonschema.Draft7Validator)\n\
             v.check_schema(s['schema'])\n\
             for e in v(s['schema']).iter_errors(s['doc']):\n\
             \x20   print('/'.join(map(str, e.absolute_path)) + ': ' + e.message)\n",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cannot run python3");
    let input = serde_json::json!({"schema": schema, "doc": doc}).to_string();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3's jsonschema failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Trigger metadata the KEDA Prometheus scaler reads
/// (`pkg/scalers/prometheus_scaler.go` at the commit of the vendored CRD).
const KEDA_PROMETHEUS_METADATA: [&str; 12] = [
    "serverAddress",
    "query",
    "queryParameters",
    "threshold",
    "activationThreshold",
    "namespace",
    "customHeaders",
    "ignoreNullValues",
    "unsafeSsl",
    "awsRegion",
    "timeout",
    "identityOwner",
];

/// The autoscaling files validate against the schemas their tools publish
/// (KEDA's CRD, prometheus-adapter's configuration types, Kubernetes' HPA),
/// scale with a metric type under which the replica count follows the
/// signal, refer to metrics that exist, and their queries parse.
#[test]
fn autoscaling_files_validate_and_their_queries_parse() {
    let (scaled_object, adapter) = shipped(&repo());
    let crd = yaml_file(&repo().join("tests/schemas/keda.sh_scaledobjects.yaml"));
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert_eq!(crd["spec"]["versions"][0]["name"], "v1alpha1");
    assert_eq!(scaled_object["apiVersion"], "keda.sh/v1alpha1");
    let errors = schema_errors(schema, &scaled_object);
    assert!(
        errors.is_empty(),
        "the ScaledObject against KEDA's CRD: {errors:?}"
    );
    // A wrong field is caught, so the schema is really applied.
    let mut wrong = scaled_object.clone();
    wrong["spec"]["minReplicaCount"] = "two".into();
    assert!(!schema_errors(schema, &wrong).is_empty());
    for trigger in scaled_object["spec"]["triggers"].as_array().unwrap() {
        assert_eq!(trigger["type"], "prometheus");
        // Each query is a per-pod value: the HPA then sets
        // replicas x value / threshold.
        assert_eq!(trigger["metricType"], "Value", "{trigger}");
        let metadata = trigger["metadata"].as_object().unwrap();
        for key in metadata.keys() {
            assert!(
                KEDA_PROMETHEUS_METADATA.contains(&key.as_str()),
                "the Prometheus scaler has no {key}"
            );
        }
        for key in ["serverAddress", "query", "threshold"] {
            assert!(metadata.contains_key(key), "{key} missing in {trigger}");
        }
        metadata["threshold"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .expect("a threshold is a number");
    }

    let adapter_schema: Value = serde_json::from_str(
        &fs::read_to_string(repo().join("tests/schemas/prometheus-adapter-config.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let errors = schema_errors(&adapter_schema, &adapter);
    assert!(errors.is_empty(), "the adapter's rules: {errors:?}");
    let mut wrong = adapter.clone();
    wrong["rules"][0]["metricQuery"] = "typo".into();
    assert!(!schema_errors(&adapter_schema, &wrong).is_empty());

    // The HPA validates, and targets what the adapter exposes, per pod.
    run(
        "kubernetes-validate",
        &["--strict", "deploy/autoscaling/hpa.yaml"],
    );
    let hpa = yaml_file(&repo().join("deploy/autoscaling/hpa.yaml"));
    let exposed: Vec<String> = adapter_queries(&adapter)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for metric in hpa["spec"]["metrics"].as_array().unwrap() {
        assert_eq!(metric["type"], "Pods");
        assert_eq!(metric["pods"]["target"]["type"], "AverageValue");
        let name = metric["pods"]["metric"]["name"].as_str().unwrap();
        assert!(
            exposed.iter().any(|e| e == name),
            "the adapter exposes no {name}"
        );
    }

    // Every query parses (as the expression of a recording rule).
    let queries: Vec<(String, String)> = keda_queries(&scaled_object)
        .into_iter()
        .chain(adapter_queries(&adapter))
        .chain(adapter["rules"].as_array().unwrap().iter().map(|rule| {
            (
                "series".to_owned(),
                rule["seriesQuery"].as_str().unwrap().to_owned(),
            )
        }))
        .collect();
    let rules = serde_json::json!({"groups": [{"name": "autoscaling", "rules": queries
        .iter()
        .enumerate()
        .map(|(i, (_, q))| serde_json::json!({"record": format!("query_{i}"), "expr": q}))
        .collect::<Vec<_>>()}]});
    let file = std::env::temp_dir().join(format!("pp-autoscaling-{}.yml", std::process::id()));
    fs::write(&file, rules.to_string()).unwrap();
    let checked = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    fs::remove_file(&file).unwrap();
    assert!(
        checked.status.success(),
        "{queries:?}: {}",
        String::from_utf8_lossy(&checked.stdout)
    );
}

/// Every finding of the security scan is either fixed or skipped in the
/// file with a reason.
#[test]
fn security_scan_has_no_unjustified_findings() {
    for (target, framework) in [
        ("deploy/kubernetes", "kubernetes"),
        ("Dockerfile", "dockerfile"),
    ] {
        let flag = if framework == "dockerfile" {
            "-f"
        } else {
            "-d"
        };
        let out = run(
            "checkov",
            &[
                flag,
                target,
                "--framework",
                framework,
                "--quiet",
                "--compact",
                "--skip-download",
            ],
        );
        assert!(
            out.contains("Failed checks: 0,"),
            "checkov findings in {target}:\n{out}"
        );
    }
}

/// The systemd unit passes `systemd-analyze verify` (with the agent where
/// the unit expects it) and keeps its sandbox: an exposure score of at most
/// 4.0 out of 10 by `systemd-analyze security`.
#[test]
fn systemd_unit_verifies_and_stays_sandboxed() {
    let unit = fs::read_to_string(repo().join("deploy/systemd/pressure-probe.service")).unwrap();
    let agent = integration_tests::agent::binary();
    let dir = RemovedOnDrop(std::env::temp_dir().join(format!("pp-unit-{}", std::process::id())));
    fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("pressure-probe.service");
    fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/pressure-probe",
            agent.to_str().expect("a UTF-8 path"),
        ),
    )
    .unwrap();
    let path = path.to_str().unwrap();
    run("systemd-analyze", &["verify", path]);
    let report = run(
        "systemd-analyze",
        &["security", "--offline=true", "--threshold=40", path],
    );
    eprintln!("{}", report.lines().last().unwrap_or_default());
}

/// A scratch folder, removed even when the test fails.
struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
