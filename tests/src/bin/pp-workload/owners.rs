//! Owners of connections that make taking them up hard: one that holds its
//! socket's lock, one that lingers in its final close, and a pool that
//! reconnects all the time (its descriptors reused at once).

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Duration,
};

/// The request the owners send; `serve` answers each line with `ok\n`.
const REQUEST: &[u8] = b"ping\n";

/// `ioctl` numbers of userfaultfd (`_IOWR(0xAA, nr, struct)`).
const UFFDIO_API: libc::c_ulong = 0xC018_AA3F;
const UFFDIO_REGISTER: libc::c_ulong = 0xC020_AA00;
const UFFDIO_COPY: libc::c_ulong = 0xC028_AA03;
const UFFD_API: u64 = 0xAA;
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;
const PAGE: usize = 4096;

/// Prints `line` at once (the test reads it through a pipe).
fn say(line: &str) {
    println!("{line}");
    std::io::stdout().flush().unwrap();
}

/// Sends [`REQUEST`] on `stream` and reads the answer line from `answers`.
fn request(stream: &mut TcpStream, answers: &mut BufReader<TcpStream>) {
    stream.write_all(REQUEST).expect("send");
    read_answer(answers);
}

/// Reads one answer line.
fn read_answer(answers: &mut BufReader<TcpStream>) {
    let mut line = String::new();
    answers.read_line(&mut line).expect("receive");
    assert_eq!(line, "ok\n", "the server answered {line:?}");
}

/// `hold`: one connection to `to`; prints `ready`. On `hold`, a thread
/// sends a request from a page that is not there yet (registered with
/// userfaultfd): the send faults inside `tcp_sendmsg` with the socket's
/// lock held and waits there; prints `holding` once the fault is seen. On
/// `release`, the page is filled, the send completes and its answer is
/// read (`answered`); on `request`, one more request is made and
/// answered (`answered`).
pub fn hold(to: SocketAddr) {
    let mut stream = TcpStream::connect(to).unwrap_or_else(|e| panic!("connect {to}: {e}"));
    let mut answers = BufReader::new(stream.try_clone().unwrap());
    let (uffd, page) = missing_page();
    say("ready");
    let mut sender = None;
    for line in std::io::stdin().lines() {
        match line.unwrap().as_str() {
            "hold" => {
                let fd = stream.as_raw_fd();
                let address = page as usize;
                sender = Some(thread::spawn(move || {
                    // SAFETY: send(2) of REQUEST.len() bytes of the mapped page.
                    let sent =
                        unsafe { libc::send(fd, address as *const libc::c_void, REQUEST.len(), 0) };
                    assert_eq!(sent, REQUEST.len() as isize, "the held send");
                }));
                let mut message = [0u8; 32];
                // SAFETY: read(2) of one `struct uffd_msg` into a buffer its size.
                let read = unsafe { libc::read(uffd, message.as_mut_ptr().cast(), message.len()) };
                assert_eq!(read, 32, "no userfaultfd message");
                const UFFD_EVENT_PAGEFAULT: u8 = 0x12;
                assert_eq!(message[0], UFFD_EVENT_PAGEFAULT);
                say("holding");
            }
            "release" => {
                let mut source = [0u8; PAGE];
                source[..REQUEST.len()].copy_from_slice(REQUEST);
                let mut copy = [page as u64, source.as_ptr() as u64, PAGE as u64, 0, 0];
                // SAFETY: UFFDIO_COPY of one page from `source` into the
                // registered page (struct uffdio_copy: dst, src, len, mode, copy).
                let done = unsafe { libc::ioctl(uffd, UFFDIO_COPY, copy.as_mut_ptr()) };
                assert_eq!(done, 0, "UFFDIO_COPY: {}", std::io::Error::last_os_error());
                sender.take().expect("release before hold").join().unwrap();
                read_answer(&mut answers);
                say("answered");
            }
            "request" => {
                request(&mut stream, &mut answers);
                say("answered");
            }
            other => panic!("unknown command {other:?}"),
        }
    }
}

/// A userfaultfd and one anonymous page registered with it, not yet there.
fn missing_page() -> (i32, *mut libc::c_void) {
    // SAFETY: the userfaultfd syscall, its two ioctls on the descriptor it
    // returns, and an anonymous mapping; each argument lives on this stack
    // for its call.
    unsafe {
        let uffd = libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC) as i32;
        assert!(
            uffd >= 0,
            "userfaultfd: {}",
            std::io::Error::last_os_error()
        );
        let mut api = [UFFD_API, 0, 0];
        assert_eq!(
            libc::ioctl(uffd, UFFDIO_API, api.as_mut_ptr()),
            0,
            "UFFDIO_API"
        );
        let page = libc::mmap(
            std::ptr::null_mut(),
            PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(page, libc::MAP_FAILED, "mmap");
        let mut register = [page as u64, PAGE as u64, UFFDIO_REGISTER_MODE_MISSING, 0];
        assert_eq!(
            libc::ioctl(uffd, UFFDIO_REGISTER, register.as_mut_ptr()),
            0,
            "UFFDIO_REGISTER: {}",
            std::io::Error::last_os_error()
        );
        (uffd, page)
    }
}

/// Sets `SO_LINGER` on `stream` to `seconds` (0: the close resets it).
fn set_linger(stream: &TcpStream, seconds: i32) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: seconds,
    };
    // SAFETY: setsockopt(2) with a `struct linger` on this stack.
    let set = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as u32,
        )
    };
    assert_eq!(set, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

/// `linger`: one connection to `to` with `SO_LINGER` of 120 s, written to
/// until its send buffer and the peer's receive buffer are full (the peer
/// never reads); prints `filled`. On `close`, prints `closing` and closes
/// it: the close waits for the data to go, up to 120 s; then `closed`.
pub fn linger(to: SocketAddr) {
    let mut stream = TcpStream::connect(to).unwrap_or_else(|e| panic!("connect {to}: {e}"));
    set_linger(&stream, 120);
    stream.set_nonblocking(true).unwrap();
    let chunk = [b'x'; 65536];
    loop {
        match stream.write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("send: {e}"),
        }
    }
    stream.set_nonblocking(false).unwrap();
    say("filled");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "close");
    say("closing");
    drop(stream);
    say("closed");
}

/// `churn`: `count` connections to a listener of this process, each kept
/// with the socket it accepted (inbound and outbound sockets side by
/// side); prints `ready PORT`, then closes one pair (the connection
/// abortively, so that no port waits in TIME_WAIT) and opens it again, in
/// turn, one every `pause`, with one request and answer over it: the
/// descriptors freed are reused at once, an outbound one for an inbound
/// one and the other way round. On the line `stop`, prints `steady COUNT
/// reconnects N` and keeps the `count` pairs, idle, until stdin closes.
pub fn churn(count: usize, pause: Duration) {
    static STOP: AtomicBool = AtomicBool::new(false);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let to = listener.local_addr().unwrap();
    let open = || {
        let mut outbound = TcpStream::connect(to).unwrap_or_else(|e| panic!("connect {to}: {e}"));
        let (mut inbound, _) = listener.accept().expect("accept");
        outbound.write_all(REQUEST).expect("send");
        let mut request = [0u8; REQUEST.len()];
        inbound
            .read_exact(&mut request)
            .expect("receive the request");
        inbound.write_all(b"ok\n").expect("answer");
        let mut answer = [0u8; 3];
        outbound
            .read_exact(&mut answer)
            .expect("receive the answer");
        (outbound, inbound)
    };
    let mut pool: Vec<Option<(TcpStream, TcpStream)>> = (0..count).map(|_| Some(open())).collect();
    thread::spawn(|| {
        for line in std::io::stdin().lines() {
            if line.as_deref().is_ok_and(|line| line == "stop") {
                STOP.store(true, Ordering::SeqCst);
            }
        }
        std::process::exit(0);
    });
    say(&format!("ready {}", to.port()));
    let mut reconnects = 0u64;
    while !STOP.load(Ordering::SeqCst) {
        let slot = reconnects as usize % count;
        if let Some((outbound, _)) = pool[slot].take() {
            set_linger(&outbound, 0);
        }
        pool[slot] = Some(open());
        reconnects += 1;
        thread::sleep(pause);
    }
    say(&format!("steady {count} reconnects {reconnects}"));
    loop {
        thread::park();
    }
}
