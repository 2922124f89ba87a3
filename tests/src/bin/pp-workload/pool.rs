//! Workloads of the request signal: a server with a fixed pool of
//! workers, and a client that stamps each request with its send time, so
//! that the time each request waited for a worker is measured by the
//! workload's own clocks (`CLOCK_MONOTONIC`, one host).

use std::{
    io::{BufRead, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    os::fd::{AsRawFd, RawFd},
    sync::{Arc, Condvar, Mutex},
    thread,
    time::{Duration, Instant},
};

/// `CLOCK_MONOTONIC` now, in nanoseconds (the clock the kernel's
/// `bpf_ktime_get_ns` reads too).
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) into a timespec on this stack.
    let read = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(read, 0);
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// What the pool measured, per request.
#[derive(Default)]
struct Measured {
    /// From the client's send to a worker's read.
    queued_ns: Vec<u64>,
    /// From a worker's read to its answer's send (just before the write).
    handled_ns: Vec<u64>,
}

/// Whether the workers may read (`pause` on stdin holds them).
struct Gate {
    paused: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    fn set(&self, paused: bool) {
        *self.paused.lock().unwrap() = paused;
        self.changed.notify_all();
    }

    fn wait_open(&self) {
        let mut paused = self.paused.lock().unwrap();
        while *paused {
            paused = self.changed.wait(paused).unwrap();
        }
    }
}

/// Waits until one of the connections registered in `epoll` is readable;
/// its descriptor (one-shot: no other worker gets it until re-armed).
fn next_readable(epoll: RawFd) -> RawFd {
    let mut event = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: epoll_wait(2) into one event on this stack.
    while unsafe { libc::epoll_wait(epoll, &mut event, 1, -1) } != 1 {}
    event.u64 as RawFd
}

/// Registers (`add`) or re-arms `fd` in `epoll` for one readable event.
fn arm(epoll: RawFd, fd: RawFd, add: bool) {
    let mut event = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
        u64: fd as u64,
    };
    let op = if add {
        libc::EPOLL_CTL_ADD
    } else {
        libc::EPOLL_CTL_MOD
    };
    // SAFETY: epoll_ctl(2) of a socket this process owns.
    assert_eq!(unsafe { libc::epoll_ctl(epoll, op, fd, &mut event) }, 0);
}

/// Reads one request line (`ping SENT_NS`) from `fd`, byte by byte so
/// that nothing of a later request is taken; `None` at the end.
fn read_line(stream: &mut TcpStream) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    loop {
        match stream.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => return Some(String::from_utf8(line).unwrap()),
            Ok(1) => line.push(byte[0]),
            _ => return None,
        }
    }
}

/// `pool`: listens on 127.0.0.1 (an ephemeral port), prints `listening
/// PORT`, and serves every connection with `workers` threads: a worker
/// takes a connection with a request waiting, reads it (`ping SENT_NS`,
/// the client's send time), holds it `delay` without using the CPU, and
/// answers `ok`. A request waits for a free worker. On stdin: `pause` (the
/// workers read nothing until `resume`; each answers `paused`, `resumed`),
/// `queued` (prints `queued_ns` and what each request waited, from the
/// client's send to the worker's read), `handled` (`handled_ns`, from the
/// read to the answer's send); ends when stdin closes.
pub fn pool(workers: u64, delay: Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    println!("listening {}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    // SAFETY: a new epoll descriptor, shared by the threads for the
    // process's life.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(epoll >= 0, "epoll_create1");
    let measured = Arc::new(Mutex::new(Measured::default()));
    let gate = Arc::new(Gate {
        paused: Mutex::new(false),
        changed: Condvar::new(),
    });
    for _ in 0..workers {
        let (measured, gate) = (measured.clone(), gate.clone());
        thread::spawn(move || {
            loop {
                let fd = next_readable(epoll);
                gate.wait_open();
                // SAFETY: `fd` is a connection the acceptor leaked into the
                // epoll set; this worker borrows it until it re-arms it.
                let mut stream = std::mem::ManuallyDrop::new(unsafe {
                    <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd)
                });
                let Some(line) = read_line(&mut stream) else {
                    // SAFETY: the connection ended: closed once, here.
                    unsafe { libc::close(fd) };
                    continue;
                };
                let read = monotonic_ns();
                let sent: u64 = line
                    .strip_prefix("ping ")
                    .and_then(|ns| ns.parse().ok())
                    .unwrap_or_else(|| panic!("request {line:?}"));
                thread::sleep(delay);
                // Up to the answer's send: the probe sees its first byte
                // within the write.
                let answering = monotonic_ns();
                let mut measured = measured.lock().unwrap();
                measured.queued_ns.push(read.saturating_sub(sent));
                measured.handled_ns.push(answering - read);
                drop(measured);
                let answered = stream.write_all(b"ok\n").is_ok();
                if answered {
                    arm(epoll, fd, false);
                }
            }
        });
    }
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let fd = stream.as_raw_fd();
            std::mem::forget(stream);
            arm(epoll, fd, true);
        }
    });
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        match line.as_str() {
            "pause" => {
                gate.set(true);
                println!("paused");
            }
            "resume" => {
                gate.set(false);
                println!("resumed");
            }
            "queued" => {
                let measured = measured.lock().unwrap();
                println!("queued_ns {}", join(&measured.queued_ns));
            }
            "handled" => {
                let measured = measured.lock().unwrap();
                println!("handled_ns {}", join(&measured.handled_ns));
            }
            other => panic!("unknown command {other}"),
        }
        std::io::stdout().flush().unwrap();
    }
}

fn join(values: &[u64]) -> String {
    values
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ask`: connects to `to` (with `PP_WORKLOAD_GO` set, prints `ready` and
/// waits for a line on stdin, and prints `sent` once its first request is
/// sent), sends `count` requests over the one connection, each `ping SENT_NS` (its send time) and `gap` after the
/// last answer, each answer awaited in a blocking read; prints
/// `response_ns` (each request to its answer's first byte, on this
/// process's clock), then `done`, and keeps the connection open until
/// stdin closes.
pub fn ask(to: SocketAddr, count: u64, gap: Duration) {
    let mut stream = TcpStream::connect(to).unwrap_or_else(|e| panic!("connect {to}: {e}"));
    crate::wait_for_go();
    let mut took = Vec::new();
    let mut answer = [0u8; 16];
    for i in 0..count {
        if i > 0 {
            thread::sleep(gap);
        }
        let started = Instant::now();
        stream
            .write_all(format!("ping {}\n", monotonic_ns()).as_bytes())
            .expect("send");
        if i == 0 && std::env::var_os("PP_WORKLOAD_GO").is_some() {
            println!("sent");
            std::io::stdout().flush().unwrap();
        }
        let mut got = Vec::new();
        while !got.ends_with(b"\n") {
            let n = stream.read(&mut answer).expect("receive");
            assert!(n > 0, "the server closed the connection");
            if got.is_empty() {
                took.push(started.elapsed().as_nanos() as u64);
            }
            got.extend_from_slice(&answer[..n]);
        }
    }
    println!("response_ns {}", join(&took));
    println!("done");
    std::io::stdout().flush().unwrap();
    for _ in std::io::stdin().lines() {}
    drop(stream);
}
