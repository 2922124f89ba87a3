//! PromQL the signals' rules share: the labels that name a container,
//! container matchers, durations, bucket matchers, the slow share of a
//! histogram.

use std::time::Duration;

/// The labels that name a container on a node (`node` from the monitor's
/// relabelling, `instance` the probe scraped: per node either way).
pub const C: &str = "cgroup, namespace, pod, container, container_id, node, instance";

/// Selectors of the series that are about containers (Kubernetes pods and
/// containers, Docker containers), not host cgroups nor the folded rest:
/// alerts are about those only.
const CONTAINERS: [&str; 2] = [
    "cgroup!=\"other\",pod!=\"\"",
    "cgroup!=\"other\",container_id!=\"\"",
];

/// Who an alert is about, in its summary.
pub const WHO: &str = "{{ $labels.namespace }}/{{ $labels.pod }} {{ $labels.container }} \
                       ({{ $labels.cgroup }} on {{ with $labels.node }}{{ . }}{{ else }}{{ $labels.instance }}{{ end }})";

/// `expr` of the container matchers, once per kind of container, joined
/// with `or`.
pub fn for_containers(expr: impl Fn(&str) -> String) -> String {
    CONTAINERS
        .iter()
        .map(|only| expr(only))
        .collect::<Vec<_>>()
        .join("\nor ")
}

/// A PromQL duration for `window` (whole milliseconds).
pub fn range(window: Duration) -> String {
    let ms = window.as_millis().max(1);
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// The `le` matcher of a classic bucket bound: the exposition writes it as
/// Rust prints the number; Prometheus 3 adds `.0` to a whole number.
fn le_matcher(bound: f64) -> String {
    let text = bound.to_string().replace('.', "\\\\.");
    if bound.fract() == 0.0 {
        format!("le=~\"{text}(\\\\.0)?\"")
    } else {
        format!("le=~\"{text}\"")
    }
}

/// The share of the observations of histogram `family` (series matching
/// `only`, empty for all) above `bound` over `window`, per container and
/// `by`, where there were at least `events`: from the bucket the agent
/// exports at `bound`, which the kernel counts exactly.
pub fn slow_share(
    family: &str,
    only: &str,
    by: &str,
    bound: f64,
    window: &str,
    events: u64,
) -> String {
    let le = le_matcher(bound);
    let (bucket, count) = if only.is_empty() {
        (format!("{{{le}}}"), String::new())
    } else {
        (format!("{{{only},{le}}}"), format!("{{{only}}}"))
    };
    format!(
        "1 - sum by ({C}, {by}) (increase({family}_bucket{bucket}[{window}]))\n  \
         / sum by ({C}, {by}) (increase({family}_count{count}[{window}]))\n\
         and on ({C}, {by}) sum by ({C}, {by}) (\n  \
         increase({family}_count{count}[{window}])) >= {events}"
    )
}

/// The p95 of histogram `family` over `range`, per container and each of
/// `by` (labels joined with commas, empty for none).
pub fn p95(family: &str, by: &str, range: &str) -> String {
    let by = if by.is_empty() {
        String::new()
    } else {
        format!("{by}, ")
    };
    format!(
        "histogram_quantile(0.95, sum by ({C}, {by}le) (\n  \
         rate({family}_bucket[{range}])))"
    )
}

/// `text` indented by two spaces.
pub fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_promql_durations() {
        assert_eq!(range(Duration::from_secs(60)), "60s");
        assert_eq!(range(Duration::from_millis(1500)), "1500ms");
    }
}
