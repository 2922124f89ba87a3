//! What a cgroup path says about its owner: a Kubernetes pod or container
//! (systemd or cgroupfs cgroup driver; containerd, CRI-O or Docker), a Docker
//! container, a systemd unit, or nothing more than its path.
//!
//! Pure string parsing, total over any input: it never panics, and it only
//! says "pod" when the path has a `kubepods` component followed by a
//! well-formed pod UID.

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

/// Reads the owner of the cgroup at `path` (below the cgroup2 root).
pub fn parse(path: &str) -> Owner {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if let Some(start) = parts
        .iter()
        .position(|p| *p == "kubepods" || *p == "kubepods.slice")
        && let Some(owner) = kubernetes(&parts[start + 1..])
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

/// The components after `kubepods`/`kubepods.slice`.
fn kubernetes(parts: &[&str]) -> Option<Owner> {
    let mut rest = parts;
    let qos = match rest.first().copied() {
        Some("burstable" | "kubepods-burstable.slice") => Qos::Burstable,
        Some("besteffort" | "kubepods-besteffort.slice") => Qos::BestEffort,
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
        fn never_a_pod_without_kubepods(path in "(/[^/]{0,80}){0,40}") {
            prop_assume!(!path.split('/').any(|p| p == "kubepods" || p == "kubepods.slice"));
            let is_pod = matches!(parse(&path), Owner::Kubernetes { .. });
            prop_assert!(!is_pod, "{} parsed as a pod", path);
        }

        #[test]
        fn odd_unicode_and_deep_paths(parts in prop::collection::vec("\\PC{0,12}", 0..200)) {
            let path = format!("/{}", parts.join("/"));
            let owner = parse(&path);
            if let Owner::Kubernetes { pod_uid, .. } = owner {
                prop_assert!(is_uid(&pod_uid));
                prop_assert!(path.contains("kubepods"));
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
            let qos = [Qos::Guaranteed, Qos::Burstable, Qos::BestEffort][qos];
            let path = if systemd {
                let level = match qos { Qos::Guaranteed => String::new(), q => format!("kubepods-{}.slice/", q.label()) };
                let pod = match qos { Qos::Guaranteed => "kubepods".to_string(), q => format!("kubepods-{}", q.label()) };
                format!("{prefix}/kubepods.slice/{level}{pod}-pod{}.slice/cri-containerd-{id}.scope", uid.replace('-', "_"))
            } else {
                let level = match qos { Qos::Guaranteed => String::new(), q => format!("{}/", q.label()) };
                format!("{prefix}/kubepods/{level}pod{uid}/{id}")
            };
            prop_assert_eq!(parse(&path), Owner::Kubernetes { qos, pod_uid: uid, container_id: Some(id) });
        }
    }
}
