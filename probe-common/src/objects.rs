//! The two builds of the kernel object, one per place the kernel keeps
//! per-cgroup state, and how `cargo xtask` hands them to the agent's build.

/// The build with per-cgroup state in cgroup local storage (Linux 6.2+).
pub const STORAGE: Build = Build {
    feature: None,
    target_subdir: "",
    env: "PRESSURE_PROBE_EBPF_STORAGE_OBJ",
};

/// The build with per-cgroup state in hash maps keyed by cgroup id.
pub const HASH: Build = Build {
    feature: Some("cgroup-state-hash"),
    target_subdir: "ebpf-cgroup-state-hash",
    env: "PRESSURE_PROBE_EBPF_HASH_OBJ",
};

/// Both builds.
pub const BUILDS: [Build; 2] = [STORAGE, HASH];

/// One build of the kernel object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Build {
    /// The `probe-ebpf` feature that selects it.
    pub feature: Option<&'static str>,
    /// Its target folder below the workspace's `target/` (separate, so that
    /// the two builds do not rebuild each other).
    pub target_subdir: &'static str,
    /// The environment variable that points the agent's build at it.
    pub env: &'static str,
}

/// The object's path below a build's target folder.
pub const OBJECT_IN_TARGET: &str = "bpfel-unknown-none/release/probe-ebpf";
