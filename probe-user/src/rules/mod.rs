//! The rule in PromQL: the Prometheus recording and alerting rules that
//! `pressure-probe rules` prints (and `deploy/prometheus/rules.yml` is),
//! made from the same thresholds as the agent's verdict, so that the two
//! cannot drift apart.
//!
//! Prometheus computes each pressure's score from the exported series over
//! the window, as the agent does from its samples (`increase()` and
//! `rate()` extrapolate to the window's edges, so a score right at a
//! threshold can differ by a few percent) and ranks them with the
//! verdict's tie order; each pressure over its threshold alerts on its own.
//! Each signal writes its own rules (`signals/<signal>/rules.rs`); this
//! module puts them in their groups, ranks the scores and adds the probe's
//! own alerts.

mod probe;
pub mod promql;

use std::{fmt::Write, time::Duration};

use self::promql::{C, WHO, for_containers, indent, range};
use crate::{
    export::bottleneck::BOTTLENECK,
    signals,
    verdict::{self, Bottleneck, Thresholds},
};

/// How long a pressure must last before its alert fires.
pub const ALERT_FOR: &str = "5m";

/// What every signal's rules are made with.
pub struct Context<'a> {
    /// The verdict's thresholds.
    pub thresholds: &'a Thresholds,
    /// The verdict's window, as a PromQL duration.
    pub window: String,
    /// Observations a p95 needs ([`verdict::p95_events`]).
    pub quantile_events: u64,
    /// The p95 response time (seconds) over which a service whose verdict
    /// replicas fix should scale out (`--latency-p95`).
    pub latency_p95: f64,
}

/// A recording rule.
pub struct Record {
    /// What it records.
    pub comment: String,
    /// Its name.
    pub name: &'static str,
    /// Its expression.
    pub expr: String,
}

/// A pressure's score: how many times over its threshold it is, per
/// container (absent or under 1: not over it).
pub struct Score {
    /// The bottleneck it scores.
    pub bottleneck: Bottleneck,
    /// The score, per container.
    pub expr: String,
    /// The alert's expression and summary, where they are not the score's
    /// (a dependency alerts per remote).
    pub alert: Option<(String, String)>,
}

/// What a signal adds to the rule file.
#[derive(Default)]
pub struct SignalRules {
    /// Views for dashboards and autoscalers (group `pressure-probe.trends`).
    pub trends: Vec<Record>,
    /// What its scores read over the window (group `pressure-probe.verdict`).
    pub verdict: Vec<Record>,
    /// Its scores.
    pub scores: Vec<Score>,
    /// Alerts of harm done, beside the scores' (group `pressure-probe.alerts`).
    pub alerts: Vec<Alert>,
}

/// An alerting rule.
pub struct Alert {
    /// Its name.
    pub name: &'static str,
    /// Its expression.
    pub expr: String,
    /// How long it must hold before it fires.
    pub for_: &'static str,
    /// Its severity label.
    pub severity: &'static str,
    /// The bottleneck it is about (none for the probe's own alerts).
    pub bottleneck: Option<Bottleneck>,
    /// Its summary.
    pub summary: String,
    /// Its description.
    pub description: String,
}

/// The rules for `thresholds` over `window`, as a Prometheus rule file;
/// each alert's `runbook_url` is `runbooks` and the alert's anchor.
pub fn render(
    thresholds: &Thresholds,
    window: Duration,
    runbooks: &str,
    latency_p95: f64,
) -> String {
    let cx = Context {
        thresholds,
        window: range(window),
        quantile_events: verdict::p95_events(thresholds),
        latency_p95,
    };
    let signals: Vec<SignalRules> = signals::ALL.iter().map(|s| (s.rules)(&cx)).collect();
    let mut out = header(thresholds, window, latency_p95);
    out.push_str("  - name: pressure-probe.trends\n    rules:\n");
    for record in signals.iter().flat_map(|s| &s.trends) {
        write_record(&mut out, record);
    }

    out.push_str("\n  - name: pressure-probe.verdict\n    rules:\n");
    for record in signals.iter().flat_map(|s| &s.verdict) {
        write_record(&mut out, record);
    }
    // The scores in the verdict's tie order.
    let mut scores: Vec<&Score> = signals.iter().flat_map(|s| &s.scores).collect();
    scores.sort_by_key(|score| score.bottleneck.tie_rank());
    for record in ranking(&scores) {
        write_record(&mut out, &record);
    }

    out.push_str("\n  - name: pressure-probe.alerts\n    rules:\n");
    // Each pressure alerts on its own, once over its threshold for 5
    // minutes: gating alerts on the ranked verdict would reset their timer
    // whenever two close pressures swap places, and neither would fire.
    for score in &scores {
        write_alert(&mut out, runbooks, &score_alert(score));
    }
    // Harm done, which alerts at once or pages.
    for alert in signals.iter().flat_map(|s| &s.alerts) {
        write_alert(&mut out, runbooks, alert);
    }

    out.push_str("\n  - name: pressure-probe.self\n    rules:\n");
    for alert in probe::alerts(thresholds, window) {
        write_alert(&mut out, runbooks, &alert);
    }
    out
}

/// The file's header: how it was made, what each group does.
fn header(t: &Thresholds, window: Duration, latency_p95: f64) -> String {
    let (w, min) = (range(window), t.min_events);
    format!(
        "# pressure-probe's Prometheus rules. GENERATED by `pressure-probe rules` from the\n\
         # verdict's thresholds; do not edit, regenerate:\n\
         #   pressure-probe rules --window {window} --cpu-wait-share {cpu} \\\n\
         #     --cpu-own-share {own} --accept-fill {fill} --storage-p95 {storage} \\\n\
         #     --dependency-p95 {dependency} --memory-stall-share {memory} \\\n\
         #     --queue-p95 {queue} --min-events {min}{ignore} \\\n\
         #     --latency-p95 {latency_p95} \\\n\
         #     > deploy/prometheus/rules.yml\n\
         # (`--format prometheus-rule` for deploy/kubernetes/monitoring/prometheusrule.yaml)\n\
         #\n\
         # `pressure-probe.trends` records 5-minute views for dashboards and autoscalers.\n\
         # `pressure-probe.verdict` computes each pressure's score as the agent's verdict\n\
         # does (README, section Verdict): how many times over its threshold, over the\n\
         # last {w}; a pressure counts from 1; the highest score is the verdict, ties in\n\
         # the agent's order. Each pressure over its threshold for 5 minutes alerts,\n\
         # naming its bottleneck, because the fix differs, and whether more replicas would\n\
         # help; alerts are about containers only (Kubernetes or Docker), per node, each\n\
         # with its runbook.\n\
         # `pressure-probe.self` watches the probe itself.\n\
         groups:\n",
        window = window.as_secs_f64(),
        cpu = t.cpu_wait_share,
        own = t.cpu_own_share,
        dependency = t.dependency_p95,
        fill = t.accept_fill,
        storage = t.storage_p95,
        memory = t.memory_stall_share,
        queue = t.queue_p95,
        ignore = t
            .dependency_ignore
            .iter()
            .map(|i| format!(" --dependency-ignore {i}"))
            .collect::<String>(),
    )
}

/// The scores as one recording rule, and the verdict: the highest score,
/// ties in the verdict's order (`scores` is in it).
fn ranking(scores: &[&Score]) -> [Record; 2] {
    let terms: Vec<String> = scores
        .iter()
        .map(|score| {
            format!(
                "label_replace(\n{},\n\"bottleneck\", \"{}\", \"\", \"\") >= 1",
                indent(&score.expr),
                score.bottleneck.label()
            )
        })
        .collect();
    let score = Record {
        comment: "Score of each pressure over its threshold: how many times over it (label \
                      `bottleneck`; absent under 1)."
            .into(),
        name: "container_bottleneck:pressure_score:window",
        expr: terms.join("\nor\n"),
    };
    // The ranking: the highest score wins; a tie goes to the bottleneck
    // listed first (`scores` is in the verdict's tie order), by adding a
    // tiny offset for the ranking only: the value kept is the score itself.
    // The symptom ranks below every cause (a million less).
    let ranked: Vec<String> = scores
        .iter()
        .enumerate()
        .map(|(i, score)| {
            let symptom = if score.bottleneck.is_symptom() {
                " - 1e+06"
            } else {
                ""
            };
            format!(
                "container_bottleneck:pressure_score:window{{bottleneck=\"{}\"}}{symptom} + {}e-09",
                score.bottleneck.label(),
                scores.len() - i
            )
        })
        .collect();
    let verdict = Record {
        comment: format!(
            "The verdict, as the agent's {BOTTLENECK}: each container's highest score, a tie \
             to the first of memory, accept_queue, dependency, cpu_neighbour, cpu, storage; \
             workers (a symptom) only when no other is over 1 (label `bottleneck`, value its \
             score; absent when none is over 1)."
        ),
        name: "container:pressure_bottleneck:window",
        expr: format!(
            "container_bottleneck:pressure_score:window\n\
                 and on ({C}, bottleneck) topk by ({C}) (1,\n{})",
            indent(&ranked.join("\nor "))
        ),
    };
    [score, verdict]
}

/// The alert of `score`: over its threshold for [`ALERT_FOR`].
fn score_alert(score: &Score) -> Alert {
    let label = score.bottleneck.label();
    let (expr, summary) = score.alert.clone().unwrap_or_else(|| {
        (
            for_containers(|only| {
                format!(
                    "container_bottleneck:pressure_score:window{{bottleneck=\"{label}\",{only}}}"
                )
            }),
            format!("{WHO}: {label}"),
        )
    });
    Alert {
        name: alert_name(score.bottleneck),
        expr,
        for_: ALERT_FOR,
        severity: "warning",
        bottleneck: Some(score.bottleneck),
        summary,
        description: format!(
            "{label} pressure at {{{{ $value | printf \"%.1f\" }}}} times its threshold \
                 for {ALERT_FOR}: {}.",
            score.bottleneck.advice()
        ),
    }
}

/// `rules` wrapped as a Prometheus Operator `PrometheusRule` in `namespace`.
pub fn prometheus_rule(rules: &str, namespace: &str) -> String {
    let mut out = format!(
        "apiVersion: monitoring.coreos.com/v1\n\
         kind: PrometheusRule\n\
         metadata:\n  \
         name: pressure-probe\n  \
         namespace: {namespace}\n  \
         labels:\n    \
         app.kubernetes.io/name: pressure-probe\n\
         spec:\n"
    );
    for line in rules.lines() {
        if line.starts_with('#') || line.is_empty() {
            let _ = writeln!(out, "{line}");
        } else {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// Writes a recording rule: its comment, name and expression.
fn write_record(out: &mut String, record: &Record) {
    let _ = writeln!(out, "      # {}", record.comment);
    let _ = writeln!(out, "      - record: {}", record.name);
    let _ = writeln!(out, "        expr: >");
    for line in record.expr.trim().lines() {
        let _ = writeln!(out, "          {line}");
    }
}

/// Writes `a`, its runbook at `runbooks#<alert name in lower case>`.
fn write_alert(out: &mut String, runbooks: &str, a: &Alert) {
    let _ = write!(out, "      - alert: {}\n        expr: ", a.name);
    if a.expr.contains('\n') {
        let _ = writeln!(out, ">");
        for line in a.expr.lines() {
            let _ = writeln!(out, "          {line}");
        }
    } else {
        let _ = writeln!(out, "{}", a.expr);
    }
    let _ = write!(
        out,
        "        for: {}\n        labels:\n          severity: {}\n",
        a.for_, a.severity
    );
    if let Some(bottleneck) = a.bottleneck {
        let _ = writeln!(out, "          bottleneck: {}", bottleneck.label());
    }
    let _ = write!(
        out,
        "        annotations:\n          summary: \"{}\"\n          description: >-\n            \
         {}\n          runbook_url: {runbooks}#{}\n",
        a.summary.replace('"', "\\\""),
        a.description,
        a.name.to_lowercase(),
    );
}

/// The alert of `bottleneck`.
fn alert_name(bottleneck: Bottleneck) -> &'static str {
    match bottleneck {
        Bottleneck::Memory => "ContainerMemoryStalled",
        Bottleneck::AcceptQueue => "ContainerAcceptQueueFull",
        Bottleneck::Dependency => "DependencySlow",
        Bottleneck::CpuNeighbour => "ContainerCpuNeighbourBound",
        Bottleneck::Cpu => "ContainerCpuBound",
        Bottleneck::Storage => "ContainerStorageBound",
        Bottleneck::Workers => "ContainerWorkersBusy",
        Bottleneck::None => "ContainerUnpressured",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_reach_the_rules() {
        let rules = render(
            &Thresholds {
                cpu_wait_share: 0.25,
                cpu_own_share: 0.6,
                accept_fill: 0.5,
                storage_p95: 0.2,
                dependency_p95: 0.3,
                memory_stall_share: 0.07,
                min_events: 42,
                dependency_ignore: vec![":9092".parse().unwrap()],
                ..Thresholds::default()
            },
            Duration::from_secs(120),
            "https://runbooks.example/pp.md",
            0.8,
        );
        for needle in [
            "container:pressure_cpu_wait:share / 0.25",
            "own_wait:share >= 0.6",
            "/ 0.5,",
            "le=~\"0\\\\.2\"",
            "le=~\"0\\\\.3\"",
            "share / 0.07",
            "remote!~\".+:9092\"",
            ">= 42",
            "[120s]",
            "runbook_url: https://runbooks.example/pp.md#containercpubound",
            "pod!=\"\"} > 0.8)",
        ] {
            assert!(rules.contains(needle), "no {needle:?} in\n{rules}");
        }
    }
}
