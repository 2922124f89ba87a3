//! What a cgroup path says about its owner: a Kubernetes pod or container
//! (systemd or cgroupfs cgroup driver; containerd, CRI-O or Docker), a Docker
//! container, a systemd unit, or nothing more than its path.
//!
//! Pure string parsing, total over any input: it never panics. Kubernetes
//! is recognised only where the kubelet puts its pods: `kubepods.slice` or
//! `kubepods` at the top of the hierarchy, or the root given with
//! `--kubepods-root`. Whoever may make cgroups elsewhere (a delegated
//! subtree) cannot borrow a pod's namespace, name and container by copying
//! its path. (A Docker container id is recognised anywhere: it names no
//! one, and the `cgroup` label still tells the two apart.)

/// Kubernetes QoS class of a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    /// Requests equal limits (no QoS level in the cgroup path).
    Guaranteed,
    /// Requests below limits.
    Burstable,
    /// No requests.
    BestEffort,
}

impl Qos {
    /// The `qos` label value.
    pub fn label(self) -> &'static str {
        match self {
            Qos::Guaranteed => "guaranteed",
            Qos::Burstable => "burstable",
            Qos::BestEffort => "besteffort",
        }
    }
}

/// The owner of a cgroup, as far as its path tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A Kubernetes pod, or one of its containers.
    Kubernetes {
        /// QoS class.
        qos: Qos,
        /// Pod UID (with dashes).
        pod_uid: String,
        /// Container id (64 hex digits); `None` for the pod-level cgroup.
        container_id: Option<String>,
    },
    /// A Docker container outside Kubernetes.
    Docker {
        /// Container id (64 hex digits).
        container_id: String,
    },
    /// A systemd unit (`.service` or `.scope`).
    Unit {
        /// Unit name, e.g. `nginx.service`.
        unit: String,
    },
    /// Nothing but the path.
    Plain,
}

/// Where the kubelet puts its pods: the paths of its `kubepods` cgroups
/// below the cgroup2 root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubepodsRoots {
    roots: Vec<Vec<String>>,
}

impl Default for KubepodsRoots {
    /// The kubelet's defaults: `/kubepods.slice` (systemd cgroup driver) and
    /// `/kubepods` (cgroupfs driver).
    fn default() -> Self {
        Self::at(&["/kubepods.slice", "/kubepods"])
    }
}

impl KubepodsRoots {
    /// The kubelet's pods cgroups at `paths` (such as
    /// `/kubelet.slice/kubelet-kubepods.slice` for a kubelet started with its
    /// own `--cgroup-root`); the defaults when there are none.
    pub fn at(paths: &[impl AsRef<str>]) -> Self {
        if paths.is_empty() {
            return Self::default();
        }
        Self {
            roots: paths
                .iter()
                .map(|p| components(p.as_ref()).map(str::to_string).collect())
                .collect(),
        }
    }

    /// The components of `parts` below a pods cgroup, if it is inside one.
    fn below<'a, 'b>(&self, parts: &'a [&'b str]) -> Option<&'a [&'b str]> {
        self.roots.iter().find_map(|root| {
            let prefix = parts.get(..root.len())?;
            (prefix == root.as_slice()).then(|| &parts[root.len()..])
        })
    }
}

fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|p| !p.is_empty())
}

/// Reads the owner of the cgroup at `path` (below the cgroup2 root), with
/// the kubelet's pods under `kubepods`.
pub fn parse(path: &str, kubepods: &KubepodsRoots) -> Owner {
    let parts: Vec<&str> = components(path).collect();
    if let Some(below) = kubepods.below(&parts)
        && let Some(owner) = kubernetes(below)
    {
        return owner;
    }
    if let Some(container_id) = docker(&parts) {
        return Owner::Docker { container_id };
    }
    match parts
        .iter()
        .rev()
        .find(|p| p.ends_with(".service") || p.ends_with(".scope"))
    {
        Some(unit) => Owner::Unit {
            unit: unit.to_string(),
        },
        None => Owner::Plain,
    }
}

/// The components below the kubelet's pods cgroup.
fn kubernetes(parts: &[&str]) -> Option<Owner> {
    let mut rest = parts;
    let qos = match rest.first().copied() {
        Some(p) if p == "burstable" || p.ends_with("kubepods-burstable.slice") => Qos::Burstable,
        Some(p) if p == "besteffort" || p.ends_with("kubepods-besteffort.slice") => Qos::BestEffort,
        _ => Qos::Guaranteed,
    };
    if qos != Qos::Guaranteed {
        rest = &rest[1..];
    }
    let pod_uid = pod_uid(rest.first()?)?;
    let container_id = rest.get(1).and_then(|c| container_id(c));
    Some(Owner::Kubernetes {
        qos,
        pod_uid,
        container_id,
    })
}

/// `pod<uid>` (cgroupfs) or `kubepods[-<qos>]-pod<uid_with_underscores>.slice` (systemd).
fn pod_uid(part: &str) -> Option<String> {
    let raw = match part.strip_suffix(".slice") {
        Some(slice) => slice.rsplit_once("-pod")?.1.replace('_', "-"),
        None => part.strip_prefix("pod")?.to_string(),
    };
    is_uid(&raw).then_some(raw)
}

/// A container's cgroup: `<runtime>-<id>.scope` (systemd), `<id>` or
/// `crio-<id>` (cgroupfs). CRI-O's `crio-conmon-<id>` is the runtime's
/// monitor, not a container.
fn container_id(part: &str) -> Option<String> {
    let name = part.strip_suffix(".scope").unwrap_or(part);
    let id = ["cri-containerd-", "crio-", "docker-"]
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix))
        .unwrap_or(name);
    is_container_id(id).then(|| id.to_string())
}

/// `docker-<id>.scope` (systemd) or `docker/<id>` (cgroupfs).
fn docker(parts: &[&str]) -> Option<String> {
    parts.iter().enumerate().find_map(|(i, part)| {
        let id = match part.strip_prefix("docker-") {
            Some(rest) => rest.strip_suffix(".scope")?,
            None if *part == "docker" => parts.get(i + 1)?,
            None => return None,
        };
        is_container_id(id).then(|| id.to_string())
    })
}

/// A container id: 64 hex digits.
pub(crate) fn is_container_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A pod UID: 8-4-4-4-12 hex digits.
fn is_uid(uid: &str) -> bool {
    let groups: Vec<&str> = uid.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const UID: &str = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
    const ID: &str = "3f2a9c1e5b7d4f60a1b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdef0";

    fn parse(path: &str) -> Owner {
        super::parse(path, &KubepodsRoots::default())
    }

    fn pod(qos: Qos, container: Option<&str>) -> Owner {
        Owner::Kubernetes {
            qos,
            pod_uid: UID.into(),
            container_id: container.map(str::to_string),
        }
    }

    #[test]
    fn kubernetes_systemd_driver() {
        let u = UID.replace('-', "_");
        for (runtime, qos_part, qos) in [
            (
                "cri-containerd",
                "kubepods-burstable.slice/kubepods-burstable-pod",
                Qos::Burstable,
            ),
            (
                "crio",
                "kubepods-besteffort.slice/kubepods-besteffort-pod",
                Qos::BestEffort,
            ),
            ("docker", "kubepods-pod", Qos::Guaranteed),
        ] {
            let path = format!("/kubepods.slice/{qos_part}{u}.slice/{runtime}-{ID}.scope");
            assert_eq!(parse(&path), pod(qos, Some(ID)), "{path}");
            let pod_level = format!("/kubepods.slice/{qos_part}{u}.slice");
            assert_eq!(parse(&pod_level), pod(qos, None), "{pod_level}");
        }
    }

    #[test]
    fn kubernetes_cgroupfs_driver() {
        assert_eq!(
            parse(&format!("/kubepods/burstable/pod{UID}/{ID}")),
            pod(Qos::Burstable, Some(ID))
        );
        assert_eq!(
            parse(&format!("/kubepods/besteffort/pod{UID}/crio-{ID}")),
            pod(Qos::BestEffort, Some(ID))
        );
        assert_eq!(
            parse(&format!("/kubepods/pod{UID}/{ID}")),
            pod(Qos::Guaranteed, Some(ID))
        );
        assert_eq!(
            parse(&format!("/kubepods/pod{UID}")),
            pod(Qos::Guaranteed, None)
        );
    }

    #[test]
    fn conmon_is_pod_level() {
        let u = UID.replace('-', "_");
        let path = format!("/kubepods.slice/kubepods-pod{u}.slice/crio-conmon-{ID}.scope");
        assert_eq!(parse(&path), pod(Qos::Guaranteed, None));
    }

    #[test]
    fn kubepods_below_the_top_is_not_a_pod() {
        // Whoever owns /rt-x may make this path: it must not pass for the pod.
        let spoof = format!("/rt-x-inj/rt-spoof/kubepods/burstable/pod{UID}/{ID}");
        assert_eq!(parse(&spoof), Owner::Plain);
        let u = UID.replace('-', "_");
        let spoof =
            format!("/user.slice/kubepods.slice/kubepods-pod{u}.slice/cri-containerd-{ID}.scope");
        assert_eq!(
            parse(&spoof),
            Owner::Unit {
                unit: format!("cri-containerd-{ID}.scope")
            }
        );
    }

    #[test]
    fn kubepods_root_from_the_kubelet() {
        let u = UID.replace('-', "_");
        let root = KubepodsRoots::at(&["/kubelet.slice/kubelet-kubepods.slice"]);
        let path = format!(
            "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/\
             kubelet-kubepods-burstable-pod{u}.slice/cri-containerd-{ID}.scope"
        );
        assert_eq!(super::parse(&path, &root), pod(Qos::Burstable, Some(ID)));
        // With a root given, the default places are not pods.
        let default_place = format!("/kubepods/burstable/pod{UID}/{ID}");
        assert_eq!(super::parse(&default_place, &root), Owner::Plain);
    }

    #[test]
    fn docker_systemd_units_and_plain() {
        let docker = Owner::Docker {
            container_id: ID.into(),
        };
        assert_eq!(parse(&format!("/system.slice/docker-{ID}.scope")), docker);
        assert_eq!(parse(&format!("/docker/{ID}")), docker);
        assert_eq!(
            parse("/system.slice/nginx.service"),
            Owner::Unit {
                unit: "nginx.service".into()
            }
        );
        assert_eq!(
            parse("/user.slice/user-1000.slice/session-2.scope"),
            Owner::Unit {
                unit: "session-2.scope".into()
            }
        );
        assert_eq!(parse("/"), Owner::Plain);
        assert_eq!(parse("/pp-test"), Owner::Plain);
        assert_eq!(parse("/kubepods.slice"), Owner::Plain);
        assert_eq!(parse("/kubepods/burstable/podnot-a-uid/x"), Owner::Plain);
    }

    proptest! {
        #[test]
        fn never_panics(path in any::<String>()) {
            let _ = parse(&path);
        }

        #[test]
        fn never_a_pod_outside_kubepods(path in "(/[^/]{0,80}){0,40}") {
            let top = path.split('/').find(|p| !p.is_empty());
            prop_assume!(top != Some("kubepods") && top != Some("kubepods.slice"));
            let is_pod = matches!(parse(&path), Owner::Kubernetes { .. });
            prop_assert!(!is_pod, "{} parsed as a pod", path);
        }

        #[test]
        fn odd_unicode_and_deep_paths(parts in prop::collection::vec("\\PC{0,12}", 0..200)) {
            let path = format!("/{}", parts.join("/"));
            let owner = parse(&path);
            if let Owner::Kubernetes { pod_uid, .. } = owner {
                prop_assert!(is_uid(&pod_uid));
                prop_assert!(path.starts_with("/kubepods/") || path.starts_with("/kubepods.slice/"));
            }
        }

        #[test]
        fn generated_pod_paths_parse_back(
            uid in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            id in "[0-9a-f]{64}",
            qos in 0..3usize,
            systemd in any::<bool>(),
            prefix in "(/[a-z.]{1,10}){0,2}",
        ) {
            // The kubelet's own --cgroup-root puts its pods below `prefix`.
            let root = KubepodsRoots::at(&[format!("{prefix}/{}", if systemd { "kubepods.slice" } else { "kubepods" })]);
            let qos = [Qos::Guaranteed, Qos::Burstable, Qos::BestEffort][qos];
            let path = if systemd {
                let level = match qos { Qos::Guaranteed => String::new(), q => format!("kubepods-{}.slice/", q.label()) };
                let pod = match qos { Qos::Guaranteed => "kubepods".to_string(), q => format!("kubepods-{}", q.label()) };
                format!("{prefix}/kubepods.slice/{level}{pod}-pod{}.slice/cri-containerd-{id}.scope", uid.replace('-', "_"))
            } else {
                let level = match qos { Qos::Guaranteed => String::new(), q => format!("{}/", q.label()) };
                format!("{prefix}/kubepods/{level}pod{uid}/{id}")
            };
            let expected = Owner::Kubernetes { qos, pod_uid: uid, container_id: Some(id) };
            prop_assert_eq!(super::parse(&path, &root), expected.clone());
            if prefix.is_empty() {
                prop_assert_eq!(parse(&path), expected);
            } else {
                let is_pod = matches!(parse(&path), Owner::Kubernetes { .. });
                prop_assert!(!is_pod, "{} parsed as a pod without its root", path);
            }
        }
    }
}
