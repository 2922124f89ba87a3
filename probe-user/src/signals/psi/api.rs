//! PSI's section of the API's evidence.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{api::round, signals::psi::files::Resource, window::Evidence};

/// A resource's PSI over the window, per second.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Shares {
    /// All of the tasks stalled.
    pub full_share: f64,
    /// Some task stalled.
    pub some_share: f64,
}

/// Its section of a container's evidence: by resource, where read.
pub fn section(e: &Evidence) -> Option<BTreeMap<String, Shares>> {
    let per_second = |seconds: f64| round(seconds / e.seconds.max(f64::EPSILON));
    e.psi.stalls.map(|psi| {
        Resource::ALL
            .iter()
            .map(|r| {
                let [some, full] = psi[*r as usize];
                let shares = Shares {
                    full_share: per_second(full),
                    some_share: per_second(some),
                };
                (r.label().to_string(), shares)
            })
            .collect()
    })
}
