//! Phase 1: what each cgroup id is now, resolved once per build.

use std::{collections::HashMap, sync::Arc};

use super::{Cgroups, Resolution};
use crate::identity::Labels;

/// What became of a cgroup id during one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Live, with the labels of its series.
    Live(Arc<Labels>),
    /// Removed.
    Gone,
    /// Could not be resolved.
    Unknown,
}

impl From<Option<Arc<Labels>>> for Status {
    /// Live with `labels`; with none, unknown (it could not be opened).
    fn from(labels: Option<Arc<Labels>>) -> Status {
        labels.map_or(Status::Unknown, Status::Live)
    }
}

impl Status {
    /// The labels of a live cgroup.
    pub fn labels(&self) -> Option<&Arc<Labels>> {
        match self {
            Status::Live(labels) => Some(labels),
            _ => None,
        }
    }
}

/// The statuses of the ids seen in one build.
#[derive(Default)]
pub struct Resolutions {
    statuses: HashMap<u64, Status>,
}

impl Resolutions {
    /// Records what `id` was found to be.
    pub fn record(&mut self, id: u64, status: Status) {
        self.statuses.insert(id, status);
    }

    /// The status of `id`, resolved through `cgroups` the first time.
    pub fn status(&mut self, id: u64, cgroups: &mut impl Cgroups) -> Status {
        self.statuses
            .entry(id)
            .or_insert_with(|| match cgroups.resolve(id) {
                Resolution::Live { labels, .. } => Status::Live(labels),
                Resolution::Gone => Status::Gone,
                Resolution::Unknown => Status::Unknown,
            })
            .clone()
    }

    /// The ids found removed.
    pub fn gone(&self) -> Vec<u64> {
        self.statuses
            .iter()
            .filter(|(_, status)| **status == Status::Gone)
            .map(|(id, _)| *id)
            .collect()
    }

    /// How many ids are live or unknown but labelled `id:N`.
    pub fn unresolved(&self) -> usize {
        self.statuses
            .values()
            .filter(|status| match status {
                Status::Live(labels) => labels.is_unresolved(),
                Status::Unknown => true,
                Status::Gone => false,
            })
            .count()
    }
}
