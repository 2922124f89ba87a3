//! The rows of connections the agent follows from the kernel side, in
//! hostile shapes: an owner holding its socket's lock or lingering in its
//! close while the agent starts, a pool reconnecting on the same
//! descriptors, a draining server, one container with thousands of
//! listeners, and requests split or spoofed across a send's buffers.

use std::{fs, net::TcpListener, thread, time::Duration};

use integration_tests::{
    agent::{self, Agent},
    cgroup::TestCgroup,
    exposition::Exposition,
    netns::Driven,
    process::{Running, in_cgroup, python_script},
    services::{CONNECTIONS, connections, loopback, pool_of, redis_server, serve, timed, untimed},
};

use super::{Checked, check};

/// An agent judging over 30 s, or why it did not start (within a minute).
fn started() -> Result<Agent, String> {
    Agent::start_binary(&agent::binary(), &["--window", "30", "--interval", "0.5"])
}

/// Whether the process `pid` is blocked in `close(2)`, as the kernel says
/// (`/proc/PID/syscall` starts with the number of the call it is in).
fn in_close(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/syscall"))
        .is_ok_and(|call| call.starts_with(&format!("{} ", libc::SYS_close)))
}

/// A connection whose owner holds its socket's lock (a send faulting on a
/// userfaultfd page, as a slow FUSE or NFS page would) while the agent
/// starts: the agent comes up and counts it, and times the owner's next
/// request once the lock is let go. An agent that takes a socket's lock at
/// start (the old take-over's `getsockopt(TCP_INFO)`) waits, unkillable,
/// for as long as the owner holds it.
pub fn lock_held_at_start() -> Checked {
    let database = TestCgroup::create("pp-faults-held-db");
    let service = TestCgroup::create("pp-faults-held");
    let (_db, port) = serve(&database, 0);
    let remote = loopback(port);
    let (mut owner, first) =
        Driven::start(&["hold", &service.dir().display().to_string(), &remote]);
    check(first == "ready", || format!("the owner said {first}"))?;
    let holding = owner.command("hold");
    check(holding == "holding", || format!("the owner said {holding}"))?;
    // The owner's send cannot end before `release`: the lock is held
    // throughout the start and the scrape.
    let agent = started().map_err(|e| format!("the agent did not start: {e}"))?;
    let held = connections(&agent.scrape(), &service, &remote);
    let released = owner.command("release");
    let requested = owner.command("request");
    let answers = timed(&agent.scrape(), &service, &remote);
    check(
        held == Some(1.0) && released == "answered" && requested == "answered" && answers == 1.0,
        || {
            format!(
                "connections while held {held:?} (1), the owner said {released} and \
                 {requested}, timed answers after {answers} (1)"
            )
        },
    )
}

/// A connection whose owner closes it with `SO_LINGER` (120 s) while its
/// data cannot go (the peer does not read): the close lingers in the
/// owner, the agent uncounts the connection at once and serves on, and a
/// second agent starts meanwhile; the owner's close ends when the peer
/// resets. An agent holding a duplicate of the socket would make its own
/// close the final one and wait out the linger.
pub fn lingering_close() -> Checked {
    let service = TestCgroup::create("pp-faults-linger");
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote = loopback(peer.local_addr().unwrap().port());
    let (mut owner, first) =
        Driven::start(&["linger", &service.dir().display().to_string(), &remote]);
    let (accepted, _) = peer.accept().unwrap();
    check(first == "filled", || format!("the owner said {first}"))?;
    let agent = started().map_err(|e| format!("the agent did not start: {e}"))?;
    let open = connections(&agent.scrape(), &service, &remote);
    let closing = owner.command("close");
    for _ in 0..500 {
        if in_close(owner.pid()) {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let lingering = in_close(owner.pid());
    let uncounted = connections(&agent.scrape(), &service, &remote);
    let second = started().map_err(|e| format!("a second agent did not start: {e}"))?;
    let second_counted = connections(&second.scrape(), &service, &remote);
    let still_lingering = in_close(owner.pid());
    // Unread data: the peer's close resets the connection, the linger ends.
    drop(accepted);
    let closed = owner.line();
    check(
        open == Some(1.0)
            && closing == "closing"
            && lingering
            && uncounted == Some(0.0)
            && second_counted.unwrap_or(0.0) == 0.0
            && still_lingering
            && closed == "closed",
        || {
            format!(
                "connections before the close {open:?} (1), while it lingers {uncounted:?} \
                 (0), to a second agent {second_counted:?} (0); the owner in close(2): \
                 {lingering} then {still_lingering}; it said {closing}, {closed}"
            )
        },
    )
}

/// A pool of `count` connections to a listener of the same process, each
/// kept beside the socket accepted for it, one pair closed and opened
/// again on the freed descriptors every 20 ms (a turn of the pool takes
/// about as long as an agent's start, so that some connections are older
/// than the agent and some newer; an outbound socket's
/// descriptor reused for an inbound one and the other way round), while
/// agents start and stop: the accepted sockets are never counted as
/// connections (to their clients' ports), no agent counts more than the
/// pool holds, and once it stops churning the agent counts exactly
/// `count`. Taking up a socket by its descriptor number after a pass over
/// the descriptors took inbound sockets for outbound ones.
pub fn reconnecting_pool(count: usize) -> Checked {
    let service = TestCgroup::create("pp-faults-churn");
    let (mut pool, first) = Driven::start(&[
        "churn",
        &service.dir().display().to_string(),
        &count.to_string(),
        "20",
    ]);
    let remote = match first.strip_prefix("ready ") {
        Some(port) => loopback(port.parse().unwrap()),
        None => return Err(format!("the pool said {first}")),
    };
    let mut during = Vec::new();
    let mut elsewhere = Vec::new();
    let mut look = |scrape: &Exposition| {
        let labels = [("cgroup", service.label())];
        elsewhere.extend(
            scrape
                .find(CONNECTIONS, &labels)
                .filter(|sample| sample.labels["remote"] != remote && sample.value != 0.0)
                .map(|sample| format!("{}: {}", sample.labels["remote"], sample.value)),
        );
        connections(scrape, &service, &remote)
    };
    for _ in 0..5 {
        let agent = started().map_err(|e| format!("an agent did not start: {e}"))?;
        during.push(look(&agent.scrape()).unwrap_or(0.0));
    }
    let agent = started().map_err(|e| format!("the agent did not start: {e}"))?;
    during.push(look(&agent.scrape()).unwrap_or(0.0));
    let steady = pool.command("stop");
    let after = look(&agent.scrape());
    let most = count as f64;
    check(
        steady.starts_with(&format!("steady {count} "))
            && during.iter().all(|n| *n <= most)
            && after == Some(most)
            && elsewhere.is_empty(),
        || {
            format!(
                "{steady}: counted while churning {during:?} (at most {count}), once \
                 steady {after:?} ({count}); accepted sockets taken for connections: \
                 {elsewhere:?} (none)"
            )
        },
    )
}

/// A server draining (it closed its listener and serves the connections
/// it accepted) when the agent starts: its accepted sockets are not taken
/// for connections it opened (inbound is told by how a socket was made,
/// not by a listener still being there), and its clients' pool counts
/// its three.
pub fn draining_server() -> Checked {
    let server = TestCgroup::create("pp-faults-drain-server");
    let client = TestCgroup::create("pp-faults-drain-client");
    let (mut server_process, port) = serve(&server, 0);
    let remote = loopback(port);
    let _pool = pool_of(3, 5, &client, &remote);
    let drained = server_process.command("drain 3");
    let agent = started().map_err(|e| format!("the agent did not start: {e}"))?;
    let scrape = agent.scrape();
    let server_labels = [("cgroup", server.label())];
    let servers: Vec<_> = scrape.find(CONNECTIONS, &server_labels).collect();
    let clients = connections(&scrape, &client, &remote);
    check(
        drained == "drained" && servers.is_empty() && clients == Some(3.0),
        || {
            format!(
                "the server said {drained}; its own connections {servers:?} (none); its \
                 clients' {clients:?} (3)"
            )
        },
    )
}

/// One container holding `count` listening sockets (16,384: where the
/// agent's list of listening ports once ended) leaves another container's
/// ten connections older than the agent followed, and uncounted once they
/// close unused.
pub fn crowded_listeners(count: usize) -> Checked {
    let crowded = TestCgroup::create("pp-faults-listeners");
    let database = TestCgroup::create("pp-faults-listeners-db");
    let service = TestCgroup::create("pp-faults-listeners-service");
    let (_listeners, first) = Driven::start(&[
        "listeners",
        &crowded.dir().display().to_string(),
        &count.to_string(),
    ]);
    check(first == format!("listening {count}"), || {
        format!("the listeners said {first}")
    })?;
    let (_db, port) = serve(&database, 0);
    let remote = loopback(port);
    let pool = pool_of(10, 5, &service, &remote);
    let agent = started().map_err(|e| format!("the agent did not start: {e}"))?;
    let open = connections(&agent.scrape(), &service, &remote);
    // Closed before they sent anything: never taken up, uncounted.
    drop(pool);
    let closed = connections(&agent.scrape(), &service, &remote);
    check(open == Some(10.0) && closed == Some(0.0), || {
        format!("the other container's connections {open:?} (10), after they closed {closed:?} (0)")
    })
}

/// A long poll is told by the bytes a command actually sends, whatever
/// shape its writes take, against a real `redis-server`: a `BLPOP` sent as
/// seven iovecs, as its array header and then the rest in two writes, or
/// ending at a page whose next page is unreadable, is a long poll; a `GET`
/// after a zero-length iovec whose memory holds a `BLPOP` (bytes never
/// sent, a spoof) is timed. Before, the first 64 bytes at the first
/// iovec's address were read, whatever it held.
pub fn request_shapes() -> Checked {
    let agent = started().map_err(|e| format!("the agent did not start: {e}"))?;
    let redis = TestCgroup::create("pp-faults-shapes-redis");
    let (_server, port) = redis_server(&redis);
    let remote = loopback(port);
    let count = 5;
    let mut wrong = Vec::new();
    for (shape, long_polls, answers_timed) in [
        ("iovecs", count, 0),
        ("writes", count, 0),
        ("page-edge", count, 0),
        ("spoof", 0, count),
    ] {
        let client = TestCgroup::create(&format!("pp-faults-shapes-{shape}"));
        let mut run = Running::start(in_cgroup(
            client.dir(),
            "python3",
            &[
                python_script("resp_shapes.py").to_str().unwrap(),
                &port.to_string(),
                shape,
                &count.to_string(),
            ],
        ));
        let answered = run.line();
        check(
            answered == format!("answered {count}") && run.finished(),
            || format!("the {shape} client said {answered}, or failed"),
        )?;
        let scrape = agent.scrape();
        let got = (
            untimed(&scrape, &client, &remote, "long_poll"),
            timed(&scrape, &client, &remote),
        );
        if got != (f64::from(long_polls), f64::from(answers_timed)) {
            wrong.push(format!(
                "{shape}: {got:?} (long polls, timed answers), not ({long_polls}, {answers_timed})"
            ));
        }
    }
    check(wrong.is_empty(), || wrong.join("; "))
}
