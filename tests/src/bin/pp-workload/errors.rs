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

/// On one pipe: `would_block` nonblocking reads with nothing to read
/// (EAGAIN), `bad` reads of its write end (EBADF), then one blocking read
/// that `interrupts` timer signals interrupt (a handler without
/// `SA_RESTART`: each interruption returns EINTR, the kernel's
/// `-ERESTARTSYS` at the syscall's exit), retried until the last signal's
/// handler writes a byte. Prints `errors EAGAIN EBADF EINTR`: what the
/// calls returned.
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
    println!("errors {eagain} {ebadf} {eintr}");
}
