//! Syscall classes, defined once for every architecture, and the map layouts
//! of the syscall signal.
//!
//! A class is chosen by the syscall's name, which is the same on every
//! architecture; the agent turns names into this machine's numbers (x86_64
//! or aarch64) and hands the kernel programs a number -> class table. The
//! read and write family is classed by what its file descriptor is
//! ([`BY_FD`], [`class_of_mode`]): a socket read waits on a peer, a pipe
//! read on another process, only a file read on storage. A 32-bit compat
//! syscall (numbered in another table) is `other`.

use crate::histogram::Histogram;

/// What a syscall does, from the point of view of pressure.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallClass {
    /// Files and file descriptors: read, write, open, stat, ...
    FileIo = 0,
    /// Sockets: connect, send, recv, ...
    NetIo = 1,
    /// Waiting by design: epoll/poll/select, sleeps, futex, wait4, accept, ...
    Wait = 2,
    /// Durability: fsync, fdatasync, sync_file_range, msync, ...
    Sync = 3,
    /// Address space: mmap, munmap, brk, madvise, mprotect, ...
    Memory = 4,
    /// Processes and threads: clone, execve, kill, ...
    Process = 5,
    /// Everything else.
    Other = 6,
}

/// Number of classes.
pub const CLASSES: usize = 7;

/// Table value of the syscalls that never return (`exit`, `exit_group`)
/// or whose return is not their own (`rt_sigreturn`): their entry must not
/// be kept.
pub const NO_RETURN: u8 = 0xff;

/// Table value of the read and write family: the class is what the file
/// descriptor in the first argument is ([`class_of_mode`] of its inode).
pub const BY_FD: u8 = 0xfe;

/// The class of a read or write on a file whose inode has mode `mode`:
/// a socket is `net_io`; a pipe, a FIFO or an anonymous inode (eventfd,
/// timerfd, signalfd, inotify: no file type) is waited on by design, `wait`;
/// a regular file, a block device or a directory is `file_io`; a character
/// device (a terminal, `/dev/null`) is `other`.
#[inline(always)]
pub const fn class_of_mode(mode: u16) -> SyscallClass {
    const S_IFMT: u16 = 0o170000;
    match mode & S_IFMT {
        0o140000 => SyscallClass::NetIo,
        0o010000 | 0 => SyscallClass::Wait,
        0o100000 | 0o060000 | 0o040000 => SyscallClass::FileIo,
        _ => SyscallClass::Other,
    }
}

/// Whether `ret`, an error code, tells of no failure: `EAGAIN` (a
/// nonblocking call with nothing to do, an event loop's normal case),
/// `EINPROGRESS` (a nonblocking connect under way, its normal case) and
/// the kernel's restart codes (`ERESTARTSYS` to `ERESTART_RESTARTBLOCK`: a
/// call a signal interrupted, restarted or returned as `EINTR`), which the
/// syscall's exit sees before signal delivery turns them into either.
pub const fn not_an_error(ret: i64) -> bool {
    const EAGAIN: i64 = 11;
    const EINPROGRESS: i64 = 115;
    const ERESTARTSYS: i64 = 512;
    const ERESTART_RESTARTBLOCK: i64 = 516;
    ret == -EAGAIN || ret == -EINPROGRESS || (-ERESTART_RESTARTBLOCK <= ret && ret <= -ERESTARTSYS)
}

/// Entries in the number -> class table; higher numbers are [`SyscallClass::Other`].
pub const TABLE_SIZE: usize = 512;

/// Default number of entry slots (a power of two), indexed by thread id.
pub const SLOTS: u32 = 1 << 16;

/// Name of the per-cgroup state map of the `cgroup-state-hash` build.
pub const STATE_MAP: &str = "SYSCALL_STATE";
/// Name of the per-cgroup local storage of the default build.
pub const STORAGE_MAP: &str = "SYSCALL_STORAGE";
/// Name of the entry slot array.
pub const SLOTS_MAP: &str = "SYSCALL_SLOTS";
/// Name of the task storage holding the entry of a thread whose slot holds
/// another thread's syscall.
pub const SPILL_MAP: &str = "SYSCALL_SPILL";

/// Classed by their file descriptor ([`BY_FD`]): the first argument is it.
const BY_FD_NAMES: &[&str] = &[
    "read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2",
    "pwritev2",
];

const FILE_IO: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "close_range",
    "lseek",
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "getdents",
    "getdents64",
    "readlink",
    "readlinkat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "rmdir",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "truncate",
    "ftruncate",
    "fallocate",
    "sendfile",
    "splice",
    "tee",
    "vmsplice",
    "copy_file_range",
    "readahead",
    "fadvise64",
    "mknod",
    "mknodat",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "statfs",
    "fstatfs",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "io_setup",
    "io_destroy",
    "io_submit",
    "io_cancel",
    "name_to_handle_at",
    "open_by_handle_at",
    "cachestat",
];

const NET_IO: &[&str] = &[
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
    "getsockopt",
    "setsockopt",
    "getsockname",
    "getpeername",
];

const WAIT: &[&str] = &[
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "pause",
    "nanosleep",
    "clock_nanosleep",
    "futex",
    "futex_waitv",
    "futex_wait",
    "wait4",
    "waitid",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "io_uring_enter",
    // Waits for asynchronous I/O to complete: an idle database's reaper
    // threads block here by design.
    "io_getevents",
    "io_pgetevents",
    "accept",
    "accept4",
    "flock",
    "msgrcv",
    "semop",
    "semtimedop",
    "mq_timedreceive",
];

const SYNC: &[&str] = &[
    "fsync",
    "fdatasync",
    "sync",
    "syncfs",
    "sync_file_range",
    "msync",
];

const MEMORY: &[&str] = &[
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "pkey_mprotect",
    "brk",
    "madvise",
    "process_madvise",
    "mlock",
    "mlock2",
    "munlock",
    "mlockall",
    "munlockall",
    "mincore",
    "remap_file_pages",
    "mbind",
    "set_mempolicy",
    "get_mempolicy",
    "migrate_pages",
    "move_pages",
    "process_vm_readv",
    "process_vm_writev",
    "map_shadow_stack",
    "mseal",
];

const PROCESS: &[&str] = &[
    "clone",
    "clone3",
    "fork",
    "vfork",
    "execve",
    "execveat",
    "kill",
    "tkill",
    "tgkill",
    "unshare",
    "setns",
    "ptrace",
    "pidfd_open",
    "pidfd_send_signal",
    "pidfd_getfd",
];

/// Syscalls whose exit is not their own: `exit` and `exit_group` never
/// return, and `rt_sigreturn` returns the interrupted code's registers (an
/// interrupted syscall's `-EINTR` would read as its error).
const NEVER_RETURN: &[&str] = &["exit", "exit_group", "rt_sigreturn"];

impl SyscallClass {
    /// Every class, in index order.
    pub const ALL: [SyscallClass; CLASSES] = [
        SyscallClass::FileIo,
        SyscallClass::NetIo,
        SyscallClass::Wait,
        SyscallClass::Sync,
        SyscallClass::Memory,
        SyscallClass::Process,
        SyscallClass::Other,
    ];

    /// The `class` label value.
    pub const fn label(self) -> &'static str {
        match self {
            SyscallClass::FileIo => "file_io",
            SyscallClass::NetIo => "net_io",
            SyscallClass::Wait => "wait",
            SyscallClass::Sync => "sync",
            SyscallClass::Memory => "memory",
            SyscallClass::Process => "process",
            SyscallClass::Other => "other",
        }
    }

    /// The syscall names listed for this class (empty for `Other`, which is
    /// everything not listed).
    pub const fn members(self) -> &'static [&'static str] {
        match self {
            SyscallClass::FileIo => FILE_IO,
            SyscallClass::NetIo => NET_IO,
            SyscallClass::Wait => WAIT,
            SyscallClass::Sync => SYNC,
            SyscallClass::Memory => MEMORY,
            SyscallClass::Process => PROCESS,
            SyscallClass::Other => &[],
        }
    }

    /// The class of the syscall called `name`.
    pub fn of(name: &str) -> SyscallClass {
        Self::ALL
            .into_iter()
            .find(|class| class.members().contains(&name))
            .unwrap_or(SyscallClass::Other)
    }
}

/// The table value for the syscall called `name`: its class, [`BY_FD`]
/// for the read and write family (`FileIo` where the kernel's file
/// descriptors cannot be read, `by_fd` false), or [`NO_RETURN`].
pub fn table_value(name: &str, by_fd: bool) -> u8 {
    if NEVER_RETURN.contains(&name) {
        NO_RETURN
    } else if BY_FD_NAMES.contains(&name) {
        if by_fd {
            BY_FD
        } else {
            SyscallClass::FileIo as u8
        }
    } else {
        SyscallClass::of(name) as u8
    }
}

/// Architectures with a syscall table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x86_64 (64-bit syscalls; a 32-bit compat syscall is `other`).
    X86_64,
    /// aarch64 (the asm-generic numbering).
    Aarch64,
}

/// The number -> class table for `arch` (`by_fd`: see [`table_value`]).
#[cfg(feature = "user")]
pub fn class_table(arch: Arch, by_fd: bool) -> [u8; TABLE_SIZE] {
    let mut table = [SyscallClass::Other as u8; TABLE_SIZE];
    for (nr, entry) in table.iter_mut().enumerate() {
        let name = match arch {
            Arch::X86_64 => syscalls::x86_64::Sysno::new(nr).map(|s| s.name()),
            Arch::Aarch64 => syscalls::aarch64::Sysno::new(nr).map(|s| s.name()),
        };
        if let Some(name) = name {
            *entry = table_value(name, by_fd);
        }
    }
    table
}

/// The architecture this agent was built for, if it has a table.
pub const fn host_arch() -> Option<Arch> {
    if cfg!(target_arch = "x86_64") {
        Some(Arch::X86_64)
    } else if cfg!(target_arch = "aarch64") {
        Some(Arch::Aarch64)
    } else {
        None
    }
}

/// A thread inside a syscall (`tid` unused in the thread's own storage).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SyscallSlot {
    /// Thread id that owns the entry.
    pub tid: u32,
    /// Class of the syscall.
    pub class: u32,
    /// `bpf_ktime_get_ns()` at entry; 0 when the slot is free.
    pub entered_ns: u64,
}

/// Syscall state kept in each cgroup's local storage.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CgroupSyscalls {
    /// Duration per class.
    pub latency: [Histogram; CLASSES],
    /// Syscalls that returned an error (-4095..=-1), per class.
    pub errors: [u64; CLASSES],
    /// Syscalls that took longer than their class's slow threshold (the
    /// verdict's, set by the agent in `SYSCALL_SLOW_NS`), per class: the
    /// exact count above a bound that is not one of the buckets'.
    pub slow: [u64; CLASSES],
    /// Non-zero once the cgroup id is listed for the agent.
    pub registered: u64,
}

#[cfg(feature = "user")]
// SAFETY: `SyscallSlot` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for SyscallSlot {}
#[cfg(feature = "user")]
// SAFETY: `CgroupSyscalls` is `repr(C)` plain old data (integers only, no padding).
unsafe impl aya::Pod for CgroupSyscalls {}

#[cfg(all(test, feature = "user"))]
mod tests {
    use super::*;

    fn class_at(arch: Arch, nr: usize) -> u8 {
        class_table(arch, true)[nr]
    }

    #[test]
    fn would_block_and_restarts_are_no_errors() {
        for ret in [-11, -512, -513, -514, -515, -516] {
            assert!(not_an_error(ret), "{ret}");
        }
        for ret in [-1, -2, -4, -9, -10, -12, -511, -517, -4095, 0] {
            assert!(!not_an_error(ret), "{ret}");
        }
    }

    #[test]
    fn x86_64_numbers() {
        let x = Arch::X86_64;
        assert_eq!(class_at(x, 0), BY_FD); // read
        assert_eq!(class_at(x, 19), BY_FD); // readv
        assert_eq!(class_table(x, false)[0], SyscallClass::FileIo as u8);
        assert_eq!(class_at(x, 2), SyscallClass::FileIo as u8); // open
        assert_eq!(class_at(x, 208), SyscallClass::Wait as u8); // io_getevents
        assert_eq!(class_at(x, 35), SyscallClass::Wait as u8); // nanosleep
        assert_eq!(class_at(x, 74), SyscallClass::Sync as u8); // fsync
        assert_eq!(class_at(x, 9), SyscallClass::Memory as u8); // mmap
        assert_eq!(class_at(x, 42), SyscallClass::NetIo as u8); // connect
        assert_eq!(class_at(x, 232), SyscallClass::Wait as u8); // epoll_wait
        assert_eq!(class_at(x, 202), SyscallClass::Wait as u8); // futex
        assert_eq!(class_at(x, 59), SyscallClass::Process as u8); // execve
        assert_eq!(class_at(x, 60), NO_RETURN); // exit
        assert_eq!(class_at(x, 231), NO_RETURN); // exit_group
        assert_eq!(class_at(x, 15), NO_RETURN); // rt_sigreturn
        assert_eq!(class_at(x, 39), SyscallClass::Other as u8); // getpid
        assert_eq!(class_at(x, 110), SyscallClass::Other as u8); // getppid
    }

    #[test]
    fn aarch64_numbers() {
        let a = Arch::Aarch64;
        assert_eq!(class_at(a, 63), BY_FD); // read
        assert_eq!(class_at(a, 4), SyscallClass::Wait as u8); // io_getevents
        assert_eq!(class_at(a, 56), SyscallClass::FileIo as u8); // openat
        assert_eq!(class_at(a, 101), SyscallClass::Wait as u8); // nanosleep
        assert_eq!(class_at(a, 82), SyscallClass::Sync as u8); // fsync
        assert_eq!(class_at(a, 222), SyscallClass::Memory as u8); // mmap
        assert_eq!(class_at(a, 203), SyscallClass::NetIo as u8); // connect
        assert_eq!(class_at(a, 22), SyscallClass::Wait as u8); // epoll_pwait
        assert_eq!(class_at(a, 98), SyscallClass::Wait as u8); // futex
        assert_eq!(class_at(a, 93), NO_RETURN); // exit
        assert_eq!(class_at(a, 94), NO_RETURN); // exit_group
        assert_eq!(class_at(a, 139), NO_RETURN); // rt_sigreturn
        assert_eq!(class_at(a, 173), SyscallClass::Other as u8); // getppid
    }

    #[test]
    fn idle_waits_are_never_io() {
        for name in [
            "epoll_wait",
            "epoll_pwait",
            "poll",
            "select",
            "pause",
            "nanosleep",
            "clock_nanosleep",
            "futex",
            "wait4",
        ] {
            assert_eq!(SyscallClass::of(name), SyscallClass::Wait, "{name}");
        }
    }

    #[test]
    fn reads_are_classed_by_what_they_read() {
        assert_eq!(class_of_mode(0o140777), SyscallClass::NetIo); // socket
        assert_eq!(class_of_mode(0o010600), SyscallClass::Wait); // pipe
        assert_eq!(class_of_mode(0o000600), SyscallClass::Wait); // eventfd
        assert_eq!(class_of_mode(0o100644), SyscallClass::FileIo); // file
        assert_eq!(class_of_mode(0o060660), SyscallClass::FileIo); // block device
        assert_eq!(class_of_mode(0o020620), SyscallClass::Other); // terminal
    }

    #[test]
    fn every_listed_name_exists_on_some_architecture() {
        let known = |name: &str| {
            (0..TABLE_SIZE).any(|nr| {
                syscalls::x86_64::Sysno::new(nr).is_some_and(|s| s.name() == name)
                    || syscalls::aarch64::Sysno::new(nr).is_some_and(|s| s.name() == name)
            })
        };
        for class in SyscallClass::ALL {
            for name in class.members() {
                assert!(known(name), "{name} ({}) is not a syscall", class.label());
            }
        }
        for name in BY_FD_NAMES {
            assert!(known(name), "{name} is not a syscall");
        }
    }

    #[test]
    fn no_name_in_two_classes() {
        for a in SyscallClass::ALL {
            for b in SyscallClass::ALL.into_iter().filter(|b| *b != a) {
                for name in a.members() {
                    assert!(
                        !b.members().contains(name),
                        "{name} is in {} and {}",
                        a.label(),
                        b.label()
                    );
                }
            }
        }
    }
}
