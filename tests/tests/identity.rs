//! Labels of real cgroups laid out as Kubernetes, Docker and systemd lay
//! them out, with names from a /var/log tree; and churn.

use std::{collections::BTreeMap, fs};

use integration_tests::{
    agent::Agent, cgroup::TestCgroup, kernel_maps::cgroup_ids_in_kernel_maps, kubelet::log_tree,
    workload::Workload,
};

const LATENCY_COUNT: &str = "pressure_runqueue_latency_seconds_count";

struct Case {
    path: String,
    labels: Vec<(&'static str, String)>,
}

fn uid(n: u8) -> String {
    format!("{n:08x}-1111-2222-3333-444444444444")
}

fn id(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn kube(
    path: String,
    ns: &str,
    pod: &str,
    container: Option<&str>,
    uid: &str,
    id: Option<&str>,
    qos: &str,
) -> Case {
    let mut labels = vec![
        ("namespace", ns.to_string()),
        ("pod", pod.to_string()),
        ("pod_uid", uid.to_string()),
        ("qos", qos.to_string()),
    ];
    if let Some(c) = container {
        labels.push(("container", c.to_string()));
    }
    if let Some(id) = id {
        labels.push(("container_id", id.to_string()));
    }
    Case { path, labels }
}

#[test]
fn kubernetes_docker_and_systemd_layouts_are_labelled_exactly() {
    let logs = std::env::temp_dir().join(format!("pp-logs-{}", std::process::id()));
    let _ = fs::remove_dir_all(&logs);
    let u = |n| uid(n).replace('-', "_");
    let cases = [
        kube(
            format!(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{}.scope",
                u(1),
                id(1)
            ),
            "shop",
            "web-1",
            Some("nginx"),
            &uid(1),
            Some(&id(1)),
            "burstable",
        ),
        kube(
            format!(
                "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/crio-{}.scope",
                u(2),
                id(2)
            ),
            "shop",
            "batch-2",
            Some("worker"),
            &uid(2),
            Some(&id(2)),
            "besteffort",
        ),
        kube(
            format!(
                "kubepods.slice/kubepods-pod{}.slice/docker-{}.scope",
                u(3),
                id(3)
            ),
            "db",
            "pg-0",
            Some("postgres"),
            &uid(3),
            Some(&id(3)),
            "guaranteed",
        ),
        kube(
            format!(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
                u(4)
            ),
            "shop",
            "api-4",
            None,
            &uid(4),
            None,
            "burstable",
        ),
        kube(
            format!("kubepods/burstable/pod{}/{}", uid(5), id(5)),
            "tools",
            "cron-5",
            Some("job"),
            &uid(5),
            Some(&id(5)),
            "burstable",
        ),
        kube(
            format!("kubepods/pod{}/{}", uid(6), id(6)),
            "db",
            "redis-6",
            Some("redis"),
            &uid(6),
            Some(&id(6)),
            "guaranteed",
        ),
        Case {
            path: format!("system.slice/docker-{}.scope", id(7)),
            labels: vec![("container_id", id(7))],
        },
        Case {
            path: "system.slice/nginx.service".into(),
            labels: vec![("unit", "nginx.service".into())],
        },
        Case {
            path: "plain".into(),
            labels: vec![],
        },
        // A pod's path copied below another cgroup (a delegated subtree)
        // must not get that pod's names.
        Case {
            path: format!("spoof/kubepods/burstable/pod{}/{}", uid(5), id(5)),
            labels: vec![],
        },
    ];
    log_tree(
        &logs,
        &[
            (
                "shop",
                "web-1",
                uid(1),
                &[("nginx", id(1)), ("sidecar", id(11))],
            ),
            ("shop", "batch-2", uid(2), &[("worker", id(2))]),
            ("db", "pg-0", uid(3), &[("postgres", id(3))]),
            ("shop", "api-4", uid(4), &[("api", id(14))]),
            ("tools", "cron-5", uid(5), &[("job", id(5))]),
            ("db", "redis-6", uid(6), &[("redis", id(6))]),
        ],
    );

    let tree = TestCgroup::create("pp-ident");
    // The test's kubelet keeps its pods below the test's cgroup.
    let systemd_pods = format!("{}/kubepods.slice", tree.label());
    let cgroupfs_pods = format!("{}/kubepods", tree.label());
    let agent = Agent::start(&[
        "--signals",
        "runq",
        "--log-root",
        logs.to_str().unwrap(),
        "--kubepods-root",
        &systemd_pods,
        "--kubepods-root",
        &cgroupfs_pods,
    ]);
    let (cgroups, workloads): (Vec<_>, Vec<_>) = cases
        .iter()
        .map(|case| {
            let (dir, cgroup) = tree.add(&case.path);
            (cgroup, Workload::sleeper(&dir, 0, 5, 400))
        })
        .unzip();
    for workload in workloads {
        workload.wait();
    }
    let scrape = agent.scrape();
    for (case, cgroup) in cases.iter().zip(&cgroups) {
        let wanted = [("cgroup", cgroup.as_str())];
        let sample = scrape
            .find(LATENCY_COUNT, &wanted)
            .next()
            .unwrap_or_else(|| panic!("no series for {cgroup}"));
        let mut expected: BTreeMap<String, String> = case
            .labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        expected.insert("cgroup".into(), cgroup.to_string());
        assert_eq!(sample.labels, expected, "labels of {cgroup}");
    }
    fs::remove_dir_all(&logs).unwrap();
}

/// 500 cgroups come and go in two rounds: afterwards none of them has a
/// series or a kernel map entry, and the second round leaves the agent's
/// resident memory within 4 MiB of where the first left it.
#[test]
fn churn_leaves_nothing_behind() {
    churn("auto");
}

/// The same with per-cgroup state in hash maps, which the agent must reclaim.
#[test]
fn churn_with_cgroup_state_hash_leaves_nothing_behind() {
    churn("hash");
}

fn churn(state: &str) {
    const ROUNDS: usize = 2;
    const PER_ROUND: usize = 250;
    const RSS_BOUND_KIB: u64 = 4 * 1024;
    let agent = Agent::start(&["--cgroup-state", state]);
    agent.scrape();
    let mut labels = Vec::new();
    let mut ids = Vec::new();
    let mut rss = Vec::new();
    for round in 0..ROUNDS {
        for i in 0..PER_ROUND {
            let cgroup = TestCgroup::create(&format!("pp-churn-{round}-{i}"));
            labels.push(cgroup.label().to_string());
            ids.push(cgroup.id());
            Workload::syscalls(cgroup.dir(), 1, 1, 0).finish();
            if i % 50 == 49 {
                // The agent sees them live now and then, as a scraper would.
                agent.scrape();
            }
        }
        agent.scrape();
        rss.push(agent.status_kib("VmRSS"));
    }
    let after = agent.scrape();
    let unresolved: Vec<String> = ids.iter().map(|id| format!("id:{id}")).collect();
    let left: Vec<_> = after
        .samples
        .iter()
        .filter(|s| {
            s.labels.get("cgroup").is_some_and(|c| {
                labels.contains(c) || unresolved.contains(c) || c.contains("pp-churn-")
            })
        })
        .collect();
    assert!(
        left.is_empty(),
        "{} series of removed cgroups remain, e.g. {:?}",
        left.len(),
        left.first()
    );
    let in_maps: Vec<u64> = cgroup_ids_in_kernel_maps(agent.pid())
        .into_iter()
        .filter(|id| ids.contains(id))
        .collect();
    assert!(
        in_maps.is_empty(),
        "kernel map entries of removed cgroups remain: {in_maps:?}"
    );
    // The first round brings the agent to its working size; churn after that
    // must not grow it.
    eprintln!("agent RSS after each round of {PER_ROUND} cgroups: {rss:?} KiB");
    assert!(
        rss[ROUNDS - 1] <= rss[0] + RSS_BOUND_KIB,
        "agent RSS grew from {} KiB to {} KiB over a round of churn",
        rss[0],
        rss[ROUNDS - 1]
    );
}

/// Past --max-cgroups, the rest are summed into cgroup="other" and counted.
#[test]
fn cgroups_past_the_bound_are_folded_into_other() {
    let agent = Agent::start(&["--signals", "runq", "--max-cgroups", "2"]);
    let cgroups: Vec<_> = (0..3)
        .map(|i| TestCgroup::create(&format!("pp-fold-{i}")))
        .collect();
    for cgroup in &cgroups {
        Workload::sleeper(cgroup.dir(), 0, 5, 200).wait();
    }
    let scrape = agent.scrape();
    let folded = scrape.value("pressure_probe_cgroups_folded", &[]).unwrap();
    let tracked = scrape.value("pressure_probe_cgroups_tracked", &[]).unwrap();
    assert_eq!(tracked, 2.0);
    assert!(
        folded >= 1.0,
        "nothing folded with {} cgroups active",
        folded + tracked
    );
    let other = scrape
        .histogram("pressure_runqueue_latency_seconds", &[("cgroup", "other")])
        .expect("no cgroup=\"other\" series");
    assert!(other.count > 0.0);
    let own: usize = scrape
        .find(LATENCY_COUNT, &[])
        .filter(|s| s.labels["cgroup"] != "other")
        .count();
    assert_eq!(own, 2, "cgroups with series of their own");
}
