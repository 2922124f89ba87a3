//! Services the dependency, request, production and fault tests run
//! against: a `pp-workload serve` server, pools of `pp-workload call`
//! connections, a `pp-workload pool` server with a fixed pool of workers
//! and its `pp-workload ask` clients, a real `redis-server`; and what the
//! agent says of a remote's answers.

use std::{
    net::{TcpListener, TcpStream},
    thread,
    time::{Duration, Instant},
};

use crate::{
    cgroup::TestCgroup,
    exposition::Exposition,
    netns::Driven,
    process::{Running, in_cgroup, python_script},
};

/// The histogram of a remote's response times.
pub const RESPONSE: &str = "pressure_dependency_response_seconds";
/// The gauge of a remote's open connections.
pub const CONNECTIONS: &str = "pressure_dependency_connections";

/// `127.0.0.1:port`, as the `remote` label writes it.
pub fn loopback(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// The port of a server's first line, `listening PORT`.
pub fn listening_port(first: &str) -> u16 {
    first
        .strip_prefix("listening ")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("the server said {first}"))
}

/// `pp-workload serve` in `cgroup`, answering each line `delay_ms` after
/// it arrived: (the server, its port on 127.0.0.1).
pub fn serve(cgroup: &TestCgroup, delay_ms: u64) -> (Driven, u16) {
    let (server, first) = Driven::start(&[
        "serve",
        &cgroup.dir().display().to_string(),
        &delay_ms.to_string(),
    ]);
    (server, listening_port(&first))
}

/// `count` pooled connections (`pp-workload call`, waiting for `go`, then
/// making `requests` requests) from `cgroup` to `remote`, with `env` set.
pub fn pool_with(
    count: usize,
    requests: u64,
    cgroup: &TestCgroup,
    remote: &str,
    env: &[(&str, &str)],
) -> Vec<Driven> {
    let mut env = env.to_vec();
    env.push(("PP_WORKLOAD_GO", "1"));
    (0..count)
        .map(|_| {
            let (connection, first) = Driven::start_with(
                &[
                    "call",
                    &cgroup.dir().display().to_string(),
                    remote,
                    &requests.to_string(),
                ],
                &env,
            );
            assert_eq!(first, "ready", "the pooled connection did not open");
            connection
        })
        .collect()
}

/// [`pool_with`] nothing more set.
pub fn pool_of(count: usize, requests: u64, cgroup: &TestCgroup, remote: &str) -> Vec<Driven> {
    pool_with(count, requests, cgroup, remote, &[])
}

/// A real `redis-server` in `cgroup`, on a free port of 127.0.0.1, once it
/// accepts connections: (its process, its port).
pub fn redis_server(cgroup: &TestCgroup) -> (Running, u16) {
    let port = free_port();
    let server = Running::start(in_cgroup(
        cgroup.dir(),
        "redis-server",
        &[
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
    ));
    wait_for_listener(port);
    (server, port)
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub fn wait_for_listener(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// `cgroup`'s open connections to `remote` in `scrape` (`None`: no series).
pub fn connections(scrape: &Exposition, cgroup: &TestCgroup, remote: &str) -> Option<f64> {
    scrape.value(
        CONNECTIONS,
        &[("cgroup", cgroup.label()), ("remote", remote)],
    )
}

/// Answers of `remote` to `cgroup` that were timed.
pub fn timed(scrape: &Exposition, cgroup: &TestCgroup, remote: &str) -> f64 {
    scrape
        .histogram(RESPONSE, &[("cgroup", cgroup.label()), ("remote", remote)])
        .map_or(0.0, |h| h.count)
}

/// Untimed exchanges with `remote` of `cgroup` for `reason`.
pub fn untimed(scrape: &Exposition, cgroup: &TestCgroup, remote: &str, reason: &str) -> f64 {
    scrape
        .value(
            "pressure_dependency_untimed_total",
            &[
                ("cgroup", cgroup.label()),
                ("remote", remote),
                ("reason", reason),
            ],
        )
        .unwrap_or(0.0)
}

/// `pp-workload pool` in `cgroup` with `workers` workers, each holding a
/// request `delay_ms`: (the server, its port on 127.0.0.1).
pub fn pool(cgroup: &TestCgroup, workers: u64, delay_ms: u64) -> (Driven, u16) {
    let (server, first) = Driven::start(&[
        "pool",
        &cgroup.dir().display().to_string(),
        &workers.to_string(),
        &delay_ms.to_string(),
    ]);
    (server, listening_port(&first))
}

/// A client sending `count` requests `gap_ms` apart to 127.0.0.1:`port`,
/// connected and waiting for `go`.
pub fn ready_client(port: u16, count: u64, gap_ms: u64) -> Driven {
    let (client, first) = Driven::start_with(
        &[
            "ask",
            "-",
            &format!("127.0.0.1:{port}"),
            &count.to_string(),
            &gap_ms.to_string(),
        ],
        &[("PP_WORKLOAD_GO", "1")],
    );
    assert_eq!(first, "ready");
    client
}

/// Lets `client` go; returns its round trips (seconds) once it is done.
pub fn run(client: &mut Driven) -> Vec<f64> {
    assert_eq!(client.command("go"), "sent");
    finish(client)
}

/// The round trips (seconds) `client` reports when it is done.
pub fn finish(client: &mut Driven) -> Vec<f64> {
    let took = seconds(&client.line(), "response_ns ");
    assert_eq!(client.line(), "done");
    took
}

/// What the server measured: `queued` (the client's send to the read) or
/// `handled` (the read to the answer's send), in seconds.
pub fn measured(server: &mut Driven, what: &str) -> Vec<f64> {
    seconds(&server.command(what), &format!("{what}_ns "))
}

fn seconds(line: &str, key: &str) -> Vec<f64> {
    line.strip_prefix(key)
        .unwrap_or_else(|| panic!("expected {key}, got {line}"))
        .split_whitespace()
        .map(|ns| ns.parse::<f64>().unwrap() / 1e9)
        .collect()
}

/// An HTTP/2 server in `server` answering after `delay` seconds, and a
/// client in `client` holding one connection to it, opened and ready for
/// `go N` (`h2_client.py`): (the server, the client, the server's port).
pub fn http2_channel(
    server: &TestCgroup,
    client: &TestCgroup,
    delay: &str,
) -> (Running, Running, u16) {
    let mut serving = Running::start(in_cgroup(
        server.dir(),
        "python3",
        &[python_script("h2_server.py").to_str().unwrap(), delay],
    ));
    let port = serving.numbers("listening ")[0] as u16;
    let mut channel = Running::start(in_cgroup(
        client.dir(),
        "python3",
        &[
            python_script("h2_client.py").to_str().unwrap(),
            &port.to_string(),
        ],
    ));
    assert_eq!(channel.line(), "ready");
    (serving, channel, port)
}
