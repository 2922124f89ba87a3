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

/// The root of the host's cgroup2 hierarchy: `requested` (`--cgroup-root`)
/// or the first cgroup2 mount in `/proc/self/mountinfo`, checked to be the
/// root.
pub fn cgroup2_root(requested: Option<&Path>) -> Result<PathBuf> {
    match requested {
        Some(dir) => check_cgroup2(dir).context("--cgroup-root"),
        None => check_cgroup2(&discover_cgroup2_mount()?),
    }
}

/// The cgroup2 mount point of this host, from `/proc/self/mountinfo`.
fn discover_cgroup2_mount() -> Result<PathBuf> {
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

/// Checks that `dir` is the root of a cgroup2 hierarchy (for
/// `--cgroup-root`, and the mount found in mountinfo): a cgroup2 file system
/// whose directory is the root cgroup, not a cgroup below it (such as the
/// view of a container in its own cgroup namespace), which would hide every
/// cgroup outside it.
pub fn check_cgroup2(dir: &Path) -> Result<PathBuf> {
    let path = CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: statfs is plain data; all zeroes is a valid value.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: statfs fills the struct; the path is NUL-terminated.
    if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cgroup2 root {}", dir.display()));
    }
    if stat.f_type as i64 != CGROUP2_SUPER_MAGIC {
        bail!(
            "{} is not a cgroup2 file system: mount the host's cgroup2 tree there, or point \
             --cgroup-root at it",
            dir.display()
        );
    }
    // Every cgroup but the root has `cgroup.type`.
    if dir.join("cgroup.type").exists() {
        bail!(
            "{} is a cgroup below the root of its cgroup2 hierarchy (a child cgroup, or a \
             container's own cgroup namespace), which would hide every cgroup outside it: \
             point --cgroup-root at the root of the host's cgroup2 tree (in a container, a \
             read-only mount of the host's /sys/fs/cgroup)",
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
    /// Could not be opened (no permission).
    Unknown,
}

/// A live cgroup, held open.
#[derive(Debug)]
pub struct LiveCgroup {
    /// Path below the cgroup2 root (`/` for the root itself), as a label
    /// value (see [`path_label`]); `None` when it cannot be read (longer than
    /// `PATH_MAX`).
    pub path: Option<String>,
    /// Its directory, open: the key of cgroup local storage maps.
    pub dir: OwnedFd,
}

/// Resolves cgroup ids to paths below the cgroup2 root.
pub struct CgroupResolver {
    mount_fd: OwnedFd,
    /// Where the root is, as [`Self::refresh_root`] last read it.
    root: Option<PathBuf>,
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
        let mut resolver = Self {
            // SAFETY: fd was just opened and is not owned elsewhere.
            mount_fd: unsafe { OwnedFd::from_raw_fd(fd) },
            root: None,
        };
        resolver.refresh_root();
        Ok(resolver)
    }

    /// Reads where the root is now, as this process sees it, for the
    /// lookups that follow (once a sample: it was read again for each
    /// cgroup): from the open root itself, so that paths stay right if the
    /// mount is moved or lazily unmounted (its cgroups' paths are then
    /// relative to `/`).
    pub fn refresh_root(&mut self) {
        self.root = fs::read_link(format!("/proc/self/fd/{}", self.mount_fd.as_raw_fd())).ok();
    }

    /// Resolves one cgroup id and opens its directory.
    pub fn lookup(&self, id: u64) -> CgroupLookup {
        match self.open(id) {
            Ok(dir) => CgroupLookup::Live(LiveCgroup {
                path: self.path_of(&dir),
                dir,
            }),
            Err(other) => other,
        }
    }

    /// Opens cgroup `id`'s directory if it is live; otherwise what it is
    /// ([`CgroupLookup::Gone`] or [`CgroupLookup::Unknown`]).
    pub fn open(&self, id: u64) -> Result<OwnedFd, CgroupLookup> {
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
            return Err(match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::ESTALE) | Some(libc::ENOENT) => CgroupLookup::Gone,
                _ => CgroupLookup::Unknown,
            });
        }
        // SAFETY: fd was just opened and is not owned elsewhere.
        let dir = unsafe { OwnedFd::from_raw_fd(fd) };
        // A removed cgroup can still be opened by handle while it is dying
        // (something still holds it); its directory is empty then. A live
        // cgroup, the root included, always has cgroup.procs.
        // SAFETY: a valid directory fd and a NUL-terminated name.
        if unsafe { libc::faccessat(dir.as_raw_fd(), c"cgroup.procs".as_ptr(), libc::F_OK, 0) } != 0
        {
            return Err(match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::ENOENT) => CgroupLookup::Gone,
                _ => CgroupLookup::Unknown,
            });
        }
        Ok(dir)
    }

    /// The path below the root of the cgroup open as `dir`, as a label
    /// value; `None` when it cannot be read.
    fn path_of(&self, dir: &OwnedFd) -> Option<String> {
        fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd()))
            .ok()
            .zip(self.root.as_ref())
            .and_then(|(path, root)| {
                let relative = path.strip_prefix(root).ok()?;
                Some(path_label(relative.as_os_str().as_bytes()))
            })
    }
}

/// The label value of the cgroup at `relative` (below the cgroup2 root):
/// `/` and the path as is when it is UTF-8, which it nearly always is.
/// Otherwise `raw:/` and the path with every byte outside UTF-8, and every
/// backslash, written as `\xNN`: two paths never share a label value
/// (a lossy conversion would give `a\xff` and `a\xfe` the same one, and
/// Prometheus rejects a scrape with duplicate series), and no UTF-8 path
/// can look like an escaped one (those start with `/`).
pub fn path_label(relative: &[u8]) -> String {
    let mut label = String::with_capacity(relative.len() + 1);
    let mut rest = relative;
    let escaped = std::str::from_utf8(relative).is_err();
    if escaped {
        label.push_str("raw:");
    }
    label.push('/');
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(text) => (text, &[][..]),
            Err(err) => {
                let (valid, after) = rest.split_at(err.valid_up_to());
                let bad_len = err.error_len().unwrap_or(after.len());
                // The bytes up to `valid_up_to` are UTF-8 by definition.
                let valid = std::str::from_utf8(valid).unwrap_or_default();
                (valid, &after[..bad_len])
            }
        };
        for c in valid.chars() {
            if escaped && c == '\\' {
                label.push_str("\\x5c");
            } else {
                label.push(c);
            }
        }
        for byte in bad {
            label.push_str(&format!("\\x{byte:02x}"));
        }
        rest = &rest[valid.len() + bad.len()..];
    }
    label
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
    fn cgroup_root_must_be_the_root_of_cgroup2() {
        let mount = discover_cgroup2_mount().unwrap();
        assert_eq!(check_cgroup2(&mount).unwrap(), mount);
        let err = check_cgroup2(Path::new("/tmp")).unwrap_err().to_string();
        assert!(err.contains("not a cgroup2 file system"), "{err}");
        let child = mount.join(format!("pp-unit-child-{}", std::process::id()));
        fs::create_dir(&child).unwrap();
        let err = check_cgroup2(&child).unwrap_err().to_string();
        fs::remove_dir(&child).unwrap();
        assert!(err.contains("below the root"), "{err}");
    }

    #[test]
    fn path_labels_are_injective() {
        assert_eq!(path_label(b""), "/");
        assert_eq!(
            path_label(b"system.slice/a\\x2db.service"),
            "/system.slice/a\\x2db.service"
        );
        assert_eq!(path_label(b"rt-dup\xff"), "raw:/rt-dup\\xff");
        assert_eq!(path_label(b"rt-dup\xfe"), "raw:/rt-dup\\xfe");
        assert_eq!(path_label(b"a\\xff/\xc3"), "raw:/a\\x5cxff/\\xc3");
        assert_eq!(path_label(b"\xc3\xa9\xe9"), "raw:/é\\xe9");
    }

    proptest::proptest! {
        #[test]
        fn different_paths_get_different_labels(a: Vec<u8>, b: Vec<u8>) {
            proptest::prop_assume!(a != b);
            proptest::prop_assert_ne!(path_label(&a), path_label(&b));
        }
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
            CgroupLookup::Live(cgroup) => Some(cgroup.path.expect("a readable path")),
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
