//! `errors`: syscalls that return error codes, some of which tell of no
//! failure.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// Timer signals taken so far.
static SIGNALS: AtomicU64 = AtomicU64::new(0);
/// After how many the handler ends the blocking read.
static WAKE_AFTER: AtomicU64 = AtomicU64::new(u64::MAX);
/// The pipe's write end, for the handler.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_alarm(_: libc::c_int) {
    let taken = SIGNALS.fetch_add(1, Ordering::SeqCst) + 1;
    if taken == WAKE_AFTER.load(Ordering::SeqCst) {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; one byte from a local.
        unsafe { libc::write(WAKE_FD.load(Ordering::SeqCst), (&raw const byte).cast(), 1) };
    }
}

/// The errno of the last failed call.
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// One byte read from `fd`: the call's result.
fn read_byte(fd: i32) -> isize {
    let mut byte = 0u8;
    // SAFETY: reads at most one byte into a local.
    unsafe { libc::read(fd, (&raw mut byte).cast(), 1) }
}

/// One byte read from `fd` through the raw system call, with junk in the
/// upper 32 bits of the descriptor's register (the kernel takes the low
/// 32: `read(unsigned int fd, ...)`): the call's result.
fn read_byte_junk(fd: i32) -> isize {
    let mut byte = 0u8;
    let junk = 0xdead_0000_0000_u64 | fd as u32 as u64;
    // SAFETY: read(2) of at most one byte into a local.
    unsafe { libc::syscall(libc::SYS_read, junk, (&raw mut byte), 1usize) as isize }
}

/// `count` nonblocking connects to a listener on 127.0.0.1, each socket
/// closed after: how many returned EINPROGRESS.
fn connects_in_progress(count: u64) -> usize {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
        },
        sin_zero: [0; 8],
    };
    (0..count)
        .filter(|_| {
            // SAFETY: a fresh socket, connected to an address on this stack,
            // then closed.
            unsafe {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0);
                assert!(fd >= 0, "socket");
                let got = libc::connect(
                    fd,
                    (&raw const addr).cast(),
                    size_of::<libc::sockaddr_in>() as u32,
                );
                let in_progress = got < 0 && errno() == libc::EINPROGRESS;
                libc::close(fd);
                in_progress
            }
        })
        .count()
}

/// On one pipe: `would_block` nonblocking reads with nothing to read
/// (EAGAIN), `bad` reads of its write end (EBADF) and `bad` more with junk
/// in the descriptor register's upper half, then one blocking read that
/// `interrupts` timer signals interrupt (a handler without `SA_RESTART`:
/// each interruption returns EINTR, the kernel's `-ERESTARTSYS` at the
/// syscall's exit), retried until the last signal's handler writes a
/// byte; then `would_block` nonblocking connects (EINPROGRESS). Prints
/// `errors EAGAIN EBADF EINTR EINPROGRESS`: what the calls returned.
pub fn errors(would_block: u64, bad: u64, interrupts: u64) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) };
    assert_eq!(made, 0, "pipe2");
    let (r, w) = (fds[0], fds[1]);
    let eagain = (0..would_block)
        .filter(|_| read_byte(r) < 0 && errno() == libc::EAGAIN)
        .count();
    let ebadf = (0..bad)
        .filter(|_| read_byte(w) < 0 && errno() == libc::EBADF)
        .count()
        + (0..bad)
            .filter(|_| read_byte_junk(w) < 0 && errno() == libc::EBADF)
            .count();
    // SAFETY: clears O_NONBLOCK on a descriptor of ours.
    assert_eq!(unsafe { libc::fcntl(r, libc::F_SETFL, 0) }, 0);
    WAKE_FD.store(w, Ordering::SeqCst);
    WAKE_AFTER.store(interrupts.max(1), Ordering::SeqCst);
    // SAFETY: an all-zero sigaction is valid (no flags, empty mask); the
    // handler only touches atomics and calls write(2).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as usize;
        assert_eq!(
            libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()),
            0
        );
    }
    let every = libc::timeval {
        tv_sec: 0,
        tv_usec: 5_000,
    };
    let timer = libc::itimerval {
        it_interval: every,
        it_value: every,
    };
    // SAFETY: setitimer reads the value given.
    let set = unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
    assert_eq!(set, 0, "setitimer");
    let mut eintr = 0;
    loop {
        match read_byte(r) {
            1 => break,
            n if n < 0 && errno() == libc::EINTR => eintr += 1,
            n => panic!("blocking read returned {n} (errno {})", errno()),
        }
    }
    // SAFETY: an all-zero itimerval stops the timer.
    unsafe {
        let stop: libc::itimerval = std::mem::zeroed();
        libc::setitimer(libc::ITIMER_REAL, &stop, std::ptr::null_mut());
    }
    let einprogress = connects_in_progress(would_block);
    println!("errors {eagain} {ebadf} {eintr} {einprogress}");
}
