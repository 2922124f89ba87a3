//! Slow storage for the storage verdict: a FUSE file system (in memory,
//! `tests/scripts/slow_fsync_fs.py`) whose fsync takes a set time.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command},
    thread,
    time::{Duration, Instant},
};

/// A mounted slow file system, unmounted on drop.
pub struct SlowFs {
    dir: PathBuf,
    daemon: Child,
}

impl SlowFs {
    /// Mounts one whose fsync sleeps `delay`, on a new folder.
    pub fn mount(delay: Duration) -> SlowFs {
        let dir = std::env::temp_dir().join(format!("pp-slowfs-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slow_fsync_fs.py");
        let daemon = Command::new("/usr/bin/python3")
            .arg(&script)
            .arg(&dir)
            .arg(delay.as_secs_f64().to_string())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
        let mut fs = SlowFs { dir, daemon };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !fs.mounted() {
            if let Ok(Some(status)) = fs.daemon.try_wait() {
                panic!(
                    "{} exited with {status} (is python3-fusepy installed? `cargo xtask test` \
                     installs it)",
                    script.display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the FUSE file system did not mount"
            );
            thread::sleep(Duration::from_millis(50));
        }
        fs
    }

    /// Where it is mounted.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn mounted(&self) -> bool {
        let target = self.dir.to_string_lossy();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|line| line.split(' ').nth(4) == Some(&*target) && line.contains(" fuse"))
    }
}

impl Drop for SlowFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = fs::remove_dir(&self.dir);
    }
}
