//! Test workload: joins a cgroup, pins itself to a CPU, runs, and prints the
//! kernel's own run-queue wait accounting for its threads.
//!
//! pp-workload spin  CGROUP_DIR CPU THREADS MILLIS
//! pp-workload sleep CGROUP_DIR CPU PERIOD_MS MILLIS

use std::{
    fs,
    hint::black_box,
    sync::{Arc, Barrier},
    thread,
    time::{Duration, Instant},
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize| -> u64 { args[i].parse().expect("numeric argument") };
    let (mode, cgroup) = (args[1].as_str(), &args[2]);
    let cpu = number(3) as usize;
    // Writing 0 moves the writing process itself.
    fs::write(format!("{cgroup}/cgroup.procs"), "0").expect("cannot join the cgroup");
    pin_to(cpu);
    let baseline = run_delay("/proc/thread-self/schedstat");
    let deadline = Instant::now() + Duration::from_millis(number(5));
    let (total, threads) = match mode {
        "spin" => spin(number(4) as usize, deadline),
        "sleep" => sleep(Duration::from_millis(number(4)), deadline),
        other => panic!("unknown mode {other}"),
    };
    println!("run_delay_ns {}", total - baseline);
    println!("threads {threads}");
}

fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET and sched_setaffinity take it by pointer.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set),
            0,
            "cannot pin to CPU {cpu}"
        );
    }
}

/// Field 2 of a schedstat file: ns spent runnable on a run queue.
fn run_delay(path: &str) -> u64 {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    text.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Sum of run_delay over every thread of this process, now.
fn all_threads_run_delay() -> (u64, u64) {
    let mut total = 0;
    let mut count = 0;
    for entry in fs::read_dir("/proc/self/task").unwrap() {
        let path = entry.unwrap().path().join("schedstat");
        total += run_delay(path.to_str().unwrap());
        count += 1;
    }
    (total, count)
}

fn spin(threads: usize, deadline: Instant) -> (u64, u64) {
    let done = Arc::new(Barrier::new(threads + 1));
    let release = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (done, release) = (done.clone(), release.clone());
            thread::spawn(move || {
                let mut x = 0u64;
                while Instant::now() < deadline {
                    for i in 0..1000 {
                        x = black_box(x.wrapping_mul(31).wrapping_add(i));
                    }
                }
                done.wait();
                release.wait();
            })
        })
        .collect();
    done.wait();
    // Every spinner is now blocked on `release`: read the accounting before any exits.
    let totals = all_threads_run_delay();
    release.wait();
    for handle in handles {
        handle.join().unwrap();
    }
    totals
}

fn sleep(period: Duration, deadline: Instant) -> (u64, u64) {
    let mut x = 0u64;
    while Instant::now() < deadline {
        thread::sleep(period);
        for i in 0..10_000 {
            x = black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    all_threads_run_delay()
}
