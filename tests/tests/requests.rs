//! The request signal against the workloads' own clocks: response and
//! queue times of a server with a fixed pool of workers, requests waiting
//! for a worker, idle keep-alive connections, connections older than the
//! agent, and the errors a real HTTP/1.1 server (Python's http.server)
//! answers.
//!
//! The oracles bound each request from both sides. The probe times a
//! request from its first byte arriving (inside the client's send) to the
//! server's first read (queue) and to the answer's first byte sent
//! (response). The server's clock, from the client's send (stamped in the
//! request) to the worker's read, holds the probe's queue time; from that
//! read to the answer's send, it is held by the probe's response time;
//! the client's round trip holds the probe's response time. Sums compare
//! exactly; a median compares within one bucket of the exported
//! histogram.

use std::time::Instant;

use integration_tests::{
    agent::Agent,
    cgroup::TestCgroup,
    exposition::{Exposition, ScrapedHistogram},
    median,
    process::{Running, in_cgroup, python_script},
    services::{finish, http2_channel, listening_port, measured, pool, ready_client, run},
};

const RESPONSE: &str = "pressure_request_seconds";
const QUEUE: &str = "pressure_request_queue_seconds";
const WAITING: &str = "pressure_requests_waiting";
const CONNECTIONS: &str = "pressure_request_connections";
const ERRORS: &str = "pressure_request_errors_total";
const MULTIPLEXED: &str = "pressure_request_multiplexed_connections_total";

/// The ratio of one exported bucket bound to the next (2^(1/4)).
const BUCKET_STEP: f64 = 1.189_207_115_002_721;

fn at<'a>(cgroup: &'a TestCgroup, port: &'a str) -> [(&'static str, &'a str); 2] {
    [("cgroup", cgroup.label()), ("port", port)]
}

fn histogram(scrape: &Exposition, name: &str, labels: &[(&str, &str)]) -> ScrapedHistogram {
    scrape
        .histogram(name, labels)
        .unwrap_or_else(|| panic!("no {name} for {labels:?}"))
}

/// The probe's median bucket holds `oracle`'s median, or the next one up
/// does (the probe's time is within the workload's, a few microseconds
/// shorter).
fn median_within_a_bucket(hist: &ScrapedHistogram, oracle: &[f64], what: &str) {
    let (lower, upper) = hist.median_bucket();
    let expected = median(oracle);
    eprintln!("{what}: median bucket ({lower}, {upper}] s, the workload's median {expected:.6} s");
    assert!(
        lower < expected && expected <= upper * BUCKET_STEP,
        "{what}: the probe's median bucket ({lower}, {upper}] s is not within a bucket of the \
         workload's median {expected} s"
    );
}

/// A server with one worker that holds each request 30 ms; 100 requests
/// over one keep-alive connection: 100 responses, each within the client's
/// round trip and holding the server's own work, and queue times within
/// what the workload measured (near nothing: the worker is free).
#[test]
fn response_times_on_a_keep_alive_connection_against_the_workloads_clocks() {
    let agent = Agent::start(&["--signals", "requests"]);
    let server_cgroup = TestCgroup::create("pp-req-one");
    let (mut server, port) = pool(&server_cgroup, 1, 30);
    let mut client = ready_client(port, 100, 0);
    let round_trips = run(&mut client);
    let (handled, queued) = (
        measured(&mut server, "handled"),
        measured(&mut server, "queued"),
    );
    let scrape = agent.scrape();
    let port = port.to_string();
    let response = histogram(&scrape, RESPONSE, &at(&server_cgroup, &port));
    let queue = histogram(&scrape, QUEUE, &at(&server_cgroup, &port));
    assert_eq!((response.count, queue.count), (100.0, 100.0));
    let (lower, upper) = response.median_bucket();
    assert!(
        lower < median(&round_trips) && median(&handled) <= upper,
        "response median bucket ({lower}, {upper}] s against the client's median {} s and \
         the server's {} s",
        median(&round_trips),
        median(&handled)
    );
    let sum = |v: &[f64]| v.iter().sum::<f64>();
    eprintln!(
        "response sum {} s (server {} s, client {} s); queue sum {} s (workload {} s)",
        response.sum,
        sum(&handled),
        sum(&round_trips),
        queue.sum,
        sum(&queued)
    );
    assert!(sum(&handled) <= response.sum && response.sum <= sum(&round_trips));
    assert!(queue.sum <= sum(&queued));
    assert_eq!(
        scrape.value(CONNECTIONS, &at(&server_cgroup, &port)),
        Some(1.0)
    );
    assert_eq!(scrape.value(WAITING, &at(&server_cgroup, &port)), Some(0.0));
}

/// Two clients send 50 requests each at once to a server with one worker
/// that holds each 30 ms: nearly every request waits for the other
/// client's; the probe's queue times agree with the workload's (the
/// client's send to the worker's read, one clock), median within a bucket.
#[test]
fn requests_waiting_for_the_one_worker_queue_as_the_workload_measured() {
    let agent = Agent::start(&["--signals", "requests"]);
    let server_cgroup = TestCgroup::create("pp-req-queue");
    let (mut server, port) = pool(&server_cgroup, 1, 30);
    let mut clients = [ready_client(port, 50, 0), ready_client(port, 50, 0)];
    for client in &mut clients {
        assert_eq!(client.command("go"), "sent");
    }
    for client in &mut clients {
        finish(client);
    }
    let queued = measured(&mut server, "queued");
    let scrape = agent.scrape();
    let port = port.to_string();
    let queue = histogram(&scrape, QUEUE, &at(&server_cgroup, &port));
    assert_eq!(queue.count, 100.0);
    median_within_a_bucket(&queue, &queued, "queue time");
    assert!(
        queue.sum <= queued.iter().sum::<f64>(),
        "the probe's queue times ({} s) exceed the workload's",
        queue.sum
    );
    assert_eq!(
        scrape.value(CONNECTIONS, &at(&server_cgroup, &port)),
        Some(2.0)
    );
}

/// A request no worker has read waits: `requests_waiting` is 1 while the
/// workers are held, 0 once it is read; its queue time lies between what
/// the test waited before releasing the workers and what the server
/// measured. When the client closes, its connection no longer counts.
#[test]
fn a_request_no_worker_has_read_is_waiting() {
    let agent = Agent::start(&["--signals", "requests"]);
    let server_cgroup = TestCgroup::create("pp-req-held");
    let (mut server, port) = pool(&server_cgroup, 1, 0);
    assert_eq!(server.command("pause"), "paused");
    let mut client = ready_client(port, 1, 0);
    assert_eq!(client.command("go"), "sent");
    let held = Instant::now();
    let label = port.to_string();
    let scrape = agent.scrape();
    assert_eq!(
        scrape.value(WAITING, &at(&server_cgroup, &label)),
        Some(1.0)
    );
    assert_eq!(
        scrape.value(CONNECTIONS, &at(&server_cgroup, &label)),
        Some(1.0)
    );
    let waited = held.elapsed().as_secs_f64();
    assert_eq!(server.command("resume"), "resumed");
    finish(&mut client);
    let queued = measured(&mut server, "queued");
    let scrape = agent.scrape();
    assert_eq!(
        scrape.value(WAITING, &at(&server_cgroup, &label)),
        Some(0.0)
    );
    let queue = histogram(&scrape, QUEUE, &at(&server_cgroup, &label));
    eprintln!(
        "queue time {} s: the test held the worker {waited} s, the server measured {} s",
        queue.sum, queued[0]
    );
    assert_eq!(queue.count, 1.0);
    assert!(waited <= queue.sum && queue.sum <= queued[0]);
    drop(client);
    let scrape = agent.scrape();
    assert_eq!(
        scrape.value(CONNECTIONS, &at(&server_cgroup, &label)),
        Some(0.0)
    );
}

/// A keep-alive connection idle 10 s between two requests adds nothing of
/// its idle time: the probe's response times stay within the client's
/// round trips, its queue times within the server's.
#[test]
fn an_idle_keep_alive_connection_adds_no_idle_time() {
    let agent = Agent::start(&["--signals", "requests"]);
    let server_cgroup = TestCgroup::create("pp-req-idle");
    let (mut server, port) = pool(&server_cgroup, 1, 0);
    let mut client = ready_client(port, 2, 10_000);
    let round_trips = run(&mut client);
    let queued = measured(&mut server, "queued");
    let scrape = agent.scrape();
    let port = port.to_string();
    let response = histogram(&scrape, RESPONSE, &at(&server_cgroup, &port));
    let queue = histogram(&scrape, QUEUE, &at(&server_cgroup, &port));
    eprintln!(
        "response sum {} s (client {:?}), queue sum {} s (server {queued:?})",
        response.sum, round_trips, queue.sum
    );
    assert_eq!((response.count, queue.count), (2.0, 2.0));
    assert!(response.sum <= round_trips.iter().sum::<f64>());
    assert!(queue.sum <= queued.iter().sum::<f64>());
}

/// A connection opened before the agent started (a load balancer's pool)
/// is followed from its first request: all of its requests are timed, and
/// it counts as a connection from then on.
#[test]
fn connections_older_than_the_agent_are_followed_from_their_next_request() {
    let server_cgroup = TestCgroup::create("pp-req-older");
    let (mut server, port) = pool(&server_cgroup, 1, 5);
    let mut client = ready_client(port, 20, 0);
    let agent = Agent::start(&["--signals", "requests"]);
    let round_trips = run(&mut client);
    let handled = measured(&mut server, "handled");
    let scrape = agent.scrape();
    let port = port.to_string();
    let response = histogram(&scrape, RESPONSE, &at(&server_cgroup, &port));
    assert_eq!(response.count, 20.0);
    let sum = |v: &[f64]| v.iter().sum::<f64>();
    assert!(sum(&handled) <= response.sum && response.sum <= sum(&round_trips));
    assert_eq!(
        scrape.value(CONNECTIONS, &at(&server_cgroup, &port)),
        Some(1.0)
    );
}

/// Python's http.server answering 500 on one path and closing without an
/// answer on another: `http_5xx` equals the 500s the client received,
/// `reset` the requests closed unanswered, and the responses the answers
/// it received.
#[test]
fn http_server_errors_and_unanswered_requests_are_counted() {
    let agent = Agent::start(&["--signals", "requests"]);
    let server_cgroup = TestCgroup::create("pp-req-http");
    let mut server = Running::start(in_cgroup(
        server_cgroup.dir(),
        "python3",
        &[python_script("http_statuses.py").to_str().unwrap(), "serve"],
    ));
    let port = listening_port(&server.line()).to_string();
    let client_cgroup = TestCgroup::create("pp-req-http-client");
    let mut client = Running::start(in_cgroup(
        client_cgroup.dir(),
        "python3",
        &[
            python_script("http_statuses.py").to_str().unwrap(),
            "call",
            &port,
            "40",
            "7",
            "3",
        ],
    ));
    let received = client.line();
    assert_eq!(received, "received ok=40 server_error=7 closed=3");
    assert!(client.finished());
    let scrape = agent.scrape();
    let errors = |reason| {
        scrape
            .value(
                ERRORS,
                &[
                    ("cgroup", server_cgroup.label()),
                    ("port", &port),
                    ("reason", reason),
                ],
            )
            .unwrap_or(0.0)
    };
    assert_eq!(errors("http_5xx"), 7.0);
    assert_eq!(errors("reset"), 3.0);
    let response = histogram(&scrape, RESPONSE, &at(&server_cgroup, &port));
    assert_eq!(response.count, 47.0);
    assert_eq!(
        scrape.value(CONNECTIONS, &at(&server_cgroup, &port)),
        Some(0.0)
    );
    drop(server);
}

/// An HTTP/2 server (Python's h2, cleartext with prior knowledge, as gRPC
/// speaks) answering five requests on one connection: its first bytes are
/// a SETTINGS frame, so the connection counts as multiplexed and none of
/// its exchanges is timed (its streams interleave: an arrival and the next
/// send need not belong together).
#[test]
fn an_http2_server_is_multiplexed_and_not_timed() {
    let agent = Agent::start(&["--signals", "requests"]);
    let server = TestCgroup::create("pp-req-h2-server");
    let client = TestCgroup::create("pp-req-h2-client");
    let (_serving, mut channel, port) = http2_channel(&server, &client, "0.01");
    assert_eq!(channel.command("go 5"), "done");
    let scrape = agent.scrape();
    let port = port.to_string();
    assert_eq!(
        scrape.value(MULTIPLEXED, &at(&server, &port)),
        Some(1.0),
        "the multiplexed connections"
    );
    let timed = scrape
        .histogram(RESPONSE, &at(&server, &port))
        .map_or(0.0, |h| h.count);
    assert_eq!(timed, 0.0, "HTTP/2 exchanges timed as responses");
}
