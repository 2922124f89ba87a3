//! Workloads of the dependency signal: a server that answers after a set
//! delay, a client that calls it through an event loop, and connects that
//! are refused or wait for the kernel's SYN retransmission.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

/// `serve`: listens on 127.0.0.1 (an ephemeral port), prints
/// `listening PORT`, and answers every line of every connection with
/// `ok\n`, `delay` after it arrived, until stdin closes. The line
/// `handled` on stdin prints `handled_ns` and what each request so far took
/// on this process's clock, from the request read to the answer's send;
/// the line `drain N`, once N connections are accepted, closes the
/// listener (a server draining: its accepted connections are served on)
/// and prints `drained`.
pub fn serve(delay: Duration) {
    static HANDLED: Mutex<Vec<u128>> = Mutex::new(Vec::new());
    static ACCEPTED: AtomicU64 = AtomicU64::new(0);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let listening = listener.as_raw_fd();
    // Ends when stdin closes (the test is done with it).
    thread::spawn(move || {
        for line in std::io::stdin().lines() {
            match line.as_deref() {
                Ok("handled") => {
                    let handled = HANDLED.lock().unwrap();
                    let times: Vec<String> = handled.iter().map(u128::to_string).collect();
                    println!("handled_ns {}", times.join(" "));
                    std::io::stdout().flush().unwrap();
                }
                Ok(line) if line.starts_with("drain ") => {
                    let count: u64 = line[6..].parse().expect("drain N");
                    // Connections still queued would be reset.
                    while ACCEPTED.load(Ordering::SeqCst) < count {
                        thread::sleep(Duration::from_millis(10));
                    }
                    // Wakes the accept loop, which then closes the listener.
                    // SAFETY: shutdown(2) of the listener, which the accept
                    // loop owns until it sees the shutdown.
                    unsafe { libc::shutdown(listening, libc::SHUT_RDWR) };
                }
                _ => {}
            }
        }
        std::process::exit(0);
    });
    println!("listening {}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else {
            drop(listener);
            println!("drained");
            std::io::stdout().flush().unwrap();
            loop {
                thread::park();
            }
        };
        ACCEPTED.fetch_add(1, Ordering::SeqCst);
        thread::spawn(move || {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let read = Instant::now();
                thread::sleep(delay);
                // Up to the answer's send: the client's kernel sees the
                // answer after this (on loopback, within the write).
                HANDLED.lock().unwrap().push(read.elapsed().as_nanos());
                if stream.write_all(b"ok\n").is_err() {
                    return;
                }
                line.clear();
            }
        });
    }
}

/// Waits in `epoll_wait` until `fd` is readable (an event loop's wait).
fn wait_readable(fd: i32) {
    // SAFETY: plain epoll calls on a fresh epoll descriptor and a valid
    // socket; the event lives on this stack for the calls.
    unsafe {
        let epoll = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        assert!(epoll >= 0, "epoll_create1");
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 0,
        };
        assert_eq!(
            libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event),
            0
        );
        while libc::epoll_wait(epoll, &mut event, 1, -1) != 1 {}
        libc::close(epoll);
    }
}

/// `call`: `count` requests (`ping\n`) over one connection to `to` (with
/// `PP_WORKLOAD_GO` set, once connected it prints "ready" and waits for a
/// line on stdin before the first), each
/// answer awaited in `epoll_wait`; prints `response_ns` (each request to
/// its answer's first byte, on this process's clock), then `done`, and
/// keeps the connection open until stdin closes.
pub fn call(to: SocketAddr, count: u64) {
    let mut stream = TcpStream::connect(to).unwrap_or_else(|e| panic!("connect {to}: {e}"));
    // A pooled connection: opened now, used later.
    crate::wait_for_go();
    stream.set_nonblocking(true).unwrap();
    // Written from memory this process wrote, as a client serialises its
    // request: the probe reads a send's first bytes without faulting a
    // page in, and a literal's page may not be mapped yet (after reclaim
    // evicted the binary's pages, a taken-up connection's first request
    // would be untold, `unknown`).
    let request = b"ping\n".to_vec();
    let mut took = Vec::new();
    let mut answer = [0u8; 64];
    for _ in 0..count {
        let started = Instant::now();
        stream.write_all(&request).expect("send");
        let mut got = Vec::new();
        while !got.ends_with(b"\n") {
            wait_readable(stream.as_raw_fd());
            match stream.read(&mut answer) {
                Ok(0) => panic!("the server closed the connection"),
                Ok(n) => {
                    if got.is_empty() {
                        took.push(started.elapsed().as_nanos().to_string());
                    }
                    got.extend_from_slice(&answer[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("receive: {e}"),
            }
        }
    }
    println!("response_ns {}", took.join(" "));
    println!("done");
    std::io::stdout().flush().unwrap();
    for _ in std::io::stdin().lines() {}
    drop(stream);
}

/// `refused`: `count` connects to 127.0.0.1:`port`, where nothing listens;
/// prints `refused N` (how many the peer refused).
pub fn refused(port: u16, count: u64) {
    let refused = (0..count)
        .filter(|_| {
            matches!(
                TcpStream::connect(("127.0.0.1", port)),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
            )
        })
        .count();
    println!("refused {refused}");
}

/// `connect-wait`: one connect to 127.0.0.1:`port`, waiting up to 5 s;
/// prints `connect_ns N` (on this process's clock) or `timeout`, then
/// keeps the connection until stdin closes.
pub fn connect_wait(port: u16) {
    let started = Instant::now();
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    match TcpStream::connect_timeout(&to, Duration::from_secs(5)) {
        Ok(stream) => {
            println!("connect_ns {}", started.elapsed().as_nanos());
            std::io::stdout().flush().unwrap();
            for _ in std::io::stdin().lines() {}
            drop(stream);
        }
        Err(e) => println!("timeout {e}"),
    }
}

/// `give-up`: `count` connects to 127.0.0.1:`port`, each abandoned after
/// `wait` with no answer (an application's own connect timeout: the socket
/// is closed while in `SYN_SENT`); prints `abandoned N syn_retransmits M`:
/// how many timed out on this side, and how many SYNs this network
/// namespace's kernel sent again meanwhile.
pub fn give_up(port: u16, count: u64, wait: Duration) {
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let before = syn_retransmits();
    let abandoned = (0..count)
        .filter(|_| {
            matches!(
                TcpStream::connect_timeout(&to, wait),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut
            )
        })
        .count();
    println!(
        "abandoned {abandoned} syn_retransmits {}",
        syn_retransmits() - before
    );
}

/// `TcpExtTCPSynRetrans` of this network namespace (`/proc/net/netstat`).
fn syn_retransmits() -> u64 {
    let netstat = std::fs::read_to_string("/proc/net/netstat").expect("read /proc/net/netstat");
    let mut lines = netstat.lines().filter(|line| line.starts_with("TcpExt:"));
    let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "TCPSynRetrans")
        .and_then(|(_, value)| value.parse().ok())
        .expect("no TCPSynRetrans in /proc/net/netstat")
}

/// `roundtrips`: `count` one-byte requests and answers over one loopback
/// connection to an echoing thread of this process.
pub fn roundtrips(count: u64) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let to = listener.local_addr().unwrap();
    let echo = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        stream.set_nodelay(true).unwrap();
        let mut byte = [0u8; 1];
        while stream.read_exact(&mut byte).is_ok() {
            stream.write_all(&byte).unwrap();
        }
    });
    let mut stream = TcpStream::connect(to).expect("connect");
    stream.set_nodelay(true).unwrap();
    let mut byte = [7u8; 1];
    for _ in 0..count {
        stream.write_all(&byte).unwrap();
        stream.read_exact(&mut byte).unwrap();
    }
    drop(stream);
    echo.join().unwrap();
}
