//! TCP accept-queue pressure against `ss` and the kernel's `ListenOverflows`.

use integration_tests::{
    agent::{Agent, CheckReport},
    cgroup::TestCgroup,
    exposition::Exposition,
    netns::{Driven, TestNetns},
};

const DEPTH: &str = "pressure_tcp_accept_queue_depth";
const LIMIT: &str = "pressure_tcp_accept_queue_limit";
const OVERFLOWS: &str = "pressure_tcp_listen_overflows_total";
const FILL: &str = "pressure_tcp_accept_queue_fill_ratio";
const SYN_QUEUE: &str = "pressure_tcp_syn_queue_depth";
const SYN_DROPS: &str = "pressure_tcp_syn_queue_drops_total";
/// The hooks that count overflows at each listener (all or none are used).
const OVERFLOW_HOOKS: [&str; 4] = [
    "hook fentry/tcp_conn_request",
    "hook fexit/tcp_conn_request",
    "hook fentry/tcp_v4_syn_recv_sock",
    "hook fentry/tcp_v6_syn_recv_sock",
];
/// The hook that counts SYN-queue drops beside them.
const SYN_QUEUE_HOOK: &str = "hook fentry/tcp_syn_flood_action";
const PORT: u16 = 8080;

fn listener(cgroup: &TestCgroup, netns: &TestNetns, backlog: u32) -> Driven {
    listener_on(cgroup, netns, PORT, backlog)
}

fn listener_on(cgroup: &TestCgroup, netns: &TestNetns, port: u16, backlog: u32) -> Driven {
    let (driven, first) = Driven::start(&[
        "listen",
        &cgroup.dir().display().to_string(),
        &netns.path().display().to_string(),
        &port.to_string(),
        &backlog.to_string(),
    ]);
    assert_eq!(first, "ready");
    driven
}

/// `count` non-blocking connects to `PORT` in `netns`, closed once made
/// (closing the clients stops SYN retransmissions, so the counters hold
/// still).
fn connect_and_close(netns: &TestNetns, count: u32) {
    connect_to_and_close(netns, PORT, count);
}

fn connect_to_and_close(netns: &TestNetns, port: u16, count: u32) {
    let (client, said) = Driven::start(&[
        "connect",
        "-",
        &netns.path().display().to_string(),
        &port.to_string(),
        &count.to_string(),
    ]);
    assert_eq!(said, format!("connected {count}"));
    drop(client);
}

/// Whether the agent can feed the fill histogram on this kernel
/// (`sock:sk_data_ready`, or `fentry/sock_def_readable` where the tracepoint
/// is missing and fentry is allowed); without either, `check` must say so
/// and still find the TCP signal available. `options` go to `check` as to
/// the agent.
fn fill_hook_chosen(options: &[&str]) -> bool {
    let report = CheckReport::of(options);
    assert!(report.says("signal tcp", "ok", "available"), "{report:?}");
    if report.checks.iter().any(|(item, verdict, detail)| {
        (item == "hook tp_btf/sk_data_ready" || item == "hook fentry/sock_def_readable")
            && verdict == "ok"
            && detail.ends_with("; chosen")
    }) {
        return true;
    }
    assert!(
        report.says(
            "signal tcp",
            "info",
            "degraded: no accept-queue fill histogram"
        ),
        "check does not say the fill histogram is missing: {report:?}"
    );
    false
}

fn at(netns: &str) -> [(&'static str, &str); 2] {
    [("netns", netns), ("port", "8080")]
}

fn value(scrape: &Exposition, name: &str, netns: &str) -> f64 {
    scrape
        .value(name, &at(netns))
        .unwrap_or_else(|| panic!("no {name} series for netns {netns}"))
}

#[test]
fn accept_queue_matches_ss_and_listen_overflows() {
    accept_queue_against_the_kernel(&[]);
}

/// The same through the fill hook's alternative, `fentry/sock_def_readable`,
/// on kernels that also have the tracepoint (where fentry is refused, the
/// signal must still run, without the fill histogram).
#[test]
fn fill_through_the_fentry_alternative() {
    accept_queue_against_the_kernel(&["--disable-hook", "tp_btf/sk_data_ready"]);
}

/// Fills a listener's queue past its limit and checks every TCP series
/// against `ss` and ListenOverflows; `options` go to the agent.
fn accept_queue_against_the_kernel(options: &[&str]) {
    let args: Vec<&str> = ["--signals", "tcp"]
        .iter()
        .chain(options)
        .copied()
        .collect();
    let agent = Agent::start(&args);
    let cgroup_a = TestCgroup::create("pp-tcp-a");
    let cgroup_b = TestCgroup::create("pp-tcp-b");
    let ns_a = TestNetns::create("pp-tcp-a");
    let ns_b = TestNetns::create("pp-tcp-b");
    let (inode_a, inode_b) = (ns_a.inode(), ns_b.inode());
    let mut listener_a = listener(&cgroup_a, &ns_a, 8);
    let _listener_b = listener(&cgroup_b, &ns_b, 4);

    let before = agent.scrape();
    assert_eq!(value(&before, DEPTH, &inode_a), 0.0);
    assert_eq!(value(&before, LIMIT, &inode_a), 8.0);
    let labels = before
        .find(DEPTH, &at(&inode_a))
        .next()
        .unwrap()
        .labels
        .clone();
    assert_eq!(labels["cgroup"], cgroup_a.label());
    // Same port, another namespace: another listener.
    assert_eq!(value(&before, LIMIT, &inode_b), 4.0);
    assert_eq!(
        before.find(DEPTH, &at(&inode_b)).next().unwrap().labels["cgroup"],
        cgroup_b.label()
    );

    let overflows_before = ns_a.listen_overflows();
    connect_and_close(&ns_a, 30);
    let overflows = ns_a.listen_overflows() - overflows_before;
    let recv_q = ns_a.ss_recv_q(PORT);

    let during = agent.scrape();
    eprintln!(
        "ss Recv-Q {recv_q}, ListenOverflows +{overflows}; probe depth {}, overflows {}",
        value(&during, DEPTH, &inode_a),
        value(&during, OVERFLOWS, &inode_a)
    );
    assert!(
        recv_q > 0 && overflows > 0,
        "the queue never filled: Recv-Q {recv_q}, overflows {overflows}"
    );
    assert_eq!(
        value(&during, DEPTH, &inode_a),
        recv_q as f64,
        "depth against ss Recv-Q"
    );
    assert_eq!(value(&during, LIMIT, &inode_a), 8.0);
    assert_eq!(
        value(&during, OVERFLOWS, &inode_a),
        overflows as f64,
        "overflows against ListenOverflows"
    );
    assert_eq!(
        value(&during, OVERFLOWS, &inode_b),
        0.0,
        "B's listener dropped nothing"
    );
    let fill = during.histogram(FILL, &[("cgroup", cgroup_a.label())]);
    if !fill_hook_chosen(options) {
        assert!(
            fill.is_none(),
            "a fill histogram without the hook that feeds it"
        );
    } else {
        let fill = fill.expect("no fill histogram for A");
        assert_eq!(
            fill.count, recv_q as f64,
            "one fill observation per queued connection"
        );
        assert_eq!(
            fill.buckets.last().unwrap().1 - fill.buckets[fill.buckets.len() - 2].1,
            1.0,
            "the last connection filled the queue past its limit"
        );
    }

    assert_eq!(listener_a.command("accept"), format!("accepted {recv_q}"));
    let drained = agent.scrape();
    assert_eq!(
        value(&drained, DEPTH, &inode_a),
        0.0,
        "depth after accepting everything"
    );

    assert_eq!(listener_a.command("close"), "closed");
    let closed = agent.scrape();
    assert!(
        closed.find(DEPTH, &at(&inode_a)).next().is_none(),
        "closed listener still reported"
    );
    assert!(closed.find(OVERFLOWS, &at(&inode_a)).next().is_none());
    assert_eq!(
        value(&closed, LIMIT, &inode_b),
        4.0,
        "the other namespace's listener is still there"
    );
}

/// A pod born between two samples: a listener in a new network namespace
/// and a new cgroup overflows before the agent ever sees it. Its count is
/// the whole change of that namespace's ListenOverflows (the agent starts a
/// new namespace from its listeners' own drop counts).
#[test]
fn overflows_before_the_first_sample_are_counted() {
    // The first sample is taken before the agent is ready; the next one
    // comes 3 s later, after the listener has overflowed.
    let agent = Agent::start(&["--signals", "tcp", "--interval", "3"]);
    let cgroup = TestCgroup::create("pp-tcp-newborn");
    let ns = TestNetns::create("pp-tcp-newborn");
    let netns = ns.inode();
    let _listener = listener(&cgroup, &ns, 8);
    let overflows_before = ns.listen_overflows();
    connect_and_close(&ns, 30);
    let overflows = ns.listen_overflows() - overflows_before;
    assert!(overflows > 0, "the queue never overflowed");
    let scrape = agent.scrape();
    eprintln!(
        "ListenOverflows +{overflows} (from {overflows_before}); probe {}",
        value(&scrape, OVERFLOWS, &netns)
    );
    assert_eq!(
        value(&scrape, OVERFLOWS, &netns),
        (overflows + overflows_before) as f64,
        "overflows of a listener the agent had never seen"
    );
}

/// A port's overflow counter never goes back when one of its listeners
/// closes: the first of two `SO_REUSEPORT` members of port 8080 overflows
/// and then closes, and the server reopens the second; the port keeps the
/// namespace's `ListenOverflows` through both.
#[test]
fn a_closed_listeners_overflows_stay_with_its_port() {
    let agent = Agent::start(&["--signals", "tcp", "--interval", "1"]);
    let cgroup = TestCgroup::create("pp-tcp-reuse");
    let ns = TestNetns::create("pp-tcp-reuse");
    let netns = ns.inode();
    let overflows_before = ns.listen_overflows();
    let mut first = listener(&cgroup, &ns, 2);
    connect_and_close(&ns, 20);
    let overflows = (ns.listen_overflows() - overflows_before) as f64;
    assert!(overflows > 0.0, "the queue never overflowed");
    let mut second = listener(&cgroup, &ns, 64);
    let both = value(&agent.scrape(), OVERFLOWS, &netns);
    assert_eq!(first.command("close"), "closed");
    let one_closed = value(&agent.scrape(), OVERFLOWS, &netns);
    assert_eq!(second.command("close"), "closed");
    let _third = listener(&cgroup, &ns, 64);
    let reopened = value(&agent.scrape(), OVERFLOWS, &netns);
    eprintln!(
        "ListenOverflows +{overflows}; probe: {both} with both members, {one_closed} after \
         the first closed, {reopened} after the second was reopened"
    );
    assert_eq!(both, overflows, "overflows against ListenOverflows");
    assert_eq!(one_closed, overflows, "after one member closed");
    assert_eq!(reopened, overflows, "after the server reopened its socket");
    assert_eq!(ns.listen_overflows() - overflows_before, overflows as u64);
}

/// Handshakes waiting in the SYN queue: a `TCP_DEFER_ACCEPT` listener keeps
/// the requests of clients that connected and sent nothing there (their
/// final ACK is dropped), which `ss` lists in state `SYN-RECV`; another
/// namespace's listener on the same port has none. In `confidentiality`
/// lockdown (programs may not read kernel memory) `check` says the depth
/// is missing, and no series is exported.
#[test]
fn syn_queue_depth_matches_ss() {
    let report = CheckReport::of(&[]);
    let readable = !report.says("signal tcp", "info", "no SYN-queue depth");
    let agent = Agent::start(&["--signals", "tcp"]);
    let cgroup = TestCgroup::create("pp-tcp-syn");
    let ns = TestNetns::create("pp-tcp-syn");
    let quiet = TestNetns::create("pp-tcp-syn-quiet");
    let mut deferring = listener(&cgroup, &ns, 16);
    let _plain = listener(&cgroup, &quiet, 16);
    assert_eq!(deferring.command("defer 60"), "deferring");
    let (_clients, said) = Driven::start(&[
        "connect",
        "-",
        &ns.path().display().to_string(),
        &PORT.to_string(),
        "5",
    ]);
    assert_eq!(said, "connected 5");
    let (syn_recv, recv_q) = (ns.ss_syn_recv(PORT), ns.ss_recv_q(PORT));
    let scrape = agent.scrape();
    assert_eq!(value(&scrape, DEPTH, &ns.inode()), recv_q as f64);
    if !readable {
        assert!(
            scrape.find(SYN_QUEUE, &[]).next().is_none(),
            "a SYN-queue depth where programs may not read it"
        );
        return;
    }
    let probe = value(&scrape, SYN_QUEUE, &ns.inode());
    eprintln!("ss: {syn_recv} SYN-RECV, Recv-Q {recv_q}; probe SYN queue {probe}");
    assert!(syn_recv > 0, "no handshake waits in the SYN queue");
    assert_eq!(probe, syn_recv as f64, "SYN queue depth against ss");
    assert_eq!(value(&scrape, SYN_QUEUE, &quiet.inode()), 0.0);
}

/// Two listeners of one namespace, SYN cookies off: A (port 8080) overflows
/// its accept queue; B (port 8081, `TCP_DEFER_ACCEPT`) keeps its handshakes
/// in the SYN queue until it is full, then drops SYNs, and its drop count
/// also rises with every bare ACK it drops while deferring. Where the kernel
/// lets the agent count overflows at each listener, B has none (a split in
/// proportion to the drop counts gives it some) and the two add up to the
/// namespace's `ListenOverflows`; where it counts SYN-queue drops too, B
/// has some and the two add up to `TCPReqQFullDrop`. Elsewhere `check`
/// says what is lost, the overflows still add up, and no SYN-queue drops
/// are exported.
///
/// B drops just before A overflows, and the agent samples every 10 s, so
/// that both land in one interval: the one where a split in proportion
/// gives B overflows (checked: 9 of 17 with the overflow hooks ignored).
#[test]
fn listen_drops_are_counted_at_the_listener_that_drops() {
    listen_drops_at_each_listener(&[], &["--interval", "10"]);
}

/// The same without the SYN-queue hook (as on kernels that inline its
/// function): overflows are still counted at each listener where the
/// kernel allows fentry, and no SYN-queue drops are exported.
#[test]
fn listen_drops_without_the_syn_queue_hook() {
    listen_drops_at_each_listener(&["--disable-hook", "fentry/tcp_syn_flood_action"], &[]);
}

/// The same without one of the overflow hooks: the agent falls back to
/// the split in proportion, whatever the kernel allows.
#[test]
fn listen_drops_without_one_overflow_hook() {
    listen_drops_at_each_listener(&["--disable-hook", "fentry/tcp_v6_syn_recv_sock"], &[]);
}

/// `options` go to `check` and the agent, `agent_options` to the agent.
fn listen_drops_at_each_listener(options: &[&str], agent_options: &[&str]) {
    let args: Vec<&str> = ["--signals", "tcp"]
        .iter()
        .chain(options)
        .chain(agent_options)
        .copied()
        .collect();
    let report = CheckReport::of(options);
    let ok = |hook: &str| report.checks.iter().any(|(i, v, _)| i == hook && v == "ok");
    // Without the SYN-queue hook, the programs tell SYN-queue drops by the
    // queue's length, which lockdown may hide (then nothing is counted).
    let syn_queue_readable = !report.says("signal tcp", "info", "no SYN-queue depth");
    let counted =
        OVERFLOW_HOOKS.iter().all(|hook| ok(hook)) && (ok(SYN_QUEUE_HOOK) || syn_queue_readable);
    let syn_counted = counted && ok(SYN_QUEUE_HOOK);
    if !OVERFLOW_HOOKS.iter().all(|hook| ok(hook)) {
        assert!(
            report.says("signal tcp", "info", "split between its listeners"),
            "check does not say what is lost without the overflow hooks: {report:?}"
        );
    }
    if !ok(SYN_QUEUE_HOOK) {
        assert!(
            report.says("signal tcp", "info", "no SYN-queue drops"),
            "check does not say SYN-queue drops are lost: {report:?}"
        );
    }
    let agent = Agent::start(&args);
    let cgroup = TestCgroup::create("pp-tcp-drops");
    let ns = TestNetns::create("pp-tcp-drops");
    ns.sysctl("net.ipv4.tcp_syncookies", "0");
    let netns = ns.inode();
    let _overflowing = listener_on(&cgroup, &ns, 8080, 2);
    let mut deferring = listener_on(&cgroup, &ns, 8081, 2);
    assert_eq!(deferring.command("defer 60"), "deferring");
    let (overflows_before, syn_drops_before) = (ns.listen_overflows(), ns.syn_queue_full_drops());
    connect_to_and_close(&ns, 8081, 20);
    connect_to_and_close(&ns, 8080, 20);
    let overflows = (ns.listen_overflows() - overflows_before) as f64;
    let syn_drops = (ns.syn_queue_full_drops() - syn_drops_before) as f64;
    let scrape = agent.scrape();
    let at = |port| [("netns", netns.as_str()), ("port", port)];
    let probe = |name, port| scrape.value(name, &at(port));
    eprintln!(
        "counted at each listener: overflows {counted}, SYN-queue drops {syn_counted}; kernel: \
         ListenOverflows +{overflows}, TCPReqQFullDrop +{syn_drops}; probe: overflows {:?} / {:?}, SYN-queue drops {:?} / {:?}",
        probe(OVERFLOWS, "8080"),
        probe(OVERFLOWS, "8081"),
        probe(SYN_DROPS, "8080"),
        probe(SYN_DROPS, "8081"),
    );
    assert!(overflows > 0.0 && syn_drops > 0.0, "no drops to count");
    let sum = |name| probe(name, "8080").unwrap() + probe(name, "8081").unwrap();
    assert_eq!(
        sum(OVERFLOWS),
        overflows,
        "overflows against ListenOverflows"
    );
    if counted {
        assert_eq!(probe(OVERFLOWS, "8081"), Some(0.0), "B overflowed nothing");
    }
    if syn_counted {
        assert_eq!(sum(SYN_DROPS), syn_drops, "against TCPReqQFullDrop");
        assert!(probe(SYN_DROPS, "8081").unwrap() > 0.0, "B dropped SYNs");
    } else {
        assert!(
            scrape.find(SYN_DROPS, &[]).next().is_none(),
            "SYN-queue drops exported without the hooks that count them"
        );
    }
}

/// IPv6 listeners count too: the agent's own, on [::1].
#[test]
fn ipv6_listener_is_reported() {
    let agent = Agent::start(&["--signals", "tcp", "--listen", "[::1]:0"]);
    let port = agent.addr().port().to_string();
    let scrape = agent.scrape();
    let labels = [("port", port.as_str())];
    let limit = scrape
        .find(LIMIT, &labels)
        .next()
        .unwrap_or_else(|| panic!("the agent's own IPv6 listener on port {port} is not reported"));
    assert!(limit.value > 0.0);
}
