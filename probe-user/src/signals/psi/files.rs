//! The kernel's pressure stall information (PSI) of a cgroup: the time some
//! or all of its tasks stalled on CPU, memory or I/O, from its
//! `cpu.pressure`, `memory.pressure` and `io.pressure` files (the `total=`
//! microseconds of the `some` and `full` lines).

use std::{
    collections::{HashMap, HashSet},
    ffi::CStr,
    fs::File,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::fs::FileExt,
    },
};

/// A resource PSI reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Waiting for a CPU.
    Cpu,
    /// Waiting for memory (reclaim, refaults, swap-in).
    Memory,
    /// Waiting for I/O.
    Io,
}

impl Resource {
    /// Every resource, in export order.
    pub const ALL: [Resource; 3] = [Resource::Cpu, Resource::Memory, Resource::Io];

    /// The `resource` label value.
    pub fn label(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
            Resource::Io => "io",
        }
    }

    fn file(self) -> &'static CStr {
        match self {
            Resource::Cpu => c"cpu.pressure",
            Resource::Memory => c"memory.pressure",
            Resource::Io => c"io.pressure",
        }
    }
}

/// A cgroup's stall totals, in microseconds: `[resource][some, full]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Psi(pub [[u64; 2]; 3]);

/// The pressure files of the cgroups whose PSI was read at the last
/// samples, kept open: opening and closing three files per cgroup and
/// sample took a quarter of a sample. A kept file is read again from its
/// start, which makes the kernel write it anew; each holds a page of
/// kernel memory for its text while open (12 KiB a cgroup, charged to the
/// agent's cgroup: 12 MiB for the 1,024 kept at most).
pub struct PressureFiles {
    open: HashMap<u64, [File; 3]>,
    /// The cgroups read since the last sweep.
    read: HashSet<u64>,
    /// At most this many cgroups' files are kept open; the others' are
    /// opened and closed at each read.
    max_open: usize,
}

impl Default for PressureFiles {
    /// Keeps at most 1,024 cgroups' files open, and at most a quarter of
    /// the open-file limit: the cgroups opened while sampling and the HTTP
    /// connections need the rest.
    fn default() -> Self {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the plain struct it is given.
        let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
        } else {
            0
        };
        PressureFiles::keeping(Self::MAX_OPEN.min(soft / 4 / 3))
    }
}

impl PressureFiles {
    /// At most this many cgroups' files are kept open (three fds and three
    /// pages of kernel memory each): the default `--max-cgroups`' worth.
    const MAX_OPEN: usize = 1024;

    /// Files kept open for at most `max_open` cgroups.
    fn keeping(max_open: usize) -> Self {
        PressureFiles {
            open: HashMap::new(),
            read: HashSet::new(),
            max_open,
        }
    }

    /// The PSI totals of cgroup `id`, open as `dir`; `None` when a file
    /// cannot be read (the root cgroup has none, and a kernel may have no
    /// PSI).
    pub fn read(&mut self, id: u64, dir: &OwnedFd) -> Option<Psi> {
        self.read.insert(id);
        if let Some(files) = self.open.get(&id) {
            if let Some(psi) = totals(files) {
                return Some(psi);
            }
            // Its cgroup went, or a file broke: open them again.
            self.open.remove(&id);
        }
        let files = open(dir)?;
        let psi = totals(&files)?;
        if self.open.len() < self.max_open {
            self.open.insert(id, files);
        }
        Some(psi)
    }

    /// Closes the files of the cgroups not read since the last sweep
    /// (removed, or folded into `other`, which has no PSI).
    pub fn sweep(&mut self) {
        let read = std::mem::take(&mut self.read);
        self.open.retain(|id, _| read.contains(id));
    }

    /// Closes a removed cgroup's files.
    pub fn forget(&mut self, id: u64) {
        self.open.remove(&id);
    }
}

/// Opens the pressure files of the cgroup open as `dir`, in
/// [`Resource::ALL`]'s order.
fn open(dir: &OwnedFd) -> Option<[File; 3]> {
    let open = |resource: Resource| {
        // SAFETY: a valid directory fd and a NUL-terminated name; the new
        // fd is owned by the File below.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                resource.file().as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        // SAFETY: fd was just opened and is not owned elsewhere.
        (fd >= 0).then(|| File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    };
    Some([
        open(Resource::Cpu)?,
        open(Resource::Memory)?,
        open(Resource::Io)?,
    ])
}

/// The totals the pressure `files` hold now.
fn totals(files: &[File; 3]) -> Option<Psi> {
    let mut psi = Psi::default();
    for (resource, file) in Resource::ALL.into_iter().zip(files) {
        let mut text = [0u8; PRESSURE_FILE_MAX];
        let len = read_from_start(file, &mut text)?;
        psi.0[resource as usize] = parse(std::str::from_utf8(&text[..len]).ok()?)?;
    }
    Some(psi)
}

/// Bytes a pressure file holds at most: two lines of four fields, the
/// averages at most `100.00` and the total a `u64` (149 bytes).
const PRESSURE_FILE_MAX: usize = 256;

/// Reads `file` whole from its start into `buf` with plain `pread` calls
/// (no size probe, no seek: the sampler reads thousands of these a
/// second); `None` if it does not fit or cannot be read.
fn read_from_start(file: &File, buf: &mut [u8]) -> Option<usize> {
    let mut len = 0;
    while len < buf.len() {
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) => return Some(len),
            Ok(n) => len += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    None
}

/// The `total=` of the `some` and `full` lines of a pressure file (a file
/// without a `full` line, as `cpu.pressure` before Linux 5.13, reads 0).
fn parse(text: &str) -> Option<[u64; 2]> {
    let total = |kind: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(kind))?;
        line.split_whitespace()
            .find_map(|field| field.strip_prefix("total="))?
            .parse()
            .ok()
    };
    Some([total("some ")?, total("full ").unwrap_or(0)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_of_both_lines() {
        let text = "some avg10=0.00 avg60=1.50 avg300=0.20 total=123456\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=789\n";
        assert_eq!(parse(text), Some([123_456, 789]));
        assert_eq!(
            parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n"),
            Some([5, 0])
        );
        assert_eq!(parse("garbage"), None);
    }

    #[test]
    fn reads_a_cgroup_of_this_host() {
        crate::kernel::signals::psi_available().expect("the test host has PSI");
        let mount = crate::identity::cgroupfs::cgroup2_root(None).unwrap();
        let child = mount.join(format!("pp-unit-psi-{}", std::process::id()));
        std::fs::create_dir(&child).unwrap();
        let dir = OwnedFd::from(File::open(&child).unwrap());
        let mut files = PressureFiles::keeping(1);
        let first = files.read(1, &dir);
        let again = files.read(1, &dir);
        assert_eq!(files.open.len(), 1, "its files are kept open");
        assert!(files.read(2, &dir).is_some(), "read past the bound");
        assert_eq!(files.open.len(), 1, "at most max_open are kept");
        files.sweep();
        files.sweep();
        assert!(files.open.is_empty(), "a cgroup not read is closed");
        std::fs::remove_dir(&child).unwrap();
        assert!(
            first.is_some() && again.is_some(),
            "no PSI for a new cgroup"
        );
    }
}
