//! Raw HTTP against the agent: requests as bytes, responses as status codes.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

/// Sends `request` as is on a new connection and reads until the agent
/// closes it or `wait` passes: the status codes of the responses, in order
/// (several when requests were pipelined), and how long until the close.
pub fn exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> (Vec<u16>, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream.set_read_timeout(Some(wait)).unwrap();
    // The agent may answer (and close) before reading everything.
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    (status_codes(&response), started.elapsed())
}

/// The status codes of the HTTP/1.x responses in `bytes`.
fn status_codes(bytes: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("HTTP/1.")
        .filter_map(|(at, _)| text[at..].split_whitespace().nth(1)?.parse().ok())
        .filter(|code| (100..600).contains(code))
        .collect()
}

/// Runs `promtool check metrics` on an exposition: what it had to say
/// (empty when the exposition is clean).
pub fn promtool_check(exposition: &str) -> String {
    use std::process::{Command, Stdio};
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run promtool (installed by `cargo xtask test`)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        report.trim().to_string()
    } else {
        format!("promtool failed: {report}")
    }
}
