//! `--web-config`: TLS and basic authentication in the exporters' web
//! configuration format, checked with `curl` against certificates `openssl`
//! made for the test and hashes `htpasswd` made.

use std::{
    collections::BTreeMap,
    fs,
    net::{Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use integration_tests::{
    agent::{Agent, command, http_get_from, http_get_with},
    exposition::Exposition,
    tls::{Pki, bcrypt_hash, curl},
};

#[test]
fn tls_and_basic_auth_against_curl() {
    let pki = Pki::new("auth");
    pki.ca("ca");
    pki.leaf("server", "ca", true);
    let hash = bcrypt_hash("prometheus", "s3cret");
    let config = pki.write(
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
             basic_auth_users:\n  prometheus: {hash}\n"
        ),
    );
    let agent = Agent::start(&["--web-config", config.to_str().unwrap()]);
    let url = |path: &str| format!("https://127.0.0.1:{}{path}", agent.addr().port());
    let (ca, ca2) = (pki.path("ca.pem"), pki.path("ca2.pem"));
    let (ca, ca2) = (ca.to_str().unwrap(), ca2.to_str().unwrap());

    // Twice: the second answer comes from the remembered check.
    for _ in 0..2 {
        let ok = curl(
            &url("/metrics"),
            &["--cacert", ca, "--user", "prometheus:s3cret"],
        );
        assert_eq!((ok.exit, ok.status), (0, 200), "{ok:?}");
        assert!(ok.body.contains("pressure_probe_"), "{}", ok.body);
    }
    for (credentials, what) in [
        (&["--user", "prometheus:wrong"][..], "a wrong password"),
        (&["--user", "grafana:s3cret"][..], "an unknown user"),
        (&[][..], "no credentials"),
    ] {
        let denied = curl(
            &url("/metrics"),
            &[&["--cacert", ca][..], credentials].concat(),
        );
        assert_eq!(denied.status, 401, "{what}: {denied:?}");
        assert!(
            denied
                .headers
                .to_ascii_lowercase()
                .contains("www-authenticate: basic realm=\"pressure-probe\""),
            "{what}: {}",
            denied.headers
        );
        assert!(!denied.body.contains("pressure_probe_"), "{what}");
    }
    let denied = curl(&url("/api/v1/containers"), &["--cacert", ca]);
    assert_eq!(denied.status, 401, "the API needs credentials too");
    // `top` reads it the same way, the password from the environment.
    let top = |password: &str| {
        command(&[
            "top",
            "--once",
            "--from",
            &url(""),
            "--ca-file",
            ca,
            "--user",
            "prometheus",
        ])
        .env("PRESSURE_PROBE_PASSWORD", password)
        .output()
        .unwrap()
    };
    let read = top("s3cret");
    let stdout = String::from_utf8_lossy(&read.stdout);
    assert!(
        read.status.success() && stdout.contains("VERDICT"),
        "top: {stdout}{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let refused = top("wrong");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("PRESSURE_PROBE_PASSWORD"),
        "top with a wrong password: {stderr}"
    );
    // The kubelet's probes need no password.
    let health = curl(&url("/healthz"), &["--cacert", ca]);
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    // A client that does not trust the certificate, or speaks plain HTTP.
    let untrusted = curl(&url("/healthz"), &[]);
    assert_eq!(
        untrusted.exit, 60,
        "curl's 'peer certificate cannot be authenticated'"
    );
    let plain = curl(&format!("http://{}/healthz", agent.addr()), &[]);
    assert_eq!(plain.status, 0, "plain HTTP answered: {plain:?}");

    // Certificates rotated in place: the next connection takes the new one.
    pki.ca("ca2");
    pki.leaf("server2", "ca2", true);
    fs::copy(pki.path("server2.key"), pki.path("server.key")).unwrap();
    fs::copy(pki.path("server2.pem"), pki.path("server.pem")).unwrap();
    let rotated = curl(&url("/healthz"), &["--cacert", ca2]);
    assert_eq!((rotated.exit, rotated.status), (0, 200), "{rotated:?}");
    assert_eq!(curl(&url("/healthz"), &["--cacert", ca]).exit, 60);

    // A change that does not load keeps the previous settings, and says so.
    fs::write(&config, "tls_server_config: [\n").unwrap();
    let kept = curl(
        &url("/metrics"),
        &["--cacert", ca2, "--user", "prometheus:s3cret"],
    );
    assert_eq!((kept.exit, kept.status), (0, 200), "{kept:?}");
    assert!(agent.logged("keeping the previous one", Duration::from_secs(5)));
}

#[test]
fn client_certificates_are_verified() {
    let pki = Pki::new("mtls");
    pki.ca("ca");
    pki.leaf("server", "ca", true);
    pki.ca("clients");
    pki.leaf("client", "clients", false);
    pki.ca("rogue");
    pki.leaf("intruder", "rogue", false);
    pki.leaf_v1("old", "clients");
    let config = pki.write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.pem\n  \
         min_version: TLS13\n",
    );
    let agent = Agent::start(&["--web-config", config.to_str().unwrap()]);
    let url = format!("https://127.0.0.1:{}/metrics", agent.addr().port());
    let ca = pki.path("ca.pem");
    let with = |name: &str, extra: &[&str]| {
        let (cert, key) = (
            pki.path(&format!("{name}.pem")),
            pki.path(&format!("{name}.key")),
        );
        let mut args = vec!["--cacert", ca.to_str().unwrap()];
        if !name.is_empty() {
            args.extend([
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ]);
        }
        args.extend(extra);
        curl(&url, &args)
    };
    let ok = with("client", &[]);
    assert_eq!((ok.exit, ok.status), (0, 200), "{ok:?}");
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    let top = |client: &[&str]| {
        let from = format!("https://127.0.0.1:{}", agent.addr().port());
        let mut args = vec![
            "top",
            "--once",
            "--from",
            &from,
            "--ca-file",
            ca.to_str().unwrap(),
        ];
        args.extend(client);
        command(&args).output().unwrap()
    };
    let read = top(&[
        "--client-cert",
        cert.to_str().unwrap(),
        "--client-key",
        key.to_str().unwrap(),
    ]);
    assert!(
        read.status.success(),
        "top with a client certificate: {}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert!(!top(&[]).status.success(), "top without one was answered");
    // A version-1 certificate from the right CA is refused, and the log
    // says why (it said nothing).
    let old = with("old", &[]);
    assert!(
        old.exit != 0 && old.status == 0,
        "a version-1 certificate was answered: {old:?}"
    );
    assert!(
        agent.logged(
            "a client certificate was refused: invalid peer certificate: \
             Other(OtherError(UnsupportedCertVersion))",
            Duration::from_secs(10)
        ),
        "the refusal of a version-1 certificate was not logged with its reason"
    );
    for (refused, what) in [
        (with("", &[]), "no client certificate"),
        (with("intruder", &[]), "a certificate from another CA"),
        (
            with("client", &["--tls-max", "1.2"]),
            "TLS 1.2 under min_version TLS13",
        ),
    ] {
        assert!(
            refused.exit != 0 && refused.status == 0,
            "{what} was answered: {refused:?}"
        );
    }
}

/// An agent whose web configuration (`web.yml` in the returned folder) asks
/// for user `prometheus`, password `s3cret`, without TLS.
fn password_only_agent(name: &str) -> (Pki, std::path::PathBuf, Agent) {
    let pki = Pki::new(name);
    let hash = bcrypt_hash("prometheus", "s3cret");
    let config = pki.write(
        "web.yml",
        &format!("basic_auth_users:\n  prometheus: {hash}\n"),
    );
    let agent = Agent::start(&["--web-config", config.to_str().unwrap()]);
    (pki, config, agent)
}

/// The web configuration swapped, while the agent runs, for a FIFO nobody
/// writes, a link to `/dev/zero` and a 2 MiB file: each is refused at once
/// (a FIFO is never opened for a blocking read, a device or a huge file is
/// never read whole), the previous settings keep serving, memory does not
/// grow by what it would take to read them (a read of `/dev/zero` grew the
/// agent to 7 GB in 20 s), and SIGTERM still stops the agent.
#[test]
fn a_web_configuration_swapped_for_a_fifo_or_a_device_keeps_serving() {
    let (_pki, config, agent) = password_only_agent("swap");
    let url = format!("http://{}/metrics", agent.addr());
    let scrape = || curl(&url, &["--user", "prometheus:s3cret"]);
    assert_eq!(scrape().status, 200);
    let resident_before = agent.status_kib("VmRSS");
    let fifo = std::ffi::CString::new(config.to_str().unwrap()).unwrap();
    let swaps: [(&str, &dyn Fn()); 3] = [
        ("a FIFO", &|| {
            fs::remove_file(&config).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        }),
        ("a link to /dev/zero", &|| {
            fs::remove_file(&config).unwrap();
            std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
        }),
        ("a 2 MiB file", &|| {
            fs::remove_file(&config).unwrap();
            fs::write(&config, "#".repeat(2 << 20)).unwrap();
        }),
    ];
    for (what, swap) in swaps {
        swap();
        let kept = scrape();
        assert_eq!((kept.exit, kept.status), (0, 200), "{what}: {kept:?}");
        let denied = curl(&url, &["--user", "prometheus:wrong"]);
        assert_eq!(denied.status, 401, "{what}: the previous users still apply");
    }
    assert!(agent.logged("is not a regular file", Duration::from_secs(5)));
    assert!(agent.logged("is over 1 MiB", Duration::from_secs(5)));
    let resident_after = agent.status_kib("VmRSS");
    assert!(
        resident_after < resident_before + 65536,
        "resident memory grew from {resident_before} to {resident_after} KiB"
    );
    let (status, _) = agent.stop_with(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "SIGTERM: {status}");
}

/// `prometheus:s3cret`, and three wrong passwords of the same user, as
/// `Authorization` headers.
const RIGHT: &str = "Basic cHJvbWV0aGV1czpzM2NyZXQ=";
const WRONG: [&str; 3] = [
    "Basic cHJvbWV0aGV1czp3cm9uZy0x",
    "Basic cHJvbWV0aGV1czp3cm9uZy0y",
    "Basic cHJvbWV0aGV1czp3cm9uZy0z",
];

/// Runs `during` while `threads` threads each ask `ask(thread, n)` (n = 0,
/// 1, ...) at least `at_least` times and until `during` returns; `during`
/// is told when a request of the flood has been answered 503. Returns what
/// `during` returned and the flood's answers by status.
fn during_a_flood<T>(
    threads: usize,
    at_least: usize,
    ask: impl Fn(usize, usize) -> u16 + Clone + Send + 'static,
    during: impl FnOnce(&AtomicBool) -> T,
) -> (T, BTreeMap<u16, usize>) {
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicBool::new(false));
    let flood: Vec<_> = (0..threads)
        .map(|thread| {
            let (stop, refused, ask) = (stop.clone(), refused.clone(), ask.clone());
            std::thread::spawn(move || {
                let mut answers = BTreeMap::new();
                let mut sent = 0;
                while sent < at_least || !stop.load(Ordering::Relaxed) {
                    let status = ask(thread, sent);
                    if status == 503 {
                        refused.store(true, Ordering::Relaxed);
                    }
                    *answers.entry(status).or_insert(0) += 1;
                    sent += 1;
                }
                answers
            })
        })
        .collect();
    let result = during(&refused);
    stop.store(true, Ordering::Relaxed);
    let mut answers = BTreeMap::new();
    for thread in flood {
        for (status, count) in thread.join().unwrap() {
            *answers.entry(status).or_insert(0) += count;
        }
    }
    (result, answers)
}

/// A scraper with a stale password floods the agent (32 threads
/// repeating three wrong passwords) while a right password the agent has
/// not seen yet arrives (a restart, a changed password, a new Prometheus
/// replica): a wrong pair is checked once and refused at once after that,
/// so the right password gets its check, and no answer to the flood is
/// anything but 401. Before, every request waited for a check, the queue
/// stayed full, and the right password was answered 401 unchecked.
#[test]
fn a_right_password_gets_through_a_flood_of_wrong_ones() {
    let (_pki, _, agent) = password_only_agent("flood");
    let addr = agent.addr();
    let get = move |authorization: &str| {
        http_get_with(addr, "/metrics", &[("Authorization", authorization)]).status
    };
    for wrong in WRONG {
        assert_eq!(get(wrong), 401);
    }
    let (right, answers) = during_a_flood(
        32,
        50,
        move |thread, sent| get(WRONG[(thread + sent) % 3]),
        |_| (0..10).map(|_| get(RIGHT)).collect::<Vec<u16>>(),
    );
    eprintln!("right password: {right:?}; the flood's answers: {answers:?}");
    assert_eq!(right, [200; 10], "the flood's answers: {answers:?}");
    assert_eq!(answers.keys().copied().collect::<Vec<_>>(), [401]);
}

/// A new wrong password (`wrong-THREAD-SENT`) of user prometheus, from
/// `from`, for `/metrics`: the answer's status.
fn new_wrong_password(addr: SocketAddr, from: Ipv4Addr, thread: usize, sent: usize) -> u16 {
    let header = format!(
        "Basic {}",
        STANDARD.encode(format!("prometheus:wrong-{thread}-{sent}"))
    );
    http_get_from(from, addr, "/metrics", &[("Authorization", &header)]).status
}

/// Once `ready` holds (within a minute, or panics saying `waiting_for`),
/// the right password asks ten times: the answers' statuses.
fn right_password_once(addr: SocketAddr, ready: impl Fn() -> bool, waiting_for: &str) -> Vec<u16> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "{waiting_for}");
        std::thread::sleep(Duration::from_millis(10));
    }
    (0..10)
        .map(|_| http_get_with(addr, "/metrics", &[("Authorization", RIGHT)]).status)
        .collect()
}

/// A flood of wrong passwords each different (none can be remembered) from
/// one address, 127.0.0.2: it takes one place in the queue for a check (the
/// rest of it is answered 503), and a right password from another address,
/// sent once the flood has been refused for load, gets its check: 200, ten
/// times. Before, the flood took every place and the right password was
/// answered 503.
#[test]
fn a_flood_of_new_wrong_passwords_from_one_address_leaves_room_for_others() {
    let (_pki, _, agent) = password_only_agent("distinct-flood");
    let addr = agent.addr();
    let ask = move |thread, sent| new_wrong_password(addr, [127, 0, 0, 2].into(), thread, sent);
    let (right, answers) = during_a_flood(16, 20, ask, |refused: &AtomicBool| {
        // The right password asks once the flood has filled what it may.
        right_password_once(
            addr,
            || refused.load(Ordering::Relaxed),
            "the flood was never refused for load",
        )
    });
    eprintln!("right password: {right:?}; the flood's answers: {answers:?}");
    assert_eq!(right, [200; 10], "the flood's answers: {answers:?}");
}

/// A flood of wrong passwords each different, from sixteen addresses
/// (127.0.0.10 to .25, sixteen threads): once each address has been
/// refused (401) once, a right password from an address that has not failed
/// (127.0.0.1) is checked before them: 200, ten times, however full their
/// line is. Before, every address had one place in one line of four, the
/// line stayed full, and the right password was answered 503.
#[test]
fn a_flood_of_new_wrong_passwords_from_many_addresses_leaves_room_for_a_right_one() {
    const THREADS: usize = 16;
    let (_pki, _, agent) = password_only_agent("many-addresses");
    let addr = agent.addr();
    let denied: Arc<Vec<AtomicBool>> =
        Arc::new((0..THREADS).map(|_| AtomicBool::new(false)).collect());
    let ask = {
        let denied = denied.clone();
        move |thread: usize, sent| {
            let from = [127, 0, 0, 10 + thread as u8].into();
            let status = new_wrong_password(addr, from, thread, sent);
            if status == 401 {
                denied[thread].store(true, Ordering::Relaxed);
            }
            status
        }
    };
    let (right, answers) = during_a_flood(THREADS, 20, ask, |refused: &AtomicBool| {
        right_password_once(
            addr,
            || refused.load(Ordering::Relaxed) && denied.iter().all(|d| d.load(Ordering::Relaxed)),
            "the flood was not refused for load, or not every address was refused a password",
        )
    });
    eprintln!("right password: {right:?}; the flood's answers: {answers:?}");
    assert_eq!(right, [200; 10], "the flood's answers: {answers:?}");
    assert_eq!(
        answers.keys().copied().collect::<Vec<_>>(),
        [401, 503],
        "refused for load is 503, never 401 unchecked"
    );
}

/// The served certificate's expiry: the agent warns of one that expires
/// within 14 days (the test's expire in two) and exports its `notAfter`,
/// which is what `openssl` reads in it.
#[test]
fn the_served_certificates_expiry_is_warned_of_and_exported() {
    let pki = Pki::new("expiry");
    pki.ca("ca");
    pki.leaf("server", "ca", true);
    let config = pki.write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n",
    );
    let agent = Agent::start(&["--web-config", config.to_str().unwrap()]);
    assert!(
        agent.logged(
            "the served certificate expires in 2.0 days",
            Duration::from_secs(10)
        ),
        "no warning of a certificate that expires in two days"
    );
    let url = format!("https://127.0.0.1:{}/metrics", agent.addr().port());
    let got = curl(&url, &["--cacert", pki.path("ca.pem").to_str().unwrap()]);
    assert_eq!((got.exit, got.status), (0, 200), "{got:?}");
    assert_eq!(
        Exposition::parse(&got.body).value(
            "pressure_probe_tls_certificate_expiry_timestamp_seconds",
            &[]
        ),
        Some(pki.not_after("server") as f64)
    );
}
