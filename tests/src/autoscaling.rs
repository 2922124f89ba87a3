//! The queries of the shipped autoscaling files (`deploy/autoscaling`): a
//! KEDA ScaledObject's Prometheus triggers and prometheus-adapter's rules,
//! as PromQL a Prometheus can run. Their examples scale the pods of
//! Deployment `web` in namespace `shop` (`web-<ReplicaSet hash>-<5 characters>`).

use std::path::Path;

use serde_json::Value;

use crate::operator::yaml_file;

/// The label matchers the adapter puts in a query for the example's pods.
/// (The adapter matches the HPA's own pods by name; this stands for them.)
pub const EXAMPLE_PODS: &str = r#"namespace="shop",pod=~"web-[a-z0-9]+-[a-z0-9]{5}""#;

/// Each Prometheus trigger of the ScaledObject: (name, query).
pub fn keda_queries(scaled_object: &Value) -> Vec<(String, String)> {
    scaled_object["spec"]["triggers"]
        .as_array()
        .expect("a ScaledObject has triggers")
        .iter()
        .filter(|t| t["type"] == "prometheus")
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_owned(),
                t["metadata"]["query"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Each adapter rule's metric name and its metrics query, its templates
/// filled in the way the adapter fills them for the example's pods
/// (`.Series` the matched series, `.LabelMatchers` the pods, `.GroupBy`
/// `pod`).
pub fn adapter_queries(config: &Value) -> Vec<(String, String)> {
    config["rules"]
        .as_array()
        .expect("an adapter configuration has rules")
        .iter()
        .map(|rule| {
            let series = rule["name"]["matches"]
                .as_str()
                .unwrap()
                .trim_start_matches('^')
                .trim_end_matches('$');
            let query = rule["metricsQuery"]
                .as_str()
                .unwrap()
                .replace("<<.Series>>", series)
                .replace("<<.LabelMatchers>>", EXAMPLE_PODS)
                .replace("<<.GroupBy>>", "pod");
            (rule["name"]["as"].as_str().unwrap().to_owned(), query)
        })
        .collect()
}

/// The shipped ScaledObject and adapter configuration.
pub fn shipped(repo: &Path) -> (Value, Value) {
    (
        yaml_file(&repo.join("deploy/autoscaling/keda-scaledobject.yaml")),
        yaml_file(&repo.join("deploy/autoscaling/prometheus-adapter-rules.yaml")),
    )
}
