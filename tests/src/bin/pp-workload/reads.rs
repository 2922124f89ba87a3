//! `reads`: blocking reads of a socket, of a pipe and of a file, and 32-bit
//! compat sleeps, for the syscall classes of what a read reads.

use std::{
    fs,
    io::Write,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    thread,
    time::{Duration, Instant},
};

/// A pause before each byte the writer sends, so that each read blocks.
const PAUSE: Duration = Duration::from_millis(2);

/// In this process's cgroup: `count` one-byte `read(2)`s of a Unix socket
/// and `count` of a pipe, each blocked until a writer in cgroup `writer`
/// (a child process, asked for each byte through another pipe) sends the
/// byte 2 ms after `/proc` showed the read blocked), `count` `pread(2)`s
/// of a regular file, and (x86_64) `count` 2 ms `nanosleep`s made as 32-bit
/// compat syscalls. Then it joins `writer` and prints `setup_ns` (making
/// the socket pair and the pipe), `socket_ns`, `pipe_ns`, `file_ns` and
/// `compat_ns`, what each took on this process's clock (a read's time
/// includes its ask, a pipe write); the writer prints `socket_blocked_ns`
/// and `pipe_blocked_ns`, how long each read was seen blocked on its clock.
pub fn reads(writer: &str, count: u64) {
    let started = Instant::now();
    let (socket, peer) = socket_pair();
    let (pipe_out, pipe_in) = pipe();
    let setup_ns = started.elapsed().as_nanos();
    // The reader asks for each byte: the writer sends it a pause after it
    // read the ask, so that every read blocks, however late the reader.
    let (asked, ask) = pipe();
    let file = scratch();
    let reader = std::process::id();
    // SAFETY: fork in a single-threaded process; the child only reads,
    // writes, sleeps and exits.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork");
    if child == 0 {
        fs::write(format!("{writer}/cgroup.procs"), "0").expect("cannot join the writer's cgroup");
        for (key, read_fd, fd) in [
            ("socket_blocked_ns", socket.as_raw_fd(), &peer),
            ("pipe_blocked_ns", pipe_out.as_raw_fd(), &pipe_in),
        ] {
            let mut blocked = Vec::new();
            for _ in 0..count {
                let mut byte = 0u8;
                // SAFETY: a one-byte read into a live byte from an open fd.
                let got = unsafe { libc::read(asked.as_raw_fd(), (&raw mut byte).cast(), 1) };
                assert_eq!(got, 1, "read the ask");
                // The ask came after the reader's last read returned: the
                // read seen blocked now is the next one, and it lasts at
                // least from here to the write.
                wait_until_blocked_in_read(reader, read_fd);
                let since = Instant::now();
                thread::sleep(PAUSE);
                blocked.push(since.elapsed().as_nanos().to_string());
                // SAFETY: a one-byte write from a live buffer to an open fd.
                let sent = unsafe { libc::write(fd.as_raw_fd(), c"x".as_ptr().cast(), 1) };
                assert_eq!(sent, 1, "write");
            }
            println!("{key} {}", blocked.join(" "));
        }
        std::io::stdout().flush().unwrap();
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(0) };
    }
    let timed = |call: &dyn Fn()| {
        let started = Instant::now();
        call();
        started.elapsed().as_nanos().to_string()
    };
    // Asks are pipe writes (class wait too).
    let read_one = |fd: &OwnedFd| {
        // SAFETY: a one-byte write from a live buffer to an open fd.
        let sent = unsafe { libc::write(ask.as_raw_fd(), c"?".as_ptr().cast(), 1) };
        assert_eq!(sent, 1, "ask");
        let mut byte = 0u8;
        // SAFETY: a one-byte read into a live byte from an open fd.
        let n = unsafe { libc::read(fd.as_raw_fd(), (&raw mut byte).cast(), 1) };
        assert_eq!(n, 1, "read");
    };
    let socket_ns: Vec<String> = (0..count).map(|_| timed(&|| read_one(&socket))).collect();
    let pipe_ns: Vec<String> = (0..count).map(|_| timed(&|| read_one(&pipe_out))).collect();
    let file_ns: Vec<String> = (0..count)
        .map(|_| {
            timed(&|| {
                let mut byte = 0u8;
                // SAFETY: a one-byte pread into a live byte from an open file.
                let n = unsafe { libc::pread(file.as_raw_fd(), (&raw mut byte).cast(), 1, 0) };
                assert_eq!(n, 1, "pread");
            })
        })
        .collect();
    let compat_ns: Vec<String> = compat_sleeps(count);
    // Out of the cgroup before the report, whose writes are not counted.
    fs::write(format!("{writer}/cgroup.procs"), "0").expect("cannot join the writer's cgroup");
    let mut status = 0;
    // SAFETY: waits for this process's own child.
    let waited = unsafe { libc::waitpid(child, &mut status, 0) };
    assert_eq!(waited, child, "waitpid");
    assert_eq!(status, 0, "the writer failed");
    println!("setup_ns {setup_ns}");
    println!("socket_ns {}", socket_ns.join(" "));
    println!("pipe_ns {}", pipe_ns.join(" "));
    println!("file_ns {}", file_ns.join(" "));
    println!("compat_ns {}", compat_ns.join(" "));
    std::io::stdout().flush().unwrap();
}

/// Returns once the kernel says `pid` is asleep in a `read(2)` of `fd`
/// (`/proc/PID/syscall` names the call only while the task is blocked).
fn wait_until_blocked_in_read(pid: u32, fd: i32) {
    let path = format!("/proc/{pid}/syscall");
    let blocked = format!("{} {:#x} ", libc::SYS_read, fd);
    while !fs::read_to_string(&path)
        .expect("cannot read the reader's /proc/PID/syscall")
        .starts_with(&blocked)
    {
        thread::sleep(Duration::from_micros(100));
    }
}

fn socket_pair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: socketpair(2) fills the two-element array.
    let made = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
    assert_eq!(made, 0, "socketpair");
    // SAFETY: two fresh descriptors this process owns.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills the two-element array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: two fresh descriptors this process owns.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// A one-byte regular file, open for reading (its name already removed).
fn scratch() -> fs::File {
    let path = std::env::temp_dir().join(format!("pp-reads-{}", std::process::id()));
    fs::write(&path, "x").unwrap();
    let file = fs::File::open(&path).unwrap();
    fs::remove_file(&path).unwrap();
    file
}

/// `count` 2 ms sleeps through the 32-bit syscall entry (`int $0x80`:
/// i386 `nanosleep` is 162, which is `sync` in the 64-bit table).
#[cfg(target_arch = "x86_64")]
fn compat_sleeps(count: u64) -> Vec<String> {
    // A 32-bit timespec where a 32-bit pointer reaches it.
    // SAFETY: an anonymous private mapping below 4 GiB.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED, "mmap below 4 GiB");
    let timespec = page.cast::<i32>();
    // SAFETY: the page is mapped and writable; two i32s fit.
    unsafe {
        *timespec = 0;
        *timespec.add(1) = 2_000_000;
    }
    (0..count)
        .map(|_| {
            let started = Instant::now();
            let ret: i64;
            // SAFETY: the i386 nanosleep(162) with a valid 32-bit pointer to
            // a 32-bit timespec and no remainder. LLVM keeps rbx for itself:
            // the pointer is swapped in and out around the call; the 32-bit
            // entry zeroes r8 to r11.
            unsafe {
                std::arch::asm!(
                    "xchg {arg}, rbx",
                    "int 0x80",
                    "xchg {arg}, rbx",
                    arg = inout(reg) timespec as u64 => _,
                    inlateout("rax") 162i64 => ret,
                    in("rcx") 0u64,
                    out("r8") _,
                    out("r9") _,
                    out("r10") _,
                    out("r11") _,
                );
            }
            assert_eq!(ret, 0, "compat nanosleep");
            started.elapsed().as_nanos().to_string()
        })
        .collect()
}

/// No 32-bit entry to use here.
#[cfg(not(target_arch = "x86_64"))]
fn compat_sleeps(_count: u64) -> Vec<String> {
    Vec::new()
}
