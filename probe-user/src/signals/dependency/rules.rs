//! The dependencies' rules: each remote's p95 for dashboards, and the
//! dependency score: the share of a remote's slow answers over its budget,
//! or its connects failing; its alert names the remote.

use super::metrics::{CONNECT_FAILURES, RESPONSE};
use crate::{
    rules::{
        Context, Record, Score, SignalRules,
        promql::{C, WHO, for_containers, p95, slow_share},
    },
    verdict::{self, Bottleneck},
};

/// Its rules.
pub fn rules(cx: &Context) -> SignalRules {
    let (t, w, quantile) = (cx.thresholds, &cx.window, cx.quantile_events);
    // Remotes left out of the dependency pressure (`--dependency-ignore`).
    let ignored = if t.dependency_ignore.is_empty() {
        String::new()
    } else {
        let regexes: Vec<String> = t
            .dependency_ignore
            .iter()
            .map(|i| i.label_regex())
            .collect();
        format!("remote!~\"{}\"", regexes.join("|"))
    };
    let trends = vec![Record {
        comment: "p95 time each remote endpoint took to answer, per container and remote.".into(),
        name: "container_remote:pressure_dependency_response_seconds:p95_5m",
        expr: p95(RESPONSE, "remote", "5m"),
    }];
    let verdict = vec![Record {
        comment: format!(
            "Share of each remote endpoint's answers slower than {dependency} s over the last \
             {w} (its p95 is over when 5% or more are; at least {quantile} answers).",
            dependency = t.dependency_p95
        ),
        name: "container_remote:pressure_dependency_slow:share",
        expr: slow_share(RESPONSE, &ignored, "remote", t.dependency_p95, w, quantile),
    }];
    // A slow or failing dependency is named: its alert is per remote.
    let alert = (
        for_containers(|only| format!("{} >= 1", score(cx, &format!("{C}, remote"), only))),
        format!("{WHO}: {{{{ $labels.remote }}}} answers slowly or fails"),
    );
    let scores = vec![Score {
        bottleneck: Bottleneck::Dependency,
        expr: score(cx, C, ""),
        alert: Some(alert),
    }];
    SignalRules {
        trends,
        verdict,
        scores,
        ..SignalRules::default()
    }
}

/// Dependency pressure, the worse of slow answers and failing connects,
/// per `by`, of the series matching `only` (all when empty): per container
/// for the score, per remote for the alert.
fn score(cx: &Context, by: &str, only: &str) -> String {
    let (w, min, budget) = (&cx.window, cx.thresholds.min_events, verdict::SLOW_BUDGET);
    // Abandoned connects (the caller gave up first) are no failures;
    // `other` is many remotes, whose failures are none's `min_events`.
    let failures = if only.is_empty() {
        r#"{reason!="abandoned",remote!="other"}"#.to_string()
    } else {
        format!(r#"{{reason!="abandoned",remote!="other",{only}}}"#)
    };
    let only = if only.is_empty() {
        String::new()
    } else {
        format!("{{{only}}}")
    };
    format!(
        "max by ({by}) (\n  \
         label_replace(container_remote:pressure_dependency_slow:share{only} / {budget},\n    \
         \"why\", \"slow\", \"\", \"\")\n  \
         or label_replace(2 * (sum by ({C}, remote) (\n    \
         increase({CONNECT_FAILURES}{failures}[{w}])) >= bool {min}),\n    \
         \"why\", \"failing\", \"\", \"\"))"
    )
}
