//! Who a cgroup id belongs to. For now: its path below the cgroup2 root, and
//! whether that path is a container or part of the host.

use std::collections::HashMap;

use crate::cgroupfs::{CgroupLookup, CgroupResolver};

/// Resolves cgroup ids and remembers the last path each had, so a cgroup
/// removed between two scrapes can still be classified.
pub struct Identity {
    resolver: CgroupResolver,
    last_known: HashMap<u64, String>,
}

impl Identity {
    /// Wraps a resolver.
    pub fn new(resolver: CgroupResolver) -> Self {
        Self {
            resolver,
            last_known: HashMap::new(),
        }
    }

    /// Resolves `id` now.
    pub fn lookup(&mut self, id: u64) -> CgroupLookup {
        let lookup = self.resolver.lookup(id);
        if let CgroupLookup::Live(cgroup) = &lookup {
            self.last_known.insert(id, cgroup.path.clone());
        }
        lookup
    }

    /// The last path `id` was seen at, if any.
    pub fn last_known(&self, id: u64) -> Option<&str> {
        self.last_known.get(&id).map(String::as_str)
    }

    /// Forgets a removed cgroup.
    pub fn forget(&mut self, id: u64) {
        self.last_known.remove(&id);
    }
}

/// Top-level cgroups where a host (not a container) runs its own processes.
const HOST_TOP_LEVEL: [&str; 3] = ["init.scope", "system.slice", "user.slice"];

/// Leaf-name prefixes of container runtimes' scopes, which may sit under `system.slice`.
const CONTAINER_SCOPE_PREFIXES: [&str; 5] = [
    "docker-",
    "cri-containerd-",
    "crio-",
    "libpod-",
    "containerd-",
];

/// Whether a cgroup path is part of the host rather than a container: the
/// root cgroup (kernel threads, unmanaged processes), and systemd's
/// `init.scope`, `system.slice` and `user.slice`, except container runtime
/// scopes inside them. Every other cgroup counts as a container.
pub fn is_host_cgroup(path: &str) -> bool {
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() {
        return true;
    }
    let top = trimmed.split('/').next().unwrap_or_default();
    if !HOST_TOP_LEVEL.contains(&top) {
        return false;
    }
    !trimmed.split('/').any(|part| {
        CONTAINER_SCOPE_PREFIXES
            .iter()
            .any(|prefix| part.starts_with(prefix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_container_paths() {
        assert!(is_host_cgroup("/"));
        assert!(is_host_cgroup("/init.scope"));
        assert!(is_host_cgroup("/system.slice/sshd.service"));
        assert!(is_host_cgroup(
            "/user.slice/user-1000.slice/session-2.scope"
        ));
        assert!(!is_host_cgroup("/system.slice/docker-0123abcd.scope"));
        assert!(!is_host_cgroup(
            "/kubepods.slice/kubepods-pod1.slice/cri-containerd-ab.scope"
        ));
        assert!(!is_host_cgroup("/pp-test-a"));
    }
}
