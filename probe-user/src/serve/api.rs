//! `GET /api/v1/containers`: the verdict on each container, with the
//! evidence behind it, as an [`api::Document`](crate::api::Document).

use probe_common::runqueue::behind;

use crate::{
    api,
    collect::psi::Resource,
    sampler::Sample,
    snapshot::Preemptor,
    verdict::Diagnosis,
    window::{Evidence, counters::Latency},
};

/// The document for `sample`.
pub fn containers(sample: &Sample) -> api::Document {
    api::Document {
        containers: sample.diagnoses.iter().map(container).collect(),
        sample: sample.sequence,
        window_seconds: sample.window.as_secs_f64(),
    }
}

fn container(d: &Diagnosis) -> api::Container {
    api::Container {
        advice: d.bottleneck.advice().to_string(),
        bottleneck: d.bottleneck.label().to_string(),
        detail: d.detail.clone(),
        evidence: evidence(&d.evidence),
        labels: d
            .evidence
            .labels
            .pairs()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        pressures: d
            .findings
            .iter()
            .map(|f| api::Pressure {
                bottleneck: f.bottleneck.label().to_string(),
                detail: f.detail.clone(),
                score: round(f.score),
            })
            .collect(),
        replicas_help: match d.bottleneck.replicas_help() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "n/a",
        }
        .to_string(),
    }
}

fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// A quantile, rounded; `None` with too few observations for it.
fn quantile(c: &Latency, q: f64) -> Option<f64> {
    c.quantile(q).map(round)
}

fn latency(c: &Latency) -> api::Latency {
    api::Latency {
        count: c.count(),
        p50_seconds: quantile(c, 0.5),
        p95_seconds: quantile(c, 0.95),
        p99_seconds: quantile(c, 0.99),
    }
}

fn evidence(e: &Evidence) -> api::Evidence {
    let per_second = |seconds: f64| round(seconds / e.seconds.max(f64::EPSILON));
    api::Evidence {
        accept_queue: api::AcceptQueue {
            fill_mean: round(e.fill_mean),
            fill_p95: round(e.fill_quantile(0.95)),
            ports: e
                .ports
                .iter()
                .map(|&(port, dropped, fill)| api::Port {
                    dropped,
                    fill_now: round(fill),
                    port,
                })
                .collect(),
            queued: e.fill.iter().sum(),
        },
        dependencies: e
            .remotes
            .iter()
            .map(|r| api::Dependency {
                connect_failures: r.failures,
                connect_p95_seconds: quantile(&r.connect, 0.95),
                connections: r.connections,
                count: r.response.count(),
                p50_seconds: quantile(&r.response, 0.5),
                p95_seconds: quantile(&r.response, 0.95),
                p99_seconds: quantile(&r.response, 0.99),
                remote: r.remote.to_string(),
                retransmits: r.retransmits,
                slow_share: round(r.response.slow_share()),
            })
            .collect(),
        memory: api::Memory {
            oom_kills: e.oom_kills,
            reclaim: latency(&e.reclaim),
            reclaim_share: round(e.reclaim_share()),
        },
        psi: e.psi.map(|psi| {
            Resource::ALL
                .iter()
                .map(|r| {
                    let [some, full] = psi[*r as usize];
                    let shares = api::Shares {
                        full_share: per_second(full),
                        some_share: per_second(some),
                    };
                    (r.label().to_string(), shares)
                })
                .collect()
        }),
        runqueue: api::Runqueue {
            count: e.runq.count(),
            own_wait_share: e.own_wait_share().map(round),
            p50_seconds: quantile(&e.runq, 0.5),
            p95_seconds: quantile(&e.runq, 0.95),
            p99_seconds: quantile(&e.runq, 0.99),
            preempted_by: Preemptor::ALL
                .iter()
                .map(|p| (p.label().to_string(), e.preemptions[p.index()]))
                .collect(),
            wait_share: round(e.wait_share()),
            waited_behind_seconds: behind::NAMES
                .iter()
                .zip(e.waited_behind)
                .map(|(name, seconds)| (name.to_string(), round(seconds)))
                .collect(),
        },
        seconds: round(e.seconds),
        syscalls: e
            .syscalls
            .iter()
            .map(|(class, hist, errors)| {
                let stats = api::Syscalls {
                    count: hist.count(),
                    errors: *errors,
                    p50_seconds: quantile(hist, 0.5),
                    p95_seconds: quantile(hist, 0.95),
                    p99_seconds: quantile(hist, 0.99),
                    slow_share: round(hist.slow_share()),
                };
                (class.label().to_string(), stats)
            })
            .collect(),
    }
}
