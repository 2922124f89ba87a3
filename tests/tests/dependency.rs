//! Dependency pressure against the workloads' own clocks and the kernel's
//! own counters: response times per remote endpoint, connections, refused
//! connects, and slow connects with their SYN retransmissions.
//!
//! This kernel has no `netem`: delay on the wire cannot be made. Slow
//! answers come from a server that waits before it answers, and slow
//! connects from the kernel's own SYN retransmission (a listener whose
//! accept queue is full drops SYNs; the client sends them again after
//! about a second).

use std::{
    net::TcpListener,
    thread,
    time::{Duration, Instant},
};

use integration_tests::{
    agent::Agent,
    cgroup::TestCgroup,
    exposition::Exposition,
    median,
    netns::{Driven, TestNetns},
    services::{CONNECTIONS, RESPONSE, serve},
};

const CONNECT: &str = "pressure_dependency_connect_seconds";
const FAILURES: &str = "pressure_dependency_connect_failures_total";
const RETRANSMITS: &str = "pressure_dependency_retransmits_total";

/// The dependency signal's events lost for `reason`, as `scrape` counts them.
fn lost_events(scrape: &Exposition, reason: &str) -> f64 {
    scrape
        .value(
            "pressure_probe_events_lost_total",
            &[("signal", "dependency"), ("reason", reason)],
        )
        .unwrap_or(0.0)
}

/// `count` requests from `cgroup` to 127.0.0.1:`port`; returns the client
/// (its connection still open) and what each took on its own clock.
fn call(cgroup: &TestCgroup, port: u16, count: u64) -> (Driven, Vec<f64>) {
    call_at(cgroup, &format!("127.0.0.1:{port}"), count)
}

/// `count` requests from `cgroup` to `to` (`IP:port`), as [`call`].
fn call_at(cgroup: &TestCgroup, to: &str, count: u64) -> (Driven, Vec<f64>) {
    let (mut client, first) = Driven::start(&[
        "call",
        &cgroup.dir().display().to_string(),
        to,
        &count.to_string(),
    ]);
    let took: Vec<f64> = first
        .strip_prefix("response_ns ")
        .unwrap_or_else(|| panic!("the client said {first}"))
        .split_whitespace()
        .map(|ns| ns.parse::<f64>().unwrap() / 1e9)
        .collect();
    assert_eq!(client.line(), "done");
    (client, took)
}

/// What each request to `server` took on the server's own clock, from
/// reading it to sending the answer, in seconds.
fn handled(server: &mut Driven) -> Vec<f64> {
    server
        .command("handled")
        .strip_prefix("handled_ns ")
        .expect("the server reports what it handled")
        .split_whitespace()
        .map(|ns| ns.parse::<f64>().unwrap() / 1e9)
        .collect()
}

fn at<'a>(cgroup: &'a TestCgroup, remote: &'a str) -> [(&'static str, &'a str); 2] {
    [("cgroup", cgroup.label()), ("remote", remote)]
}

/// `client`'s connect failures to `remote` for `reason` in `scrape` (0
/// without a series).
fn failures(scrape: &Exposition, client: &TestCgroup, remote: &str, reason: &str) -> f64 {
    scrape
        .value(
            FAILURES,
            &[
                ("cgroup", client.label()),
                ("remote", remote),
                ("reason", reason),
            ],
        )
        .unwrap_or(0.0)
}

/// A listener on 127.0.0.1:8080 of `netns_path`, in `server`, with backlog
/// 0 (its queue holds one connection) and a connection filling its queue,
/// so that it drops every SYN; returns the listener and the filler.
fn full_accept_queue(server: &TestCgroup, netns_path: &str) -> (Driven, Driven) {
    let (listener, ready) = Driven::start(&[
        "listen",
        &server.dir().display().to_string(),
        netns_path,
        "8080",
        "0",
    ]);
    assert_eq!(ready, "ready");
    let (filler, said) = Driven::start(&["connect", "-", netns_path, "8080", "1"]);
    assert_eq!(said, "connected 1");
    (listener, filler)
}

/// A client calls two servers, one answering after 50 ms and one after
/// 2 ms, 100 times each over persistent connections: each remote's
/// histogram holds the 100 answers; its connection counts while open, not
/// after.
///
/// The oracle compares like with like. The probe times each exchange from
/// the request's send to the answer's first byte in the client's kernel:
/// that lies within what the client's own clock measured around its send
/// and receive (which adds the client's own user-space time), and contains
/// what the server's clock measured from reading the request to sending
/// the answer. So the probe's median bucket `(lower, upper]` has `lower`
/// under the client's median and `upper` at or over the server's, on any
/// machine, however slow.
#[test]
fn response_times_per_remote_against_the_client_clock() {
    let agent = Agent::start(&["--signals", "dependency"]);
    let client = TestCgroup::create("pp-dep-client");
    let slow_cgroup = TestCgroup::create("pp-dep-slow");
    let fast_cgroup = TestCgroup::create("pp-dep-fast");
    let (mut slow_server, slow_port) = serve(&slow_cgroup, 50);
    let (mut fast_server, fast_port) = serve(&fast_cgroup, 2);
    let (slow_client, slow_took) = call(&client, slow_port, 100);
    let (fast_client, fast_took) = call(&client, fast_port, 100);
    let scrape = agent.scrape();
    for (port, took, server) in [
        (slow_port, &slow_took, &mut slow_server),
        (fast_port, &fast_took, &mut fast_server),
    ] {
        let remote = format!("127.0.0.1:{port}");
        let hist = scrape
            .histogram(RESPONSE, &at(&client, &remote))
            .unwrap_or_else(|| panic!("no response histogram for {remote}"));
        let (lower, upper) = hist.median_bucket();
        let client_median = median(took);
        let server_median = median(&handled(server));
        eprintln!(
            "{remote}: {} answers, median bucket ({lower}, {upper}] s; the server's median \
             {server_median:.6} s, the client's {client_median:.6} s",
            hist.count
        );
        assert_eq!(hist.count, 100.0, "answers from {remote}");
        assert!(
            lower < client_median,
            "the probe's median bucket ({lower}, {upper}] s lies above the client's own median \
             {client_median} s"
        );
        assert!(
            server_median <= upper,
            "the probe's median bucket ({lower}, {upper}] s lies below the server's own median \
             {server_median} s"
        );
        assert_eq!(
            scrape.value(CONNECTIONS, &at(&client, &remote)),
            Some(1.0),
            "open connections to {remote}"
        );
        assert_eq!(
            scrape
                .histogram(CONNECT, &at(&client, &remote))
                .map(|h| h.count),
            Some(1.0),
            "connects to {remote}"
        );
    }
    // The servers accepted their connections: they called no one.
    for server in [&slow_cgroup, &fast_cgroup] {
        assert!(
            scrape
                .find(CONNECTIONS, &[("cgroup", server.label())])
                .next()
                .is_none(),
            "{} has dependency series",
            server.label()
        );
    }
    drop((slow_client, fast_client));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let scrape = agent.scrape();
        let open: f64 = [slow_port, fast_port]
            .iter()
            .map(|port| {
                scrape
                    .value(CONNECTIONS, &at(&client, &format!("127.0.0.1:{port}")))
                    .unwrap_or(0.0)
            })
            .sum();
        if open == 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} connections still counted after the client closed them"
        );
        thread::sleep(Duration::from_millis(100));
    }
    drop((slow_server, fast_server));
}

/// Past `--max-remotes`, a container's quieter remotes are summed as
/// `remote="other"`: with a bound of 1, the busier of two servers keeps
/// its name, the other's answers and connection go to `other`, and nothing
/// is lost between the two.
#[test]
fn remotes_past_the_bound_are_summed_as_other() {
    let agent = Agent::start(&["--signals", "dependency", "--max-remotes", "1"]);
    let client = TestCgroup::create("pp-dep-bound");
    let busy_cgroup = TestCgroup::create("pp-dep-busy");
    let quiet_cgroup = TestCgroup::create("pp-dep-quiet");
    let (busy_server, busy_port) = serve(&busy_cgroup, 1);
    let (quiet_server, quiet_port) = serve(&quiet_cgroup, 1);
    let (busy_client, _) = call(&client, busy_port, 30);
    let (quiet_client, _) = call(&client, quiet_port, 5);
    let scrape = agent.scrape();
    let remotes: Vec<String> = scrape
        .find(&format!("{RESPONSE}_count"), &[("cgroup", client.label())])
        .map(|s| s.labels["remote"].clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let busy = format!("127.0.0.1:{busy_port}");
    assert_eq!(remotes, [busy.clone(), "other".to_string()]);
    let answers = |remote: &str| {
        scrape
            .histogram(RESPONSE, &at(&client, remote))
            .map(|h| h.count)
    };
    assert_eq!(answers(&busy), Some(30.0));
    assert_eq!(answers("other"), Some(5.0));
    assert_eq!(
        scrape.value(CONNECTIONS, &at(&client, "other")),
        Some(1.0),
        "the quiet server's open connection"
    );
    drop((busy_client, quiet_client, busy_server, quiet_server));
}

/// 20 connects to a closed port: 20 refused failures for that remote, and
/// no answer observed.
#[test]
fn refused_connects_are_failures_of_their_remote() {
    let agent = Agent::start(&["--signals", "dependency"]);
    let client = TestCgroup::create("pp-dep-refused");
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let (_, said) = Driven::start(&[
        "refused",
        &client.dir().display().to_string(),
        &port.to_string(),
        "20",
    ]);
    assert_eq!(
        said, "refused 20",
        "the kernel did not refuse every connect"
    );
    let scrape = agent.scrape();
    let remote = format!("127.0.0.1:{port}");
    let failures = |reason: &str| failures(&scrape, &client, &remote, reason);
    assert_eq!(failures("refused"), 20.0);
    assert_eq!(
        failures("timed_out") + failures("other") + failures("abandoned"),
        0.0
    );
    assert!(scrape.histogram(RESPONSE, &at(&client, &remote)).is_none());
    assert!(scrape.histogram(CONNECT, &at(&client, &remote)).is_none());
}

/// Slow connects: a listener whose accept queue is full drops SYNs, so the
/// client's kernel sends them again. Five connects, each let in half a
/// second after it started (one queued connection is accepted, making
/// room for the next SYN): each connect takes at least the kernel's 1 s
/// SYN retransmission timeout (less at most a tick), the probe's connect
/// times are no longer than the client's own measure, and the retransmits
/// are the namespace's `RetransSegs`.
#[test]
fn slow_connects_wait_for_syn_retransmissions() {
    let agent = Agent::start(&["--signals", "dependency"]);
    let client = TestCgroup::create("pp-dep-syn");
    let server = TestCgroup::create("pp-dep-synsrv");
    let netns = TestNetns::create("pp-dep");
    let netns_path = netns.path().display().to_string();
    let (mut listener, filler) = full_accept_queue(&server, &netns_path);
    let retransmitted_before = netns.retransmitted_segments();
    let mut clients = Vec::new();
    let mut took = Vec::new();
    for _ in 0..5 {
        let args = [
            "connect-wait".to_string(),
            client.dir().display().to_string(),
            netns_path.clone(),
            "8080".to_string(),
        ];
        let connecting = thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Driven::start(&args)
        });
        thread::sleep(Duration::from_millis(500));
        assert_eq!(listener.command("accept"), "accepted 1");
        let (connected, said) = connecting.join().unwrap();
        let ns: f64 = said
            .strip_prefix("connect_ns ")
            .unwrap_or_else(|| panic!("the client said {said}"))
            .parse()
            .unwrap();
        took.push(ns / 1e9);
        clients.push(connected);
    }
    let retransmitted = netns.retransmitted_segments() - retransmitted_before;
    let scrape = agent.scrape();
    let remote = "127.0.0.1:8080";
    let hist = scrape
        .histogram(CONNECT, &at(&client, remote))
        .expect("no connect histogram");
    let probe_retransmits = scrape
        .value(RETRANSMITS, &at(&client, remote))
        .unwrap_or(0.0);
    let lost: Vec<String> = scrape
        .find(
            "pressure_probe_events_lost_total",
            &[("signal", "dependency")],
        )
        .filter(|sample| sample.value > 0.0)
        .map(|sample| format!("{:?} {}", sample.labels, sample.value))
        .collect();
    let everywhere: Vec<String> = scrape
        .find(&format!("{CONNECT}_count"), &[])
        .map(|sample| format!("{:?} {}", sample.labels, sample.value))
        .collect();
    eprintln!("connects everywhere: {everywhere:?}");
    eprintln!(
        "connects took {took:?} s on the client's clock; probe: {} connects, buckets {:?}; \
         retransmits: kernel {retransmitted}, probe {probe_retransmits}; lost: {lost:?}",
        hist.count, hist.buckets
    );
    assert_eq!(hist.count, 5.0);
    // The first SYN found the queue full and was dropped; the kernel sends
    // it again when its initial retransmission timer (TCP_TIMEOUT_INIT, 1 s
    // in jiffies) fires, or later after a second drop. A jiffies timer can
    // fire up to one tick early on a nanosecond clock (a tick is 10 ms at
    // the lowest HZ), so no connect ends before 0.99 s, on either clock.
    let retransmission = 0.99;
    assert!(
        took.iter().all(|t| *t >= retransmission),
        "a connect ended before the SYN was sent again: {took:?}"
    );
    let at_or_under = |le: f64| {
        hist.buckets
            .iter()
            .find(|(b, _)| *b == le)
            .map(|(_, count)| *count)
            .unwrap_or_else(|| panic!("no bucket {le}: {:?}", hist.buckets))
    };
    assert_eq!(
        at_or_under(0.5),
        0.0,
        "connects at or under 0.5 s: {:?}",
        hist.buckets
    );
    assert!(
        hist.sum >= 5.0 * retransmission,
        "connect times sum to {} s",
        hist.sum
    );
    // The probe times a connect from SYN_SENT to ESTABLISHED, inside the
    // client's connect(2): never longer than the client's clock, so each
    // bucket holds at least the connects the client saw end by its bound.
    assert!(
        hist.sum <= took.iter().sum::<f64>(),
        "the probe's connects sum to {} s, the client's to {} s",
        hist.sum,
        took.iter().sum::<f64>()
    );
    for (le, count) in &hist.buckets {
        let client = took.iter().filter(|t| *t <= le).count() as f64;
        assert!(
            *count >= client,
            "{count} connects at or under {le} s in the probe, {client} on the client's clock"
        );
    }
    assert!(
        retransmitted >= 5,
        "the kernel retransmitted {retransmitted}"
    );
    assert_eq!(probe_retransmits, retransmitted as f64);
    drop(clients);
    drop(filler);
}

/// `connects` connects from a cgroup of their own to a listener whose full
/// accept queue drops every SYN (in a network namespace of its own, named
/// `pp-dep-NAME`), each given up by the client after `millis`: what the
/// client said, and the agent's failed connects to the listener by reason.
fn given_up_on_a_full_queue(
    name: &str,
    connects: u64,
    millis: u64,
) -> (String, Vec<(&'static str, f64)>) {
    let agent = Agent::start(&["--signals", "dependency"]);
    let client = TestCgroup::create(&format!("pp-dep-{name}"));
    let server = TestCgroup::create(&format!("pp-dep-{name}srv"));
    let netns = TestNetns::create(&format!("pp-dep-{name}"));
    let netns_path = netns.path().display().to_string();
    let (_listener, filler) = full_accept_queue(&server, &netns_path);
    let (_, said) = Driven::start(&[
        "give-up",
        &client.dir().display().to_string(),
        &netns_path,
        "8080",
        &connects.to_string(),
        &millis.to_string(),
    ]);
    let scrape = agent.scrape();
    let by_reason = ["refused", "timed_out", "unreachable", "other", "abandoned"]
        .into_iter()
        .map(|reason| (reason, failures(&scrape, &client, "127.0.0.1:8080", reason)))
        .collect();
    drop(filler);
    (said, by_reason)
}

/// A connect its caller gives up on (its own connect timeout, Happy
/// Eyeballs' losing attempt) leaves `SYN_SENT` for `CLOSE` with no socket
/// error: `abandoned`, no failure of the remote. Before, it was `other`,
/// which the failing rule counts. The listener's full accept queue drops
/// every SYN, so no connect can end before its caller's 100 ms timeout.
#[test]
fn abandoned_connects_are_no_failures() {
    let (said, by_reason) = given_up_on_a_full_queue("ab", 10, 100);
    assert_eq!(
        said, "abandoned 10 syn_retransmits 0",
        "the client did not give up on every connect before a SYN was sent again"
    );
    eprintln!("connect failures by reason: {by_reason:?}");
    assert_eq!(
        by_reason,
        [
            ("refused", 0.0),
            ("timed_out", 0.0),
            ("unreachable", 0.0),
            ("other", 0.0),
            ("abandoned", 10.0)
        ]
    );
}

/// A remote that drops SYNs (here a listener whose accept queue is full)
/// is failing, even though no client waits out the kernel's SYN retries:
/// a connect its caller gives up on after the kernel sent its SYN again
/// (the first retransmission comes after 1 s) counts as `timed_out`.
/// Before, it was `abandoned`, and the remote looked healthy.
#[test]
fn connects_given_up_after_an_unanswered_syn_retransmission_time_out() {
    let (said, by_reason) = given_up_on_a_full_queue("sl", 3, 1500);
    let numbers: Vec<u64> = said
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let (abandoned, resent) = (numbers[0], numbers[1]);
    assert_eq!(abandoned, 3, "the client did not give up on every connect");
    assert!(
        resent >= 3,
        "{resent} SYNs sent again for 3 connects of 1.5 s"
    );
    let by_reason: Vec<(&str, f64)> = by_reason
        .into_iter()
        .filter(|(reason, _)| ["timed_out", "abandoned"].contains(reason))
        .collect();
    eprintln!("{resent} SYNs sent again; connect failures by reason: {by_reason:?}");
    assert_eq!(by_reason, [("timed_out", 3.0), ("abandoned", 0.0)]);
}

/// Past `--kernel-remotes`, events of new (cgroup, remote) pairs are lost,
/// and counted: three closed ports refused 5 times each, room for two.
#[test]
fn remotes_past_the_kernel_bound_are_counted_as_lost() {
    let agent = Agent::start(&[
        "--signals",
        "dependency",
        "--kernel-remotes",
        "2",
        "--kernel-remotes-per-container",
        "2",
    ]);
    let client = TestCgroup::create("pp-dep-bound");
    let lost = |scrape: &Exposition| lost_events(scrape, "remotes_full");
    let lost_before = lost(&agent.scrape());
    let ports: Vec<u16> = (0..3)
        .map(|_| {
            let probe = TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        })
        .collect();
    for port in &ports {
        let (_, said) = Driven::start(&[
            "refused",
            &client.dir().display().to_string(),
            &port.to_string(),
            "5",
        ]);
        assert_eq!(said, "refused 5");
    }
    let scrape = agent.scrape();
    let exported: Vec<f64> = scrape
        .find(
            FAILURES,
            &[("cgroup", client.label()), ("reason", "refused")],
        )
        .map(|s| s.value)
        .collect();
    let lost = lost(&scrape) - lost_before;
    eprintln!("refused counts per exported remote {exported:?}, lost {lost}");
    assert!(exported.len() <= 2, "more remotes than the kernel bound");
    assert!(exported.iter().all(|n| *n == 5.0));
    assert!(
        exported.iter().sum::<f64>() + lost >= 15.0 && lost >= 5.0,
        "15 refusals: {exported:?} recorded and {lost} lost"
    );
}

/// IPv6 peers: ten HTTP requests, each on a connection of its own, to the
/// agent listening on [::1] are ten connects and at least ten answers from
/// remote `[::1]:PORT` (the scrape that reads them adds its own).
#[test]
fn ipv6_remotes_are_followed() {
    let agent = Agent::start(&["--signals", "dependency", "--listen", "[::1]:0"]);
    for _ in 0..10 {
        assert_eq!(agent.get("/healthz").0, 200);
    }
    let scrape = agent.scrape();
    let remote = format!("[::1]:{}", agent.addr().port());
    let count = |name| {
        scrape
            .find(&format!("{name}_count"), &[("remote", remote.as_str())])
            .map(|s| s.value)
            .sum::<f64>()
    };
    eprintln!(
        "{remote}: {} connects, {} answers",
        count(CONNECT),
        count(RESPONSE)
    );
    assert!(count(CONNECT) >= 10.0 && count(RESPONSE) >= 10.0);
}

/// An IPv4 peer reached through an IPv6 socket (`[::ffff:127.0.0.1]`, the
/// IPv4-mapped address) is the same remote as through an IPv4 socket: one
/// series, which counts both connections. Before, the kernel kept two
/// keys, which the agent printed with one label set: two series alike.
#[test]
fn an_ipv4_peer_through_an_ipv6_socket_is_one_remote() {
    let agent = Agent::start(&["--signals", "dependency"]);
    let client = TestCgroup::create("pp-dep-mapped");
    let server_cgroup = TestCgroup::create("pp-dep-mappedsrv");
    let (_server, port) = serve(&server_cgroup, 0);
    let (_v4, _) = call_at(&client, &format!("127.0.0.1:{port}"), 3);
    let (_v6, _) = call_at(&client, &format!("[::ffff:127.0.0.1]:{port}"), 3);
    let scrape = agent.scrape();
    let remote = format!("127.0.0.1:{port}");
    for name in [CONNECTIONS, &format!("{CONNECT}_count")] {
        let series: Vec<f64> = scrape
            .find(name, &at(&client, &remote))
            .map(|s| s.value)
            .collect();
        eprintln!("{name}{{remote=\"{remote}\"}}: {series:?}");
        assert_eq!(series, [2.0], "{name} of {remote}");
    }
}

/// A container that connects to forty closed ports takes at most its share
/// of the kernel's (cgroup, remote) table (`--kernel-remotes-per-container`
/// 10 of `--kernel-remotes` 40), its other pairs' events counted lost as
/// `remotes_per_container`; another container's requests, made after the
/// flood, are all timed. (It took the whole table, and the other container
/// had no series at all.)
#[test]
fn a_container_connecting_everywhere_leaves_room_for_the_others() {
    let agent = Agent::start(&[
        "--signals",
        "dependency",
        "--kernel-remotes",
        "40",
        "--kernel-remotes-per-container",
        "10",
    ]);
    let flooder = TestCgroup::create("pp-dep-flooder");
    let client = TestCgroup::create("pp-dep-neighbour");
    let server_cgroup = TestCgroup::create("pp-dep-neighbour-server");
    let lost = |scrape: &Exposition| lost_events(scrape, "remotes_per_container");
    let lost_before = lost(&agent.scrape());
    // Forty ports nothing listens on, each refused once.
    let listeners: Vec<TcpListener> = (0..40)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(listeners);
    for port in &ports {
        let (_, said) = Driven::start(&[
            "refused",
            &flooder.dir().display().to_string(),
            &port.to_string(),
            "1",
        ]);
        assert_eq!(said, "refused 1");
    }
    let (_server, port) = serve(&server_cgroup, 20);
    let (_client, took) = call(&client, port, 20);
    let scrape = agent.scrape();
    let remote = format!("127.0.0.1:{port}");
    let answers = scrape
        .histogram(RESPONSE, &at(&client, &remote))
        .map(|h| h.count);
    let flooder_pairs = scrape
        .find(
            FAILURES,
            &[("cgroup", flooder.label()), ("reason", "refused")],
        )
        .count();
    let lost = lost(&scrape) - lost_before;
    eprintln!(
        "the flooder: {flooder_pairs} remotes exported, {lost} events lost past its share; \
         the neighbour: {answers:?} answers of {}",
        took.len()
    );
    assert_eq!(answers, Some(20.0), "the neighbour's answers from {remote}");
    assert_eq!(flooder_pairs, 10, "the flooder's remotes");
    assert_eq!(lost, 30.0, "the flooder's refusals past its share");
}

/// Thirty remotes that each refuse one connect are no failing remote:
/// summed into `remote="other"` (`--max-remotes 1`), they made the verdict
/// `dependency` on `other`; they make none. Twelve refusals from one
/// remote still make it (`--min-events 10`).
#[test]
fn failures_spread_over_many_remotes_make_no_dependency_verdict() {
    let agent = Agent::start(&[
        "--signals",
        "dependency",
        "--max-remotes",
        "1",
        "--min-events",
        "10",
        "--window",
        "30",
        "--interval",
        "0.5",
    ]);
    let spread = TestCgroup::create("pp-dep-spread");
    let one = TestCgroup::create("pp-dep-one-remote");
    let closed = || {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let refuse = |cgroup: &TestCgroup, port: u16, count: u64| {
        let (_, said) = Driven::start(&[
            "refused",
            &cgroup.dir().display().to_string(),
            &port.to_string(),
            &count.to_string(),
        ]);
        assert_eq!(said, format!("refused {count}"));
    };
    // Each container is seen before the window's failures.
    let one_port = closed();
    refuse(&spread, closed(), 1);
    refuse(&one, one_port, 1);
    agent.scrape();
    for _ in 0..30 {
        refuse(&spread, closed(), 1);
    }
    refuse(&one, one_port, 12);
    let scrape = agent.scrape();
    let (bottleneck, detail) = scrape.verdict(spread.label());
    assert_ne!(
        bottleneck, "dependency",
        "thirty remotes refusing once each: verdict {bottleneck} on {detail}"
    );
    assert_eq!(
        scrape.verdict(one.label()),
        ("dependency".to_string(), format!("127.0.0.1:{one_port}")),
        "one remote refusing twelve times"
    );
}
