//! Who a cgroup id belongs to: its path, and what the path and the node's
//! Kubernetes log folders say (namespace, pod, container, pod UID, container
//! id, QoS class, systemd unit). Cached per cgroup id.

pub mod cgroup_path;
pub mod cgroupfs;
pub mod kube_names;

use std::{
    collections::{HashMap, HashSet},
    os::fd::OwnedFd,
    path::Path,
    sync::Arc,
};

use tracing::warn;

use crate::identity::{
    cgroup_path::{KubepodsRoots, Owner},
    cgroupfs::{CgroupLookup, CgroupResolver},
    kube_names::KubeNames,
};

/// The labels of a cgroup's series (`cgroup` always; the rest where known).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    /// Path below the cgroup2 root, `id:N` when unresolved, or `other` for
    /// cgroups folded together past `--max-cgroups`.
    pub cgroup: String,
    /// Kubernetes namespace.
    pub namespace: Option<String>,
    /// Kubernetes pod name.
    pub pod: Option<String>,
    /// Kubernetes container name.
    pub container: Option<String>,
    /// Kubernetes pod UID.
    pub pod_uid: Option<String>,
    /// Container id (64 hex digits).
    pub container_id: Option<String>,
    /// Kubernetes QoS class.
    pub qos: Option<String>,
    /// systemd unit.
    pub unit: Option<String>,
}

impl Labels {
    /// Labels of a cgroup known only by its id.
    pub fn unresolved(id: u64) -> Labels {
        Labels {
            cgroup: format!("id:{id}"),
            ..Labels::default()
        }
    }

    /// Whether these are the labels of a cgroup known only by its id.
    pub fn is_unresolved(&self) -> bool {
        self.cgroup.starts_with("id:")
    }

    /// Labels of the cgroups folded together.
    pub fn other() -> Labels {
        Labels {
            cgroup: "other".into(),
            ..Labels::default()
        }
    }

    /// (name, value) of every label that has a value.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let optional = [
            ("namespace", &self.namespace),
            ("pod", &self.pod),
            ("container", &self.container),
            ("pod_uid", &self.pod_uid),
            ("container_id", &self.container_id),
            ("qos", &self.qos),
            ("unit", &self.unit),
        ];
        std::iter::once(("cgroup", self.cgroup.as_str())).chain(
            optional
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_deref()?))),
        )
    }

    /// Whether the names (namespace, pod, container) are all known that the
    /// path promises.
    fn complete(&self) -> bool {
        self.pod_uid.is_none()
            || (self.pod.is_some() && (self.container_id.is_none() || self.container.is_some()))
    }
}

/// Resolves cgroup ids and labels them.
pub struct Identity {
    resolver: CgroupResolver,
    kubepods: KubepodsRoots,
    names: KubeNames,
    /// Labels per cgroup id, with the generation of the names they were computed from.
    cache: HashMap<u64, (Arc<Labels>, u64)>,
    /// Cgroups whose path could not be read, warned about once each.
    unresolved: HashSet<u64>,
}

impl Identity {
    /// Resolves through `resolver`; pods are below `kubepods`, and their
    /// names come from `log_root`.
    pub fn new(resolver: CgroupResolver, kubepods: KubepodsRoots, log_root: &Path) -> Self {
        Self {
            resolver,
            kubepods,
            names: KubeNames::new(log_root),
            cache: HashMap::new(),
            unresolved: HashSet::new(),
        }
    }

    /// Reads where the cgroup2 root is, for the lookups of a sample.
    pub fn refresh_root(&mut self) {
        self.resolver.refresh_root();
    }

    /// Resolves `id` now.
    pub fn lookup(&self, id: u64) -> CgroupLookup {
        self.resolver.lookup(id)
    }

    /// Opens `id`'s directory if it is live (see [`CgroupResolver::open`]).
    pub fn open(&self, id: u64) -> Result<OwnedFd, CgroupLookup> {
        self.resolver.open(id)
    }

    /// The labels last computed for `id`, without reading its path again.
    pub fn cached_labels(&self, id: u64) -> Option<Arc<Labels>> {
        self.cache.get(&id).map(|(labels, _)| labels.clone())
    }

    /// The labels of live cgroup `id` at `path` (cached; computed again when
    /// the path changed, or when names the path promises were missing and
    /// the log folders have been read again since). Without a path (it could
    /// not be read, or the cgroup could not be opened), `cgroup="id:N"`.
    pub fn labels(&mut self, id: u64, path: Option<&str>) -> Arc<Labels> {
        let Some(path) = path else {
            if self.unresolved.insert(id) {
                warn!(
                    cgroup = id,
                    "cannot read this cgroup's path (longer than PATH_MAX, or no permission to \
                     open it); its series are labelled cgroup=\"id:{id}\""
                );
            }
            return Arc::new(Labels::unresolved(id));
        };
        if let Some((labels, generation)) = self.cache.get(&id)
            && labels.cgroup == path
        {
            if labels.complete() {
                return labels.clone();
            }
            self.names.refresh_if_due();
            if *generation == self.names.generation() {
                return labels.clone();
            }
        }
        let labels = Arc::new(self.compute(path));
        self.cache
            .insert(id, (labels.clone(), self.names.generation()));
        labels
    }

    /// The labels `id` had when last seen live, if any.
    pub fn last_known(&self, id: u64) -> Option<&Labels> {
        self.cache.get(&id).map(|(labels, _)| labels.as_ref())
    }

    /// Forgets every label, so that they are computed again, from the log
    /// folders read again.
    pub fn reload(&mut self) {
        self.cache.clear();
        self.names = KubeNames::new(self.names.root());
    }

    /// Forgets a removed cgroup.
    pub fn forget(&mut self, id: u64) {
        self.cache.remove(&id);
        self.unresolved.remove(&id);
    }

    fn compute(&mut self, path: &str) -> Labels {
        let mut labels = Labels {
            cgroup: path.to_string(),
            ..Labels::default()
        };
        match cgroup_path::parse(path, &self.kubepods) {
            Owner::Kubernetes {
                qos,
                pod_uid,
                container_id,
            } => {
                let (pod, container) = self.names.lookup(&pod_uid, container_id.as_deref());
                if let Some(pod) = pod {
                    labels.namespace = Some(pod.namespace.clone());
                    labels.pod = Some(pod.pod.clone());
                }
                labels.container = container.map(str::to_string);
                labels.qos = Some(qos.label().into());
                labels.pod_uid = Some(pod_uid);
                labels.container_id = container_id;
            }
            Owner::Docker { container_id } => labels.container_id = Some(container_id),
            Owner::Unit { unit } => labels.unit = Some(unit),
            Owner::Plain => {}
        }
        labels
    }
}

/// Top-level cgroups where a host (not a container) runs its own processes.
const HOST_TOP_LEVEL: [&str; 3] = ["init.scope", "system.slice", "user.slice"];

/// Whether a cgroup is part of the host rather than a container: the root
/// cgroup (kernel threads, unmanaged processes), and systemd's `init.scope`,
/// `system.slice` and `user.slice`, except containers inside them (Docker
/// and Kubernetes cgroups are containers wherever they sit). Every other
/// cgroup counts as a container.
pub fn is_host_cgroup(labels: &Labels) -> bool {
    if labels.container_id.is_some() || labels.pod_uid.is_some() {
        return false;
    }
    let trimmed = labels.cgroup.trim_start_matches('/');
    let top = trimmed.split('/').next().unwrap_or_default();
    trimmed.is_empty() || HOST_TOP_LEVEL.contains(&top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(path: &str) -> Labels {
        let mut labels = Labels {
            cgroup: path.into(),
            ..Labels::default()
        };
        match cgroup_path::parse(path, &KubepodsRoots::default()) {
            Owner::Kubernetes { pod_uid, .. } => labels.pod_uid = Some(pod_uid),
            Owner::Docker { container_id } => labels.container_id = Some(container_id),
            _ => {}
        }
        labels
    }

    #[test]
    fn host_and_container_paths() {
        let id = "a".repeat(64);
        assert!(is_host_cgroup(&labels("/")));
        assert!(is_host_cgroup(&labels("/init.scope")));
        assert!(is_host_cgroup(&labels("/system.slice/sshd.service")));
        assert!(is_host_cgroup(&labels(
            "/user.slice/user-1000.slice/session-2.scope"
        )));
        assert!(!is_host_cgroup(&labels(&format!(
            "/system.slice/docker-{id}.scope"
        ))));
        assert!(!is_host_cgroup(&labels(
            "/kubepods.slice/kubepods-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice"
        )));
        assert!(!is_host_cgroup(&labels("/pp-test-a")));
    }

    #[test]
    fn pairs_skip_unknown_labels() {
        let l = Labels {
            cgroup: "/x".into(),
            unit: Some("x.service".into()),
            ..Labels::default()
        };
        assert_eq!(
            l.pairs().collect::<Vec<_>>(),
            vec![("cgroup", "/x"), ("unit", "x.service")]
        );
    }
}
