//! Kernel struct offsets the programs need, resolved from BTF at start-up and
//! handed to them as read-only globals. Nothing is compiled in.

use anyhow::{Context, Result};
use probe_common::{
    dependency::IOVEC_SIZE,
    globals,
    runqueue::throttle_check,
    tcp::{ITER_FD_OFFSET, ITER_TASK_FILE_SLOTS},
};

use crate::kernel::btf::KernelBtf;

/// A field the programs read: the global that carries its offset, the
/// struct, the field path, and the width read (`None`: not checked).
type FieldSpec = (&'static str, &'static str, &'static str, Option<usize>);

/// Looks every field of `specs` up; the error names the first one missing
/// or of an unexpected width. A path may name alternatives, `new|old`: the
/// first this kernel has is taken (a field renamed between releases).
fn resolve_fields<const N: usize>(btf: &KernelBtf, specs: &[FieldSpec; N]) -> Result<[u64; N]> {
    let mut values = [0; N];
    for (value, (_, structure, paths, width)) in values.iter_mut().zip(specs) {
        let mut names = paths.split('|');
        let first = names.next().unwrap_or_default();
        let (path, field) = match btf.field(structure, first) {
            Ok(field) => (first, field),
            Err(err) => names
                .find_map(|path| btf.field(structure, path).ok().map(|f| (path, f)))
                .ok_or(err)?,
        };
        *value = match width {
            Some(width) => field.with_size(&format!("{structure}.{path}"), *width)?,
            None => field.offset,
        };
    }
    Ok(values)
}

/// (global name, value) of each field of `specs`.
fn named<const N: usize>(
    specs: &'static [FieldSpec; N],
    values: [u64; N],
) -> impl Iterator<Item = (&'static str, u64)> {
    specs
        .iter()
        .zip(values)
        .map(|((name, ..), value)| (*name, value))
}

/// Byte offsets of the fields the run-queue and syscall programs read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelOffsets {
    task: [u64; TASK_FIELDS.len()],
    /// The path to the run queue's clock, when this kernel has it.
    rq_clock: Option<[u64; RQ_CLOCK_FIELDS.len()]>,
    /// How a throttled task is told, and the offset read for it.
    throttle: Throttle,
}

/// How the run-queue program tells that a task was throttled at its
/// cgroup's CPU quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Throttle {
    /// `task_struct.throttled`, at this offset.
    TaskFlag(u64),
    /// `task->se.cfs_rq->throttle_count`, at this offset of `cfs_rq`.
    CfsRqCount(u64),
    /// Neither: only a switch to an idle CPU says so.
    IdleOnly,
}

/// From a task to its cgroup id, and to its process (thread group id, and
/// its leader's start time).
const TASK_FIELDS: [FieldSpec; 8] = [
    (globals::TASK_PID_OFFSET, "task_struct", "pid", None),
    (globals::TASK_TGID_OFFSET, "task_struct", "tgid", Some(4)),
    (
        globals::TASK_GROUP_LEADER_OFFSET,
        "task_struct",
        "group_leader",
        Some(8),
    ),
    (
        globals::TASK_START_TIME_OFFSET,
        "task_struct",
        "start_time",
        Some(8),
    ),
    (globals::TASK_CGROUPS_OFFSET, "task_struct", "cgroups", None),
    (
        globals::CSS_SET_DFL_CGRP_OFFSET,
        "css_set",
        "dfl_cgrp",
        None,
    ),
    (globals::CGROUP_KN_OFFSET, "cgroup", "kn", None),
    (globals::KERNFS_NODE_ID_OFFSET, "kernfs_node", "id", None),
];

/// `task->se.cfs_rq->rq->clock`: the scheduler's own clock for the run queue a
/// task is on (needs `CONFIG_FAIR_GROUP_SCHED`), and that run queue's CPU.
const RQ_CLOCK_FIELDS: [FieldSpec; 4] = [
    (
        globals::TASK_SE_CFS_RQ_OFFSET,
        "task_struct",
        "se.cfs_rq",
        None,
    ),
    (globals::CFS_RQ_RQ_OFFSET, "cfs_rq", "rq", None),
    (globals::RQ_CLOCK_OFFSET, "rq", "clock", None),
    (globals::RQ_CPU_OFFSET, "rq", "cpu", Some(4)),
];

impl Throttle {
    fn resolve(btf: &KernelBtf) -> Throttle {
        if let Ok(offset) = btf
            .field("task_struct", "throttled")
            .and_then(|f| f.with_size("task_struct.throttled", 1))
        {
            return Throttle::TaskFlag(offset);
        }
        match btf
            .field("cfs_rq", "throttle_count")
            .and_then(|f| f.with_size("cfs_rq.throttle_count", 4))
        {
            Ok(offset) => Throttle::CfsRqCount(offset),
            Err(_) => Throttle::IdleOnly,
        }
    }
}

impl KernelOffsets {
    /// Looks every field up in `btf`; the error names the first one missing.
    pub fn resolve(btf: &KernelBtf) -> Result<Self> {
        Ok(Self {
            task: resolve_fields(btf, &TASK_FIELDS).with_context(|| {
                format!(
                    "this kernel's layout is not supported (read from {})",
                    btf.path().display()
                )
            })?,
            rq_clock: resolve_fields(btf, &RQ_CLOCK_FIELDS).ok(),
            throttle: Throttle::resolve(btf),
        })
    }

    /// How throttled tasks are told, for logs and `check`.
    pub fn throttle_description(&self) -> &'static str {
        match self.throttle {
            Throttle::TaskFlag(_) => "task_struct.throttled (throttling per task, Linux 6.18+)",
            Throttle::CfsRqCount(_) => "task->se.cfs_rq->throttle_count",
            Throttle::IdleOnly => {
                "only when the CPU goes idle (this kernel's BTF has neither \
                 task_struct.throttled nor cfs_rq.throttle_count): on a busy CPU, a throttled \
                 thread counts as preempted by whoever runs next"
            }
        }
    }

    /// Which clock the run-queue programs read, for logs and `check`.
    pub fn clock_description(&self) -> &'static str {
        if self.rq_clock.is_some() {
            "the run queue's own clock (task->se.cfs_rq->rq->clock)"
        } else {
            "bpf_ktime_get_ns() (this kernel's BTF has no task->se.cfs_rq->rq->clock)"
        }
    }

    /// The globals to set before load, by name (the clock's are 0 without it).
    pub fn globals(&self) -> Vec<(&'static str, u64)> {
        let (task_flag, cfs_rq_count) = match self.throttle {
            Throttle::TaskFlag(offset) => (offset, 0),
            Throttle::CfsRqCount(offset) => (0, offset),
            Throttle::IdleOnly => (0, 0),
        };
        named(&TASK_FIELDS, self.task)
            .chain(named(&RQ_CLOCK_FIELDS, self.rq_clock.unwrap_or_default()))
            .chain([
                (globals::TASK_THROTTLED_OFFSET, task_flag),
                (globals::CFS_RQ_THROTTLE_COUNT_OFFSET, cfs_rq_count),
            ])
            .collect()
    }

    /// The `THROTTLE_CHECK` global.
    pub fn throttle_check(&self) -> u8 {
        match self.throttle {
            Throttle::TaskFlag(_) => throttle_check::TASK_FLAG,
            // The path to the run queue must be there too.
            Throttle::CfsRqCount(_) if self.rq_clock.is_some() => throttle_check::CFS_RQ_COUNT,
            _ => throttle_check::IDLE_ONLY,
        }
    }

    /// Whether the run-queue clock path is available (the `USE_RQ_CLOCK` global).
    pub fn use_rq_clock(&self) -> u8 {
        u8::from(self.rq_clock.is_some())
    }
}

/// What the TCP listener iterator and the accept-queue program read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOffsets {
    values: [u64; TCP_FIELDS.len()],
}

/// Every field the TCP programs read.
const TCP_FIELDS: [FieldSpec; 18] = [
    (
        globals::ITER_META_SEQ_OFFSET,
        "bpf_iter_meta",
        "seq",
        Some(8),
    ),
    (globals::FILE_INODE_OFFSET, "file", "f_inode", Some(8)),
    (globals::INODE_INO_OFFSET, "inode", "i_ino", Some(8)),
    (globals::SOCKET_SK_OFFSET, "socket", "sk", Some(8)),
    (
        globals::SOCK_FAMILY_OFFSET,
        "sock",
        "__sk_common.skc_family",
        Some(2),
    ),
    (
        globals::SOCK_STATE_OFFSET,
        "sock",
        "__sk_common.skc_state",
        Some(1),
    ),
    (
        globals::SOCK_PORT_OFFSET,
        "sock",
        "__sk_common.skc_num",
        Some(2),
    ),
    (
        globals::SOCK_NET_OFFSET,
        "sock",
        "__sk_common.skc_net.net",
        Some(8),
    ),
    (
        globals::SOCK_PROTOCOL_OFFSET,
        "sock",
        "sk_protocol",
        Some(2),
    ),
    (
        globals::SOCK_ACK_BACKLOG_OFFSET,
        "sock",
        "sk_ack_backlog",
        Some(4),
    ),
    (
        globals::SOCK_MAX_ACK_BACKLOG_OFFSET,
        "sock",
        "sk_max_ack_backlog",
        Some(4),
    ),
    (globals::SOCK_DROPS_OFFSET, "sock", "sk_drops", Some(4)),
    (
        globals::ICSK_SYN_QUEUE_OFFSET,
        "inet_connection_sock",
        "icsk_accept_queue.qlen",
        Some(4),
    ),
    (
        globals::SOCK_CGROUP_OFFSET,
        "sock",
        "sk_cgrp_data.cgroup",
        Some(8),
    ),
    (globals::NET_NS_INUM_OFFSET, "net", "ns.inum", Some(4)),
    (globals::SOCK_SOCKET_OFFSET, "sock", "sk_socket", Some(8)),
    (globals::SOCKET_FILE_OFFSET, "socket", "file", Some(8)),
    (
        globals::NET_SYNCOOKIES_OFFSET,
        "net",
        "ipv4.sysctl_tcp_syncookies",
        Some(1),
    ),
];

impl TcpOffsets {
    /// Looks every field up; the error names the first one missing, of an
    /// unexpected width, or (for the iterator context) at an unexpected place.
    pub fn resolve(btf: &KernelBtf) -> Result<Self> {
        let fd = btf.field("bpf_iter__task_file", "fd")?.with_size("fd", 4)?;
        if fd != ITER_FD_OFFSET as u64 {
            anyhow::bail!(
                "bpf_iter__task_file.fd is at byte {fd}, the program reads byte {ITER_FD_OFFSET}"
            );
        }
        for (field, slot) in ITER_TASK_FILE_SLOTS {
            let offset = btf
                .field("bpf_iter__task_file", field)?
                .with_size(field, 8)?;
            let expected = slot as u64 * 8;
            if offset != expected {
                anyhow::bail!(
                    "bpf_iter__task_file.{field} is at byte {offset}, the program reads byte {expected}"
                );
            }
        }
        Ok(Self {
            values: resolve_fields(btf, &TCP_FIELDS)?,
        })
    }

    /// The globals to set before load, by name.
    pub fn globals(&self) -> impl Iterator<Item = (&'static str, u64)> {
        named(&TCP_FIELDS, self.values)
    }
}

/// What the dependency programs read of a socket besides what the TCP
/// programs read (its family, protocol and cgroup, in [`TcpOffsets`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DependencyOffsets {
    values: [u64; DEPENDENCY_FIELDS.len()],
}

/// The peer's address and port, the socket's error, and its receive queue.
const DEPENDENCY_FIELDS: [FieldSpec; 5] = [
    (
        globals::SOCK_DADDR_OFFSET,
        "sock",
        "__sk_common.skc_daddr",
        Some(4),
    ),
    (
        globals::SOCK_V6_DADDR_OFFSET,
        "sock",
        "__sk_common.skc_v6_daddr",
        Some(16),
    ),
    (
        globals::SOCK_DPORT_OFFSET,
        "sock",
        "__sk_common.skc_dport",
        Some(2),
    ),
    (globals::SOCK_ERR_OFFSET, "sock", "sk_err", Some(4)),
    (
        globals::SOCK_RCV_QLEN_OFFSET,
        "sock",
        "sk_receive_queue.qlen",
        Some(4),
    ),
];

impl DependencyOffsets {
    /// Looks every field up; the error names the first one missing.
    pub fn resolve(btf: &KernelBtf) -> Result<Self> {
        Ok(Self {
            values: resolve_fields(btf, &DEPENDENCY_FIELDS)?,
        })
    }

    /// The globals to set before load, by name.
    pub fn globals(&self) -> impl Iterator<Item = (&'static str, u64)> {
        named(&DEPENDENCY_FIELDS, self.values)
    }
}

/// What the syscall program reads to class a read or write by its file
/// descriptor (the first argument, in the syscall's registers) and to tell
/// a 32-bit compat syscall; where this kernel's BTF lacks a field, reads
/// and writes are `file_io` and compat syscalls are not told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallOffsets {
    values: [u64; FD_FIELDS.len()],
    /// (offset, mask) of the task's compat flag, where there is one.
    compat: Option<(u64, u32)>,
}

/// From a syscall's registers and task to the mode of its fd's inode.
const FD_FIELDS: [FieldSpec; 7] = [
    // An array on arm64 (`regs[0]` is its start): its width is not checked.
    (globals::SYSCALL_ARG0_OFFSET, "pt_regs", ARG0_FIELD, None),
    (globals::TASK_FILES_OFFSET, "task_struct", "files", Some(8)),
    (globals::FILES_FDT_OFFSET, "files_struct", "fdt", Some(8)),
    (
        globals::FDTABLE_MAX_FDS_OFFSET,
        "fdtable",
        "max_fds",
        Some(4),
    ),
    (globals::FDTABLE_FD_OFFSET, "fdtable", "fd", Some(8)),
    (
        globals::SYSCALL_FILE_INODE_OFFSET,
        "file",
        "f_inode",
        Some(8),
    ),
    (globals::INODE_MODE_OFFSET, "inode", "i_mode", Some(2)),
];

/// The register that holds a syscall's first argument.
#[cfg(target_arch = "x86_64")]
const ARG0_FIELD: &str = "di";
/// The register that holds a syscall's first argument (`regs[0]`).
#[cfg(target_arch = "aarch64")]
const ARG0_FIELD: &str = "regs";

/// The task field that says a syscall is a 32-bit compat one, and its bit:
/// x86's `TS_COMPAT` in `thread_info.status`, arm64's `TIF_32BIT` in
/// `thread_info.flags` (the low 32 bits, little-endian).
#[cfg(target_arch = "x86_64")]
const COMPAT_FLAG: (&str, u32) = ("thread_info.status", 0x0002);
/// See the x86_64 one.
#[cfg(target_arch = "aarch64")]
const COMPAT_FLAG: (&str, u32) = ("thread_info.flags", 1 << 22);

impl SyscallOffsets {
    /// What the syscall signal loses where these cannot be resolved.
    pub const LOSS: &'static str = "reads and writes count as file_io whatever they read \
                                    (their file descriptors cannot be followed), and storage \
                                    pressure is judged on sync alone";

    /// Looks every field up; the error names the first one missing.
    pub fn resolve(btf: &KernelBtf) -> Result<Self> {
        let (field, mask) = COMPAT_FLAG;
        let compat = btf
            .field("task_struct", field)
            .ok()
            .filter(|f| f.size.is_some_and(|size| size >= 4))
            .map(|f| (f.offset, mask));
        Ok(Self {
            values: resolve_fields(btf, &FD_FIELDS)?,
            compat,
        })
    }

    /// The globals to set before load, by name (the compat mask apart:
    /// [`SyscallOffsets::compat_mask`]).
    pub fn globals(&self) -> impl Iterator<Item = (&'static str, u64)> {
        named(&FD_FIELDS, self.values).chain(
            self.compat
                .map(|(offset, _)| (globals::SYSCALL_COMPAT_OFFSET, offset)),
        )
    }

    /// The compat flag's bits (0: none known).
    pub fn compat_mask(&self) -> u32 {
        self.compat.map_or(0, |(_, mask)| mask)
    }
}

/// Where the dependency programs read the first bytes a client sends (to
/// tell long polls, TLS handshakes and HTTP/2 from requests): the send's
/// buffer, from `msghdr.msg_iter`. Kernels before 6.4 lay `iov_iter` out
/// otherwise: there, every request is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadOffsets {
    values: [u64; PAYLOAD_FIELDS.len()],
    /// `ITER_UBUF` and `ITER_IOVEC` of `enum iter_type`.
    types: (u8, u8),
}

/// The send's buffer: a user buffer (`ITER_UBUF`) or an array of them
/// (`ITER_IOVEC`), its offset and its length.
const PAYLOAD_FIELDS: [FieldSpec; 9] = [
    (globals::MSGHDR_ITER_OFFSET, "msghdr", "msg_iter", None),
    (globals::ITER_TYPE_OFFSET, "iov_iter", "iter_type", Some(1)),
    (
        globals::ITER_IOV_OFFSET_OFFSET,
        "iov_iter",
        "iov_offset",
        Some(8),
    ),
    (globals::ITER_UBUF_OFFSET, "iov_iter", "ubuf", Some(8)),
    (globals::ITER_IOV_OFFSET, "iov_iter", "__iov|iov", Some(8)),
    (globals::ITER_COUNT_OFFSET, "iov_iter", "count", Some(8)),
    (globals::IOVEC_BASE_OFFSET, "iovec", "iov_base", Some(8)),
    (globals::IOVEC_LEN_OFFSET, "iovec", "iov_len", Some(8)),
    (globals::ITER_NR_SEGS_OFFSET, "iov_iter", "nr_segs", Some(8)),
];

impl PayloadOffsets {
    /// What the dependency and request signals lose where these cannot be
    /// resolved.
    pub const LOSS: &'static str = "the first bytes of a send cannot be read: the dependency \
                                    signal times every exchange, long polls, TLS handshakes \
                                    and HTTP/2 included; the request signal counts no http_5xx \
                                    and times TLS handshakes and HTTP/2 servers' exchanges";

    /// Looks every field and the buffer kinds up; the error names the first
    /// one missing.
    pub fn resolve(btf: &KernelBtf) -> Result<Self> {
        let kind = |name| -> Result<u8> { Ok(u8::try_from(btf.enum_value("iter_type", name)?)?) };
        let values = resolve_fields(btf, &PAYLOAD_FIELDS)?;
        let (base, len) = (values[6], values[7]);
        if base.max(len) + 8 != IOVEC_SIZE {
            anyhow::bail!(
                "struct iovec has iov_base at byte {base} and iov_len at {len}: not the \
                 {IOVEC_SIZE}-byte layout the programs step through"
            );
        }
        Ok(Self {
            values,
            types: (kind("ITER_UBUF")?, kind("ITER_IOVEC")?),
        })
    }

    /// The globals to set before load, by name (the buffer kinds apart:
    /// [`PayloadOffsets::types`]).
    pub fn globals(&self) -> impl Iterator<Item = (&'static str, u64)> {
        named(&PAYLOAD_FIELDS, self.values)
    }

    /// (`ITER_UBUF`, `ITER_IOVEC`).
    pub fn types(&self) -> (u8, u8) {
        self.types
    }
}
