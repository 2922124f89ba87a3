//! Serving at fleet scale: 500 containers, bursts of concurrent scrapes,
//! gzip. Bounds on memory and size, never on time.

use std::{
    io::Read,
    sync::{Arc, Mutex},
    thread,
};

use integration_tests::{
    agent::{Agent, http_get_with},
    cgroup::TestCgroup,
    exposition::Exposition,
    workload::Workload,
};

const CONTAINERS: usize = 500;

/// 500 cgroups with a small process each; 200 scrapes, 50 at a time: every
/// one answers 200 with a whole exposition, the agent's resident memory
/// afterwards stays under 64 MiB, and with gzip the body decodes to the
/// same exposition in under a fifth of the size.
#[test]
fn five_hundred_containers_and_bursts_of_scrapes() {
    // Sampling every 2 s: a scrape and the next one see one sample.
    let agent = Agent::start(&["--max-cgroups", "2000", "--interval", "2"]);
    let cgroups: Vec<TestCgroup> = (0..CONTAINERS)
        .map(|i| TestCgroup::create(&format!("pp-scale-{i}")))
        .collect();
    let workloads: Vec<Workload> = cgroups.iter().map(|c| Workload::blocked(c.dir())).collect();
    let scrape = agent.scrape();
    // Each wrote a line after joining its cgroup (some never waited for a CPU there).
    let tracked = scrape
        .find(
            "pressure_syscall_latency_seconds_count",
            &[("class", "file_io")],
        )
        .filter(|s| s.labels["cgroup"].contains("pp-scale-"))
        .count();
    assert_eq!(
        tracked, CONTAINERS,
        "containers with a file_io syscall series"
    );
    let series = scrape.samples.len();

    let addr = agent.addr();
    let before = agent.status_kib("VmRSS");
    let failures = Arc::new(Mutex::new(Vec::new()));
    for _round in 0..4 {
        let workers: Vec<_> = (0..50)
            .map(|_| {
                let failures = failures.clone();
                thread::spawn(move || {
                    let response = http_get_with(addr, "/metrics", &[]);
                    let body = String::from_utf8_lossy(&response.body);
                    let whole = body.contains("pressure_probe_build_info")
                        && body
                            .matches("pressure_syscall_latency_seconds_count")
                            .count()
                            >= CONTAINERS;
                    if response.status != 200 || !whole {
                        failures.lock().unwrap().push(response.status);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
    }
    let after = agent.status_kib("VmRSS");
    eprintln!(
        "{CONTAINERS} containers, {series} series; agent RSS {before} KiB before 200 scrapes \
         (50 at a time), {after} KiB after"
    );
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} scrapes failed: {failures:?}",
        failures.len()
    );
    // 45 to 53 MiB (debug build, 17 MiB of it the binary's own pages)
    // since the exposition is written one family at a time.
    assert!(
        after < 64 * 1024,
        "the agent's resident memory is {after} KiB"
    );

    // gzip, of the same sample (the agent serves one sample until its
    // next: ask again until both answers are of one).
    let sample_of = |body: &[u8]| {
        Exposition::parse(&String::from_utf8_lossy(body)).value("pressure_probe_samples_total", &[])
    };
    let (plain, gzipped, decoded) = (0..20)
        .find_map(|_| {
            let plain = http_get_with(addr, "/metrics", &[]);
            let gzipped = http_get_with(addr, "/metrics", &[("Accept-Encoding", "gzip")]);
            assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
            assert_eq!(plain.header("content-encoding"), None);
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&gzipped.body[..])
                .read_to_end(&mut decoded)
                .expect("the gzipped body does not decode");
            (sample_of(&decoded) == sample_of(&plain.body)).then_some((plain, gzipped, decoded))
        })
        .expect("20 pairs of answers, each of two samples");
    assert_eq!(decoded, plain.body, "gzip decodes to another exposition");
    eprintln!(
        "exposition {} bytes, gzipped {} bytes ({:.1}%)",
        plain.body.len(),
        gzipped.body.len(),
        100.0 * gzipped.body.len() as f64 / plain.body.len() as f64
    );
    assert!(
        gzipped.body.len() * 5 < plain.body.len(),
        "gzip is not under a fifth: {} of {} bytes",
        gzipped.body.len(),
        plain.body.len()
    );
    for workload in workloads {
        workload.kill();
    }
}
