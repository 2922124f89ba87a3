//! The cgroup v2 file system: where it is mounted, and cgroup id -> path.
//!
//! A cgroup id is the inode number of its directory, and cgroupfs accepts it
//! as a file handle (`FILEID_KERNFS`): `open_by_handle_at` turns an id into
//! the live directory in one system call, and fails with `ESTALE` once the
//! cgroup is removed (or, while a removed cgroup is still dying, opens an
//! empty directory). That tells a removed cgroup apart from one this process
//! cannot see, without walking the tree.

use std::{
    ffi::CString,
    fs,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};

/// `FILEID_KERNFS` from `include/linux/exportfs.h`: a handle holding the 64-bit kernfs node id.
const FILEID_KERNFS: i32 = 0xfe;

/// Finds the first cgroup2 mount point in the text of `/proc/self/mountinfo`.
pub fn find_cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mount_point = left.split_whitespace().nth(4)?;
        Some(PathBuf::from(unescape_octal(mount_point)))
    })
}

/// Undoes the `\040`-style escapes of mountinfo.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], code) {
            (b'\\', Some(code)) => {
                out.push(code);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup2 mount point of this host, from `/proc/self/mountinfo`.
pub fn discover_cgroup2_mount() -> Result<PathBuf> {
    let mountinfo =
        fs::read_to_string("/proc/self/mountinfo").context("cannot read /proc/self/mountinfo")?;
    match find_cgroup2_mount(&mountinfo) {
        Some(path) => Ok(path),
        None => bail!(
            "no cgroup2 file system is mounted (looked in /proc/self/mountinfo): \
             pressure-probe needs cgroup v2; mount it with `mount -t cgroup2 none /sys/fs/cgroup`"
        ),
    }
}

/// `CGROUP2_SUPER_MAGIC` from `include/uapi/linux/magic.h`.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Checks that `dir` is a cgroup2 file system (for `--cgroup-root`).
pub fn check_cgroup2(dir: &Path) -> Result<PathBuf> {
    let path = CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: statfs fills the zeroed struct; the path is NUL-terminated.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("--cgroup-root {}", dir.display()));
    }
    if stat.f_type as i64 != CGROUP2_SUPER_MAGIC {
        bail!(
            "--cgroup-root {} is not a cgroup2 file system: mount the host's cgroup2 tree there",
            dir.display()
        );
    }
    Ok(dir.to_owned())
}

/// What a cgroup id refers to now.
#[derive(Debug)]
pub enum CgroupLookup {
    /// Live.
    Live(LiveCgroup),
    /// Removed.
    Gone,
    /// Could not be resolved (no permission, or outside this cgroup namespace).
    Unknown,
}

/// A live cgroup, held open.
#[derive(Debug)]
pub struct LiveCgroup {
    /// Path below the cgroup2 root (`/` for the root itself).
    pub path: String,
    /// Its directory, open: the key of cgroup local storage maps.
    pub dir: OwnedFd,
}

/// Resolves cgroup ids to paths below the cgroup2 mount.
pub struct CgroupResolver {
    mount: PathBuf,
    mount_fd: OwnedFd,
}

#[repr(C)]
struct KernfsHandle {
    handle_bytes: u32,
    handle_type: i32,
    id: u64,
}

impl CgroupResolver {
    /// Opens the cgroup2 mount at `mount`.
    pub fn new(mount: &Path) -> Result<Self> {
        let path = CString::new(mount.as_os_str().as_bytes())?;
        // SAFETY: a valid NUL-terminated path; the returned fd is owned below.
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot open the cgroup2 mount {}", mount.display()));
        }
        Ok(Self {
            mount: mount.to_owned(),
            // SAFETY: fd was just opened and is not owned elsewhere.
            mount_fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Resolves one cgroup id and opens its directory.
    pub fn lookup(&self, id: u64) -> CgroupLookup {
        let mut handle = KernfsHandle {
            handle_bytes: 8,
            handle_type: FILEID_KERNFS,
            id,
        };
        // SAFETY: `handle` has the layout of `struct file_handle` with 8 bytes of handle.
        let fd = unsafe {
            libc::open_by_handle_at(
                self.mount_fd.as_raw_fd(),
                (&raw mut handle).cast(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::ESTALE) | Some(libc::ENOENT) => CgroupLookup::Gone,
                _ => CgroupLookup::Unknown,
            };
        }
        // SAFETY: fd was just opened and is not owned elsewhere.
        let dir = unsafe { OwnedFd::from_raw_fd(fd) };
        // A removed cgroup can still be opened by handle while it is dying
        // (something still holds it); its directory is empty then. A live
        // cgroup, the root included, always has cgroup.procs.
        // SAFETY: a valid directory fd and a NUL-terminated name.
        if unsafe { libc::faccessat(dir.as_raw_fd(), c"cgroup.procs".as_ptr(), libc::F_OK, 0) } != 0
        {
            return match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::ENOENT) => CgroupLookup::Gone,
                _ => CgroupLookup::Unknown,
            };
        }
        let Ok(path) = fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())) else {
            return CgroupLookup::Unknown;
        };
        match path.strip_prefix(&self.mount) {
            Ok(rel) => CgroupLookup::Live(LiveCgroup {
                path: format!("/{}", rel.display()),
                dir,
            }),
            Err(_) => CgroupLookup::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    const MOUNTINFO: &str = "\
22 1 0:21 / / rw,relatime - ext4 /dev/vda rw
35 22 0:30 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified\\040v2 rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
";

    #[test]
    fn finds_the_cgroup2_mount_and_unescapes_it() {
        assert_eq!(
            find_cgroup2_mount(MOUNTINFO),
            Some(PathBuf::from("/sys/fs/cgroup/unified v2"))
        );
    }

    #[test]
    fn cgroup_root_must_be_cgroup2() {
        let mount = discover_cgroup2_mount().unwrap();
        assert_eq!(check_cgroup2(&mount).unwrap(), mount);
        let err = check_cgroup2(Path::new("/tmp")).unwrap_err().to_string();
        assert!(err.contains("not a cgroup2 file system"), "{err}");
    }

    #[test]
    fn no_cgroup2_mount() {
        assert_eq!(
            find_cgroup2_mount("22 1 0:21 / / rw - ext4 /dev/vda rw\n"),
            None
        );
    }

    #[test]
    fn resolves_the_root_and_a_removed_cgroup() {
        let mount = discover_cgroup2_mount().expect("the test host has cgroup2");
        let resolver = CgroupResolver::new(&mount).unwrap();
        let path_of = |id| match resolver.lookup(id) {
            CgroupLookup::Live(cgroup) => Some(cgroup.path),
            CgroupLookup::Gone => None,
            CgroupLookup::Unknown => panic!("cgroup {id} could not be resolved"),
        };
        let root_id = fs::metadata(&mount).unwrap().ino();
        assert_eq!(path_of(root_id).as_deref(), Some("/"));

        let dir = mount.join(format!("pp-unit-{}", std::process::id()));
        fs::create_dir(&dir).unwrap();
        let id = fs::metadata(&dir).unwrap().ino();
        let expected = format!("/{}", dir.file_name().unwrap().to_string_lossy());
        assert_eq!(path_of(id), Some(expected));
        fs::remove_dir(&dir).unwrap();
        assert_eq!(path_of(id), None);
    }
}
