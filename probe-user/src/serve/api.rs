//! `GET /api/v1/containers`: the verdict on each container, with the
//! evidence behind it, as JSON (the schema is in docs/verdict.md, section API).

use probe_common::runqueue::behind;
use serde_json::{Map, Value, json};

use crate::{
    collect::psi::Resource,
    sampler::Sample,
    snapshot::Preemptor,
    verdict::Diagnosis,
    window::{Evidence, counters::Latency},
};

/// The document for `sample`.
pub fn containers(sample: &Sample) -> Value {
    json!({
        "window_seconds": sample.window.as_secs_f64(),
        "sample": sample.sequence,
        "containers": sample.diagnoses.iter().map(container).collect::<Vec<_>>(),
    })
}

fn container(d: &Diagnosis) -> Value {
    let labels: Map<String, Value> = d
        .evidence
        .labels
        .pairs()
        .map(|(name, value)| (name.to_string(), Value::from(value)))
        .collect();
    json!({
        "labels": labels,
        "bottleneck": d.bottleneck.label(),
        "detail": d.detail,
        "replicas_help": match d.bottleneck.replicas_help() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "n/a",
        },
        "advice": d.bottleneck.advice(),
        "pressures": d.findings.iter().map(|f| json!({
            "bottleneck": f.bottleneck.label(),
            "score": round(f.score),
            "detail": f.detail,
        })).collect::<Vec<_>>(),
        "evidence": evidence(&d.evidence),
    })
}

fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// A quantile, rounded; `null` with too few observations for it.
fn quantile(c: &Latency, q: f64) -> Value {
    c.quantile(q).map_or(Value::Null, |v| Value::from(round(v)))
}

fn latency(c: &Latency) -> Value {
    json!({
        "count": c.count(),
        "p50_seconds": quantile(c, 0.5),
        "p95_seconds": quantile(c, 0.95),
        "p99_seconds": quantile(c, 0.99),
    })
}

fn evidence(e: &Evidence) -> Value {
    let preempted: Map<String, Value> = Preemptor::ALL
        .iter()
        .map(|p| (p.label().to_string(), Value::from(e.preemptions[p.index()])))
        .collect();
    let syscalls: Map<String, Value> = e
        .syscalls
        .iter()
        .map(|(class, hist, errors)| {
            let mut value = latency(hist);
            value["errors"] = Value::from(*errors);
            value["slow_share"] = Value::from(round(hist.slow_share()));
            (class.label().to_string(), value)
        })
        .collect();
    let psi = e.psi.map(|psi| {
        let shares: Map<String, Value> = Resource::ALL
            .iter()
            .map(|r| {
                let [some, full] = psi[*r as usize];
                (
                    r.label().to_string(),
                    json!({
                        "some_share": round(some / e.seconds.max(f64::EPSILON)),
                        "full_share": round(full / e.seconds.max(f64::EPSILON)),
                    }),
                )
            })
            .collect();
        Value::Object(shares)
    });
    let mut runqueue = latency(&e.runq);
    runqueue["wait_share"] = Value::from(round(e.wait_share()));
    runqueue["preempted_by"] = Value::Object(preempted);
    runqueue["waited_behind_seconds"] = Value::Object(
        behind::NAMES
            .iter()
            .zip(e.waited_behind)
            .map(|(name, seconds)| (name.to_string(), Value::from(round(seconds))))
            .collect(),
    );
    runqueue["own_wait_share"] = e
        .own_wait_share()
        .map_or(Value::Null, |s| Value::from(round(s)));
    json!({
        "seconds": round(e.seconds),
        "runqueue": runqueue,
        "accept_queue": {
            "queued": e.fill.iter().sum::<u64>(),
            "fill_p95": round(e.fill_quantile(0.95)),
            "fill_mean": round(e.fill_mean),
            "ports": e.ports.iter().map(|(port, dropped, fill)| json!({
                "port": port, "dropped": dropped, "fill_now": round(*fill),
            })).collect::<Vec<_>>(),
        },
        "syscalls": syscalls,
        "memory": {
            "reclaim": latency(&e.reclaim),
            "reclaim_share": round(e.reclaim_share()),
            "oom_kills": e.oom_kills,
        },
        "psi": psi,
        "dependencies": e.remotes.iter().map(|r| {
            let mut value = latency(&r.response);
            value["remote"] = Value::from(r.remote.to_string());
            value["connect_p95_seconds"] = quantile(&r.connect, 0.95);
            value["slow_share"] = Value::from(round(r.response.slow_share()));
            value["connect_failures"] = Value::from(r.failures);
            value["retransmits"] = Value::from(r.retransmits);
            value["connections"] = Value::from(r.connections);
            value
        }).collect::<Vec<_>>(),
    })
}
