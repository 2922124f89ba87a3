//! The probe's own alerts: not scraped, losing events, folding cgroups,
//! judging with other thresholds than the rules.

use std::time::Duration;

use super::Alert;
use crate::{
    export::probe::{CGROUPS_FOLDED, EVENTS_LOST, THRESHOLD},
    verdict::Thresholds,
};

/// The job(s) the probe is scraped as: `pressure-probe` (a static
/// configuration) or `<namespace>/pressure-probe` (the operator's).
const JOB: &str = "(.*/)?pressure-probe";

/// The probe's alerts, for rules made with `thresholds` over `window`.
pub fn alerts(thresholds: &Thresholds, window: Duration) -> Vec<Alert> {
    let mut alerts = Vec::new();
    let node = "{{ with $labels.node }}{{ . }}{{ else }}{{ $labels.instance }}{{ end }}";
    alerts.push(Alert {
        name: "PressureProbeDown",
        expr: format!("up{{job=~\"{JOB}\"}} == 0"),
        for_: "5m",
        severity: "warning",
        bottleneck: None,
        summary: format!("pressure-probe on {node} is not scraped"),
        description: "Prometheus has not scraped the probe for 5 minutes: the node's \
                          containers have no pressure signals and no verdict."
            .into(),
    });
    alerts.push(Alert {
            name: "PressureProbeEventsLost",
            expr: format!(
            "sum by (node, instance, signal, reason) (\n    \
             increase({EVENTS_LOST}[10m])) > 0"
        ),
            for_: "30m",
            severity: "warning",
            bottleneck: None,
            summary: format!(
                "pressure-probe on {node} loses {{{{ $labels.signal }}}} events ({{{{ $labels.reason }}}})"
            ),
            description: "The kernel side has not recorded {{ $value | printf \"%.0f\" }} \
                          events in 10 minutes, for 30 minutes: that signal's numbers are \
                          short by as much."
            .into(),
    });
    alerts.push(Alert {
        name: "PressureProbeCgroupsFolded",
        expr: format!("{CGROUPS_FOLDED} > 0"),
        for_: "30m",
        severity: "warning",
        bottleneck: None,
        summary: format!(
            "pressure-probe on {node} folds {{{{ $value }}}} cgroups into cgroup=\"other\""
        ),
        description: "More cgroups have data than --max-cgroups: the rest are summed \
                          into cgroup=\"other\", which no alert looks at."
            .into(),
    });
    // The agent exports the numbers it judges with: an agent run with
    // other flags than these rules would judge otherwise, and the slow
    // buckets these rules read (at the thresholds) would be missing.
    let differs: Vec<String> = thresholds
        .named(window)
        .iter()
        .map(|(name, value)| format!("{THRESHOLD}{{name=\"{name}\"}} != {value}"))
        .collect();
    alerts.push(Alert {
        name: "PressureProbeRulesDiffer",
        expr: differs.join("\nor "),
        for_: "10m",
        severity: "warning",
        bottleneck: None,
        summary: format!(
            "pressure-probe on {node} judges {{{{ $labels.name }}}} at {{{{ $value }}}}, \
                 not as these rules do"
        ),
        description: "The agent was started with other verdict flags than these rules \
                          were made with: the rules' verdict differs from the agent's, and the \
                          slow-answer and slow-syscall buckets they read may not be exported. \
                          Make the rules with the agent's flags (pressure-probe rules ...)."
            .into(),
    });
    alerts
}
