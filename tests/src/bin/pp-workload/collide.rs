//! `collide`: a long syscall beside a thread whose id matches its own
//! modulo a slot count, as a table indexed by thread id would share.

use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    sync::mpsc,
    thread,
    time::Instant,
};

use crate::gettid;

/// Thread L sits in a `read()` on a socket; short-lived threads are made
/// one after another until one's id equals L's modulo `slots` (every new
/// thread makes syscalls as it starts); then L is woken. Prints
/// "collided TID" and "read_ns NS", NS the length of L's read as L
/// measured it.
pub fn collide(slots: u32) {
    assert!(slots > 0, "SLOTS must be at least 1");
    let (mut waker, mut sleeper) = UnixStream::pair().expect("socketpair");
    let (tid_of_l, l_is) = mpsc::channel();
    let l = thread::spawn(move || {
        tid_of_l.send(gettid() as u32).unwrap();
        let started = Instant::now();
        let mut byte = [0u8; 1];
        sleeper.read_exact(&mut byte).expect("read");
        started.elapsed()
    });
    let l_tid = l_is.recv().unwrap();
    let collided = loop {
        let tid = thread::spawn(|| gettid() as u32).join().unwrap();
        if tid != l_tid && tid % slots == l_tid % slots {
            break tid;
        }
    };
    waker.write_all(&[1]).expect("write");
    let took = l.join().unwrap();
    println!("collided {collided}\nread_ns {}", took.as_nanos());
    std::io::stdout().flush().unwrap();
}
