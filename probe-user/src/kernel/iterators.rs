//! Running the programs' BPF iterators: the listener list (at every
//! sample) and, once at start, the follow iterator that takes up the
//! outbound connections established before the agent started.

use std::{
    collections::BTreeMap,
    io::Read,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{Array, HashMap, MapData, SkStorage},
    programs::Iter,
};
use probe_common::{
    dependency::{
        FOLLOW_PASS_MAP, FollowRecord, LISTENING_MAP, ListeningPort, MAX_LISTENING, RemoteKey,
        SOCKETS_MAP, SocketState, follow,
    },
    programs::DEPENDENCY_FOLLOW,
};

/// Runs the loaded iterator `program` once; what it wrote.
pub fn run(ebpf: &mut Ebpf, program: &str) -> Result<Vec<u8>> {
    let iterator: &mut Iter = ebpf
        .program_mut(program)
        .with_context(|| format!("program {program} is missing"))?
        .try_into()?;
    let link_id = iterator
        .attach()
        .with_context(|| format!("cannot attach the iterator {program}"))?;
    let link = iterator.take_link(link_id)?;
    let mut file = link
        .into_file()
        .with_context(|| format!("cannot create the iterator {program}"))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the iterator {program}"))?;
    Ok(bytes)
}

/// What [`follow_established`] took up.
#[derive(Debug, Default)]
pub struct Followed {
    /// Connections taken up, per (cgroup, remote): the kernel's count of
    /// established connections holds only those it saw connect, so these
    /// are added to it (and when one closes, the kernel's count goes down).
    pub adopted: BTreeMap<RemoteKey, i64>,
    /// Connections that could not be taken up (their process or descriptor
    /// went, or this process may not reach them).
    pub missed: usize,
}

/// Follows the outbound TCP connections established before the agent
/// started (a connection pool older than the agent): they count in their
/// remote's connections, and their answers are timed from now on.
/// `Ok(None)` if the listening ports did not all fit (an inbound
/// connection could then pass for an outbound one: none is followed).
///
/// The iterator finds them; each is reached through a duplicate of its
/// descriptor (`pidfd_getfd`: needs `CAP_SYS_PTRACE` over its process),
/// which keys its state in the socket storage, as the kernel programs
/// would have made it at `ESTABLISHED`.
pub fn follow_established(ebpf: &mut Ebpf) -> Result<Option<Followed>> {
    set_pass(ebpf, follow::LIST)?;
    run(ebpf, DEPENDENCY_FOLLOW)?;
    let listening: HashMap<_, ListeningPort, u8> = HashMap::try_from(
        ebpf.map(LISTENING_MAP)
            .with_context(|| format!("map {LISTENING_MAP} is missing"))?,
    )?;
    if listening.keys().count() >= MAX_LISTENING as usize {
        return Ok(None);
    }
    set_pass(ebpf, follow::FOLLOW)?;
    let bytes = run(ebpf, DEPENDENCY_FOLLOW)?;
    let mut sockets: SkStorage<_, SocketState> = SkStorage::try_from(
        ebpf.map_mut(SOCKETS_MAP)
            .with_context(|| format!("map {SOCKETS_MAP} is missing"))?,
    )?;
    let mut followed = Followed::default();
    for chunk in bytes.chunks_exact(size_of::<FollowRecord>()) {
        // SAFETY: FollowRecord is plain old data and the chunk has its size.
        let record: FollowRecord = unsafe { std::ptr::read_unaligned(chunk.as_ptr().cast()) };
        match take_up(&mut sockets, &record) {
            Ok(true) => *followed.adopted.entry(record.key).or_default() += 1,
            Ok(false) => {}
            Err(_) => followed.missed += 1,
        }
    }
    Ok(Some(followed))
}

fn set_pass(ebpf: &mut Ebpf, pass: u32) -> Result<()> {
    let mut passes: Array<_, u32> = Array::try_from(
        ebpf.map_mut(FOLLOW_PASS_MAP)
            .with_context(|| format!("map {FOLLOW_PASS_MAP} is missing"))?,
    )?;
    passes.set(0, pass, 0)?;
    Ok(())
}

/// Gives the connection of `record` its state, unless it has one (the
/// programs saw it connect, or another descriptor of it came first) or it
/// is no longer established; whether it was taken up.
fn take_up(
    sockets: &mut SkStorage<&mut MapData, SocketState>,
    record: &FollowRecord,
) -> std::io::Result<bool> {
    let socket = descriptor_of(record.tgid, record.fd)?;
    if sockets.get(&socket, 0).is_ok() {
        return Ok(false);
    }
    let state = SocketState {
        key: record.key,
        established: 1,
        ..SocketState::default()
    };
    sockets
        .insert(&socket, state, 0)
        .map_err(std::io::Error::other)?;
    // Closed meanwhile: its state would count it for ever.
    if !established(&socket) {
        let _ = sockets.remove(&socket);
        return Ok(false);
    }
    Ok(true)
}

/// A duplicate of descriptor `fd` of process `tgid`.
fn descriptor_of(tgid: u32, fd: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open(2) takes a pid and flags.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, tgid, 0) };
    if pidfd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor this process now owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    // SAFETY: pidfd_getfd(2) takes a pidfd, a descriptor number and flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor this process now owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether the TCP socket `socket` is established now.
fn established(socket: &OwnedFd) -> bool {
    let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt(2) fills at most `len` bytes of `info`.
    let got = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    // SAFETY: zeroed, and filled by the kernel where it succeeded.
    got == 0 && unsafe { info.assume_init() }.tcpi_state == 1
}
