//! Real cgroups under the host's cgroup2 mount, removed on drop even when the
//! test fails.

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// The cgroup2 mount point, from `/proc/self/mountinfo`.
pub fn cgroup2_mount() -> PathBuf {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            (right.split_whitespace().next()? == "cgroup2")
                .then(|| PathBuf::from(left.split_whitespace().nth(4).unwrap()))
        })
        .expect("the test host has no cgroup2 mount")
}

/// A cgroup made for a test, with any cgroups made below it.
pub struct TestCgroup {
    dir: PathBuf,
    label: String,
}

impl TestCgroup {
    /// Makes `<cgroup2 mount>/<name>-<pid>`.
    pub fn create(name: &str) -> TestCgroup {
        let leaf = format!("{name}-{}", std::process::id());
        let dir = cgroup2_mount().join(&leaf);
        if dir.exists() {
            remove_tree(&dir);
        }
        fs::create_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot make cgroup {}: {e}", dir.display()));
        TestCgroup {
            dir,
            label: format!("/{leaf}"),
        }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The value the agent puts in the `cgroup` label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Its cgroup id (the directory's inode).
    pub fn id(&self) -> u64 {
        fs::metadata(&self.dir).unwrap().ino()
    }

    /// Makes `relative` (and its parents) below it; returns (dir, label).
    pub fn add(&self, relative: &str) -> (PathBuf, String) {
        let dir = self.dir.join(relative);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
        (dir, format!("{}/{relative}", self.label))
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        remove_tree(&self.dir);
    }
}

/// Removes `dir` and every cgroup below it, leaves first.
fn remove_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    remove(dir);
}

/// Kills whatever runs in `dir`, then removes it.
fn remove(dir: &Path) {
    let _ = fs::write(dir.join("cgroup.kill"), "1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("warning: could not remove test cgroup {}", dir.display());
}
