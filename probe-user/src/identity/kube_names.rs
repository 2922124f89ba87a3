//! Kubernetes names (namespace, pod, container) from the node's own log
//! folders, without any API access:
//! - `<log root>/pods/<namespace>_<pod>_<uid>/<container>/`
//! - `<log root>/containers/<pod>_<namespace>_<container>-<container id>.log`
//!
//! Both are flat folders (no tree walk). They are read again when a lookup
//! misses, at most once per [`REFRESH_EVERY`].

use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::identity::cgroup_path::is_container_id;

/// Least time between two reads of the log folders.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// A pod's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNames {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Its containers' names, from its log folder.
    pub containers: Vec<String>,
}

/// Index of the names found under a log root.
pub struct KubeNames {
    root: PathBuf,
    pods: HashMap<String, PodNames>,
    containers: HashMap<String, String>,
    read_at: Option<Instant>,
    generation: u64,
}

impl KubeNames {
    /// An index of `root` (usually `/var/log`), read on first use.
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            pods: HashMap::new(),
            containers: HashMap::new(),
            read_at: None,
            generation: 0,
        }
    }

    /// The log root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Changes each time the folders are read: names looked up before and
    /// after the same generation are the same.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Reads the folders again if they were last read [`REFRESH_EVERY`] ago
    /// or more (or never).
    pub fn refresh_if_due(&mut self) {
        if self.read_at.is_none_or(|at| at.elapsed() >= REFRESH_EVERY) {
            self.refresh();
        }
    }

    /// Names of the pod with `uid`, and of its container `container_id`.
    pub fn lookup(
        &mut self,
        uid: &str,
        container_id: Option<&str>,
    ) -> (Option<&PodNames>, Option<&str>) {
        let known = self.pods.contains_key(uid)
            && container_id.is_none_or(|id| self.containers.contains_key(id));
        if !known {
            self.refresh_if_due();
        }
        let pod = self.pods.get(uid);
        let container = container_id
            .and_then(|id| self.containers.get(id))
            // A pod with one container folder: that is the one.
            .or_else(|| match pod.map(|p| p.containers.as_slice()) {
                Some([only]) if container_id.is_some() => Some(only),
                _ => None,
            })
            .map(String::as_str);
        (pod, container)
    }

    fn refresh(&mut self) {
        self.read_at = Some(Instant::now());
        self.generation += 1;
        self.pods = entries(&self.root.join("pods"))
            .filter_map(|(name, path)| {
                let mut parts = name.split('_');
                let (namespace, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
                if parts.next().is_some() {
                    return None;
                }
                let mut containers: Vec<String> = entries(&path).map(|(c, _)| c).collect();
                containers.sort();
                Some((
                    uid.to_string(),
                    PodNames {
                        namespace: namespace.into(),
                        pod: pod.into(),
                        containers,
                    },
                ))
            })
            .collect();
        self.containers = entries(&self.root.join("containers"))
            .filter_map(|(name, _)| {
                let stem = name.strip_suffix(".log")?;
                let (rest, id) = stem.rsplit_once('-')?;
                let container = rest.split('_').nth(2)?;
                is_container_id(id).then(|| (id.to_string(), container.to_string()))
            })
            .collect();
    }
}

/// (file name, path) of the entries of `dir`; none if it cannot be read.
fn entries(dir: &Path) -> impl Iterator<Item = (String, PathBuf)> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
    const ID: &str = "3f2a9c1e5b7d4f60a1b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdef0";

    fn tree(with_containers_dir: bool, containers: &[&str]) -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "pp-kube-names-{}-{with_containers_dir}-{}",
            std::process::id(),
            containers.len()
        ));
        let _ = fs::remove_dir_all(&root);
        for c in containers {
            fs::create_dir_all(root.join(format!("pods/shop_web-7f9c_{UID}/{c}"))).unwrap();
        }
        fs::create_dir_all(root.join("containers")).unwrap();
        if with_containers_dir {
            fs::write(
                root.join(format!(
                    "containers/web-7f9c_shop_{}-{ID}.log",
                    containers[0]
                )),
                "",
            )
            .unwrap();
        }
        root
    }

    #[test]
    fn names_from_both_folders() {
        let root = tree(true, &["nginx", "sidecar"]);
        let mut names = KubeNames::new(&root);
        let (pod, container) = names.lookup(UID, Some(ID));
        let pod = pod.unwrap();
        assert_eq!(
            (pod.namespace.as_str(), pod.pod.as_str()),
            ("shop", "web-7f9c")
        );
        assert_eq!(container, Some("nginx"));
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn single_container_pod_without_containers_folder() {
        let root = tree(false, &["app"]);
        let mut names = KubeNames::new(&root);
        assert_eq!(names.lookup(UID, Some(ID)).1, Some("app"));
        assert_eq!(
            names.lookup(UID, None).1,
            None,
            "a pod-level cgroup has no container"
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn missing_root_is_no_names() {
        let mut names = KubeNames::new(Path::new("/nonexistent/pp-log-root"));
        assert_eq!(names.lookup(UID, Some(ID)), (None, None));
    }
}
