//! `pp-demo pool`: the seed's two endpoints on a fixed pool of worker
//! threads over keep-alive connections, as thread-pool servers work
//! (Tomcat's connector, gunicorn's threads, PHP-FPM behind a proxy): a
//! poller notices a connection with a request waiting, one free worker
//! reads it, holds it `--hold-ms` on something that takes no CPU (a lock, a
//! remote call it does not time out), and answers. A request waits for a
//! free worker unread, in the kernel's receive queue: the probe's queue
//! time. (An async server reads every request at once and queues them
//! inside, where the kernel does not see it.)

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    os::fd::{FromRawFd, IntoRawFd, RawFd},
    thread,
    time::Duration,
};

use anyhow::{Context, Result};
use clap::Args;

/// Options of `pool`.
#[derive(Args)]
pub struct Options {
    /// Address to listen on (port 0: any; the chosen address is printed as
    /// `listening ADDR`).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Worker threads: requests served at once.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Milliseconds each request holds its worker, without the CPU.
    #[arg(long, default_value_t = 25)]
    hold_ms: u64,
}

/// Serves until killed.
pub fn run(options: Options) -> Result<()> {
    let listener = TcpListener::bind(options.listen)
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    println!("listening {}", listener.local_addr()?);
    // SAFETY: a new epoll descriptor, shared by the threads for the
    // process's life.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    anyhow::ensure!(epoll >= 0, "epoll_create1 failed");
    let hold = Duration::from_millis(options.hold_ms);
    for _ in 0..options.workers.max(1) {
        thread::spawn(move || {
            loop {
                let fd = next_ready(epoll);
                // SAFETY: `fd` is a connection the acceptor handed to the
                // epoll set; this worker owns it until it re-arms it.
                let mut stream = unsafe { TcpStream::from_raw_fd(fd) };
                if serve_one(&mut stream, hold) {
                    arm(epoll, stream.into_raw_fd(), false);
                }
            }
        });
    }
    for stream in listener.incoming().map_while(Result::ok) {
        arm(epoll, stream.into_raw_fd(), true);
    }
    Ok(())
}

/// Waits for a connection of `epoll` with a request waiting (one-shot: no
/// other worker gets it until it is re-armed).
fn next_ready(epoll: RawFd) -> RawFd {
    let mut event = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: epoll_wait(2) into one event on this stack.
    while unsafe { libc::epoll_wait(epoll, &mut event, 1, -1) } != 1 {}
    event.u64 as RawFd
}

/// Adds (`add`) or re-arms `fd` in `epoll` for its next request.
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
    if unsafe { libc::epoll_ctl(epoll, op, fd, &mut event) } != 0 {
        // SAFETY: a socket no one else holds any more.
        drop(unsafe { TcpStream::from_raw_fd(fd) });
    }
}

/// Reads one request (its head, then its body by `Content-Length`), holds
/// it, answers; whether the connection goes on.
fn serve_one(stream: &mut TcpStream, hold: Duration) -> bool {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let (head, length, path) = loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(head)) => {
                let length = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                    .unwrap_or(0usize);
                break (head, length, request.path.unwrap_or("").to_string());
            }
            Ok(httparse::Status::Partial) if buf.len() < 64 * 1024 => {}
            _ => return false,
        }
    };
    while buf.len() < head + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    thread::sleep(hold);
    let body = if path.starts_with("/api/events") {
        r#"{"stored":true}"#
    } else {
        r#"{"widgets":3}"#
    };
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(answer.as_bytes()).is_ok()
}
