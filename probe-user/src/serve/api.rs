//! `GET /api/v1/containers`: the verdict on each container, with the
//! evidence behind it, as an [`api::Document`](crate::api::Document).

use crate::{api, sampler::Sample, verdict::Diagnosis};

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
        evidence: api::Evidence::of(&d.evidence),
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
                score: api::round(f.score),
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
