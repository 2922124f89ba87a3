//! A kubelet's log folders, which name a pod's namespace, pod and
//! containers for the agent (`--log-root`).

use std::{fs, path::Path};

/// A pod for the log tree: namespace, name, UID, (container, container id).
pub type LoggedPod<'a> = (&'a str, &'a str, String, &'a [(&'a str, String)]);

/// `pods/<ns>_<pod>_<uid>/<container>/0.log` and
/// `containers/<pod>_<ns>_<container>-<id>.log`, as the kubelet writes them.
pub fn log_tree(root: &Path, pods: &[LoggedPod]) {
    for (ns, pod, uid, containers) in pods {
        for (name, id) in *containers {
            let dir = root.join(format!("pods/{ns}_{pod}_{uid}/{name}"));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("0.log"), "").unwrap();
            fs::create_dir_all(root.join("containers")).unwrap();
            fs::write(
                root.join(format!("containers/{pod}_{ns}_{name}-{id}.log")),
                "",
            )
            .unwrap();
        }
    }
}
