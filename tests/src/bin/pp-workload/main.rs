//! Test workload: joins a cgroup, then does one job.
//!
//! pp-workload spin     CGROUP_DIR CPU THREADS MILLIS   CPU-bound threads pinned to one CPU
//!                      (CPU `-`: unpinned)
//!                      (spin and sleep, with PP_WORKLOAD_GO set: print "ready" once in the
//!                      cgroup and pinned, and begin at the next line on stdin)
//! pp-workload sleep    CGROUP_DIR CPU PERIOD_MS MILLIS one thread sleeping between bursts
//! pp-workload requests CGROUP_DIR CPU WORK_MS IDLE_MS MILLIS
//!                      one thread pinned to CPU serving "requests": WORK_MS of CPU time (its
//!                      own thread clock, however long it waits), then IDLE_MS asleep
//! pp-workload syscalls CGROUP_DIR SLEEPS MISSING FSYNCS
//!                      SLEEPS nanosleep(2 ms), MISSING open() of a missing path, FSYNCS fsync();
//!                      then goes back to the cgroup it came from and prints `sleep_ns`
//!                      and `fsync_ns`, what each sleep and each fsync took on its own
//!                      clock (the scratch file is made in TMPDIR)
//! pp-workload block    CGROUP_DIR                      print "ready", then block in pause()
//! pp-workload collide  CGROUP_DIR SLOTS                a thread reads a socket while threads
//!                      are made until one's id equals its own modulo SLOTS; prints
//!                      "collided TID" and "read_ns NS" (the read's length, measured)
//! pp-workload memory   CGROUP_DIR V1_MEMORY_DIR FILE ANON_MIB
//!                      also joins V1_MEMORY_DIR (a cgroup v1 memory cgroup; `-`: none), reads
//!                      FILE twice from disk (`-`: none), then writes ANON_MIB MiB of anonymous
//!                      memory in a loop (four passes over every page) and keeps it; prints
//!                      "done" (unless the OOM killer ends it first)
//! pp-workload memory-threads CGROUP_DIR V1_MEMORY_DIR ANON_MIB THREADS
//!                      as `memory` without a file, in THREADS threads at once, each writing
//!                      ANON_MIB MiB of its own
//! pp-workload exec-from-thread CGROUP_DIR             the leader and a thread block in read()
//!                      on pipes that never get data, and another thread prints
//!                      `threads LEADER SLEEPER EXECER` then execs `pp-workload block -`
//!                      (which takes the leader's id and prints "ready"); no thread makes
//!                      a syscall of class `wait` before the exec
//! pp-workload listen   CGROUP_DIR NETNS PORT BACKLOG  listen on 127.0.0.1:PORT inside network
//!                      namespace NETNS (a path such as /run/netns/NAME), with
//!                      SO_REUSEPORT (several may share the port), never accepting
//!                      on its own; reads commands on stdin: `accept` (accept all queued),
//!                      `defer SECONDS` (TCP_DEFER_ACCEPT: handshakes stay in the SYN
//!                      queue until data comes), `close` (close the listener); answers
//!                      each with a line
//! pp-workload listeners CGROUP_DIR COUNT              COUNT listening sockets on
//!                      127.0.0.1 (ports from 1024 up); prints "listening COUNT", keeps them
//!                      until stdin closes
//! pp-workload connect  - NETNS PORT COUNT             COUNT non-blocking connects to
//!                      127.0.0.1:PORT inside NETNS; prints "connected", keeps them open
//!                      until stdin closes (a CGROUP_DIR of "-" stays in the caller's cgroup)
//! pp-workload datagrams  CGROUP_DIR COUNT           COUNT one-byte sends and receives on a
//!                      Unix datagram socket pair (each send wakes the receiver through
//!                      its `sk_data_ready`); prints `ns_per_op`
//! pp-workload roundtrips CGROUP_DIR COUNT           COUNT one-byte requests and answers over
//!                      one loopback TCP connection to a thread of this process (a response
//!                      time each for the dependency signal); prints `ns_per_op`
//! pp-workload serve    CGROUP_DIR DELAY_MS           listen on 127.0.0.1 (ephemeral port), print
//!                      `listening PORT`, answer each line of each connection with `ok`
//!                      DELAY_MS after it arrived; `drain N` on stdin: once N connections
//!                      are accepted, close the listener and serve on (prints `drained`)
//! pp-workload pool     CGROUP_DIR WORKERS DELAY_MS   listen on 127.0.0.1 (ephemeral port), print
//!                      `listening PORT`, and serve every connection's `ping SENT_NS` lines
//!                      with WORKERS threads, each holding a request DELAY_MS (no CPU)
//!                      before it answers `ok`: a request waits for a free worker; stdin
//!                      `pause`/`resume` hold and release the workers, `queued` and
//!                      `handled` print what each request waited (client's send to the
//!                      read) and took (read to answer), in ns
//! pp-workload ask      CGROUP_DIR HOST:PORT COUNT GAP_MS  COUNT `ping SENT_NS` requests over
//!                      one connection, GAP_MS apart, each answer awaited in a blocking
//!                      read; prints `response_ns` and `done`, and keeps the connection
//!                      until stdin closes (`PP_WORKLOAD_GO`: `ready`, then a line first)
//! pp-workload call     CGROUP_DIR HOST:PORT COUNT    COUNT requests over one connection, each
//!                      answer awaited in epoll_wait; print `response_ns` (each on its own
//!                      clock) and `done`, keep the connection until stdin closes
//! pp-workload hold    CGROUP_DIR HOST:PORT          one connection; on `hold`, a send from a page
//!                      registered with userfaultfd faults with the socket's lock held and
//!                      waits (prints `holding`); `release` fills the page (the send ends,
//!                      its answer is read: `answered`); `request`: one more (`answered`)
//! pp-workload linger  CGROUP_DIR HOST:PORT          one connection with SO_LINGER of 120 s,
//!                      written to until nothing more fits (the peer must not read); prints
//!                      `filled`; on `close`, prints `closing`, closes it (waiting for the
//!                      data to go) and prints `closed`
//! pp-workload churn   CGROUP_DIR COUNT MILLIS       COUNT connections to a listener of its own,
//!                      each kept with the socket accepted for it; prints `ready PORT`; one
//!                      pair every MILLIS closed (reset) and opened again on the freed
//!                      descriptors with one request and answer, until `stop`; then prints
//!                      `steady COUNT reconnects N` and keeps them
//! pp-workload refused  CGROUP_DIR PORT COUNT         COUNT connects to 127.0.0.1:PORT where
//!                      nothing listens; print `refused N`
//! pp-workload connect-wait CGROUP_DIR NETNS PORT     one connect to 127.0.0.1:PORT inside NETNS
//!                      (`-`: this one), waiting up to 5 s; print `connect_ns N` or `timeout`,
//!                      keep the connection until stdin closes
//! pp-workload give-up CGROUP_DIR NETNS PORT COUNT MILLIS  COUNT connects to 127.0.0.1:PORT
//!                      inside NETNS, each closed after MILLIS with no answer (its own connect
//!                      timeout); print `abandoned N syn_retransmits M` (M: the namespace's
//!                      TcpExtTCPSynRetrans meanwhile, from /proc/net/netstat)
//! pp-workload handshakes CGROUP_DIR COUNT           COUNT TCP connections to a listener on
//!                      127.0.0.1, each accepted and closed (the listener's `sk_data_ready`
//!                      runs once per connection); prints `ns_per_op`
//! pp-workload reads   CGROUP_DIR WRITER_DIR COUNT   COUNT blocking reads of a socket and of a
//!                      pipe (a child in WRITER_DIR writes each byte 2 ms after /proc shows
//!                      the read blocked), COUNT preads of a file, and (x86_64) COUNT 2 ms
//!                      compat nanosleeps; prints `socket_ns`, `pipe_ns`, `file_ns`,
//!                      `compat_ns` on its own clock, and the child `socket_blocked_ns`,
//!                      `pipe_blocked_ns` (each read seen blocked, on its clock)
//! pp-workload errors  CGROUP_DIR WOULD_BLOCK BAD INTERRUPTS   on one pipe: WOULD_BLOCK
//!                      nonblocking reads with nothing to read (EAGAIN), BAD reads of its
//!                      write end (EBADF), one blocking read that INTERRUPTS timer signals
//!                      interrupt (EINTR each); prints `errors EAGAIN EBADF EINTR`
//!
//! PP_WORKLOAD_ALSO_JOIN=DIR (any mode) also joins the cgroup v1 cgroup DIR.
//! PP_WORKLOAD_REALTIME=1 (spin and sleep) runs the threads as SCHED_FIFO, priority 1.
//!
//! `spin`, `sleep` and `requests` print the kernel's own run-queue wait accounting for
//! their threads (`run_delay_ns`, `ran_ns`, `threads`).

mod collide;
mod errors;
mod owners;
mod pool;
mod reads;
mod remote;

use std::{
    ffi::{CString, OsStr},
    fs,
    hint::black_box,
    io::Write,
    os::{fd::AsRawFd, unix::ffi::OsStrExt},
    path::PathBuf,
    sync::{Arc, Barrier},
    thread,
    time::{Duration, Instant},
};

/// The usage text: this file's header.
const USAGE: &str = "\
usage: pp-workload MODE CGROUP_DIR ARGS...   (a test workload of pressure-probe)
  spin       CGROUP_DIR CPU THREADS MILLIS
  sleep      CGROUP_DIR CPU PERIOD_MS MILLIS
  requests   CGROUP_DIR CPU WORK_MS IDLE_MS MILLIS
  syscalls   CGROUP_DIR SLEEPS MISSING FSYNCS
  block      CGROUP_DIR
  exec-from-thread CGROUP_DIR
  memory     CGROUP_DIR V1_MEMORY_DIR FILE ANON_MIB
  memory-threads CGROUP_DIR V1_MEMORY_DIR ANON_MIB THREADS
  listen     CGROUP_DIR NETNS PORT BACKLOG
  listeners  CGROUP_DIR COUNT
  connect    CGROUP_DIR NETNS PORT COUNT
  datagrams  CGROUP_DIR COUNT
  handshakes CGROUP_DIR COUNT
  roundtrips CGROUP_DIR COUNT
  serve      CGROUP_DIR DELAY_MS
  call       CGROUP_DIR HOST:PORT COUNT
  pool       CGROUP_DIR WORKERS DELAY_MS
  ask        CGROUP_DIR HOST:PORT COUNT GAP_MS
  hold       CGROUP_DIR HOST:PORT
  linger     CGROUP_DIR HOST:PORT
  churn      CGROUP_DIR COUNT MILLIS
  refused    CGROUP_DIR PORT COUNT
  connect-wait CGROUP_DIR NETNS PORT
  give-up    CGROUP_DIR NETNS PORT COUNT MILLIS
  reads      CGROUP_DIR WRITER_CGROUP_DIR COUNT
  errors     CGROUP_DIR WOULD_BLOCK BAD INTERRUPTS
CGROUP_DIR `-` stays in the caller's cgroup; tests/src/bin/pp-workload.rs explains each mode.";

/// How many arguments each mode takes after MODE.
const ARITY: [(&str, usize); 27] = [
    ("pool", 3),
    ("ask", 4),
    ("hold", 2),
    ("linger", 2),
    ("churn", 3),
    ("reads", 3),
    ("errors", 4),
    ("spin", 4),
    ("sleep", 4),
    ("requests", 5),
    ("syscalls", 4),
    ("block", 1),
    ("collide", 2),
    ("exec-from-thread", 1),
    ("memory", 4),
    ("memory-threads", 4),
    ("listen", 4),
    ("listeners", 2),
    ("connect", 4),
    ("datagrams", 2),
    ("handshakes", 2),
    ("roundtrips", 2),
    ("serve", 2),
    ("call", 3),
    ("refused", 3),
    ("connect-wait", 3),
    ("give-up", 5),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let fits = ARITY.iter().any(|(mode, count)| {
        args.get(1).map(String::as_str) == Some(mode) && args.len() == count + 2
    });
    if !fits {
        eprintln!("{USAGE}");
        std::process::exit(2);
    }
    let number = |i: usize| -> u64 {
        args[i].parse().unwrap_or_else(|_| {
            eprintln!(
                "pp-workload: argument {i} ({}) is not a number\n{USAGE}",
                args[i]
            );
            std::process::exit(2)
        })
    };
    let (mode, cgroup) = (args[1].as_str(), &args[2]);
    // Files the job needs are made before joining, so the cgroup sees only the job.
    let scratch = (mode == "syscalls").then(scratch_file);
    let mut home = None;
    if cgroup != "-" {
        let origin = cgroup2_path();
        // Writing 0 moves the writing process itself.
        fs::write(format!("{cgroup}/cgroup.procs"), "0").expect("cannot join the cgroup");
        let mount = cgroup
            .as_bytes()
            .strip_suffix(cgroup2_path().as_slice())
            .expect("the cgroup joined is not where /proc/self/cgroup says");
        home = Some(PathBuf::from(OsStr::from_bytes(&[mount, &origin].concat())));
    }
    // A cgroup v1 controller's cgroup to join too (hybrid hosts).
    if let Ok(also) = std::env::var("PP_WORKLOAD_ALSO_JOIN")
        && also != "-"
    {
        fs::write(format!("{also}/cgroup.procs"), "0").expect("cannot join the v1 cgroup");
    }
    match mode {
        "spin" | "sleep" => {
            // `-`: unpinned, the threads go where the scheduler puts them.
            if args[3] != "-" {
                pin_to(number(3) as usize);
            }
            if std::env::var_os("PP_WORKLOAD_REALTIME").is_some() {
                realtime();
            }
            wait_for_go();
            let baseline = Schedstat::read("/proc/thread-self/schedstat");
            let deadline = Instant::now() + Duration::from_millis(number(5));
            let total = if mode == "spin" {
                spin(number(4) as usize, deadline)
            } else {
                sleep(Duration::from_millis(number(4)), deadline)
            };
            total.since(baseline).print();
        }
        "requests" => {
            pin_to(number(3) as usize);
            let baseline = Schedstat::read("/proc/thread-self/schedstat");
            let deadline = Instant::now() + Duration::from_millis(number(6));
            let work = Duration::from_millis(number(4));
            let idle = Duration::from_millis(number(5));
            while Instant::now() < deadline {
                let started = thread_cpu_time();
                let mut x = 0u64;
                while thread_cpu_time() - started < work {
                    for i in 0..1000 {
                        x = black_box(x.wrapping_mul(31).wrapping_add(i));
                    }
                }
                thread::sleep(idle);
            }
            all_threads_schedstat().since(baseline).print();
        }
        "syscalls" => {
            let report = syscalls(number(3), number(4), number(5), scratch.unwrap());
            // Back where it came from before the report (writes to a pipe,
            // class `wait`), so that the cgroup sees only the calls asked for.
            if let Some(home) = home {
                fs::write(home.join("cgroup.procs"), "0").expect("cannot go home");
            }
            print!("{report}");
        }
        "listen" => {
            enter_netns(&args[3]);
            listen(number(4) as u16, number(5) as i32);
        }
        "listeners" => listeners(number(3)),
        "connect" => {
            enter_netns(&args[3]);
            connect(number(4) as u16, number(5));
        }
        "serve" => remote::serve(Duration::from_millis(number(3))),
        "reads" => reads::reads(&args[3], number(4)),
        "errors" => errors::errors(number(3), number(4), number(5)),
        "call" => remote::call(address(&args[3]), number(4)),
        "pool" => pool::pool(number(3), Duration::from_millis(number(4))),
        "ask" => pool::ask(
            address(&args[3]),
            number(4),
            Duration::from_millis(number(5)),
        ),
        "hold" => owners::hold(address(&args[3])),
        "linger" => owners::linger(address(&args[3])),
        "churn" => owners::churn(number(3) as usize, Duration::from_millis(number(4))),
        "refused" => remote::refused(number(3) as u16, number(4)),
        "give-up" => {
            enter_netns(&args[3]);
            remote::give_up(
                number(4) as u16,
                number(5),
                Duration::from_millis(number(6)),
            );
        }
        "connect-wait" => {
            if args[3] != "-" {
                enter_netns(&args[3]);
            }
            remote::connect_wait(number(4) as u16);
        }
        "datagrams" => report_ns_per_op(number(3), datagrams),
        "handshakes" => report_ns_per_op(number(3), handshakes),
        "roundtrips" => report_ns_per_op(number(3), remote::roundtrips),
        "collide" => collide::collide(number(3) as u32),
        "block" => {
            println!("ready");
            std::io::stdout().flush().unwrap();
            // SAFETY: pause(2) has no preconditions; it returns only on a signal.
            unsafe { libc::pause() };
        }
        "exec-from-thread" => exec_from_thread(),
        "memory" => {
            join_v1_memory(&args[3]);
            if args[4] != "-" {
                for _ in 0..2 {
                    read_from_disk(&args[4]);
                }
            }
            let anon = touch_anonymous(number(5) as usize);
            println!("done {}", anon.len());
        }
        "memory-threads" => {
            join_v1_memory(&args[3]);
            let mib = number(4) as usize;
            let threads: Vec<_> = (0..number(5))
                .map(|_| thread::spawn(move || touch_anonymous(mib).len()))
                .collect();
            let kept: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
            println!("done {kept}");
        }
        other => panic!("unknown mode {other}"),
    }
}

/// Joins the cgroup v1 memory cgroup `dir` too (`-`: none).
fn join_v1_memory(dir: &str) {
    if dir != "-" {
        fs::write(format!("{dir}/cgroup.procs"), "0").expect("cannot join the v1 memory cgroup");
    }
}

/// Reads `path` whole, from the disk: its cached pages are dropped first
/// (they are charged to whoever read them before), so the reading charges
/// page cache to this process's memory cgroup.
fn read_from_disk(path: &str) {
    use std::io::Read;
    let mut file = fs::File::open(path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    // SAFETY: a valid descriptor; advice only.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    let mut buffer = vec![0u8; 1 << 20];
    while file.read(&mut buffer).unwrap() > 0 {}
}

/// Passes over the anonymous memory, each writing every page again.
const ANON_PASSES: u8 = 4;

/// `mib` MiB of anonymous memory, every page written in a loop of
/// [`ANON_PASSES`] passes (with the file's pages still charged, each pass
/// can make the kernel reclaim them again).
fn touch_anonymous(mib: usize) -> Vec<Vec<u8>> {
    let mut chunks: Vec<Vec<u8>> = (0..mib).map(|_| vec![0u8; 1 << 20]).collect();
    for pass in 1..=ANON_PASSES {
        for chunk in &mut chunks {
            for page in chunk.chunks_mut(4096) {
                page[0] = pass;
            }
            black_box(&chunk);
        }
    }
    chunks
}

/// This thread's id.
fn gettid() -> i32 {
    // SAFETY: gettid(2) has no preconditions.
    unsafe { libc::gettid() }
}

/// A non-leader thread execs while the leader and another thread sit in
/// syscalls: the kernel kills both inside their syscalls and gives the
/// execing thread the leader's id, under which its `execve` returns.
fn exec_from_thread() {
    use std::sync::atomic::{AtomicI32, Ordering};
    static SLEEPER: AtomicI32 = AtomicI32::new(0);
    let leader = gettid();
    thread::spawn(|| {
        SLEEPER.store(gettid(), Ordering::SeqCst);
        block_in_read();
    });
    // Spin, not wait: no syscall of class `wait` may happen here.
    while SLEEPER.load(Ordering::SeqCst) == 0 {
        std::hint::spin_loop();
    }
    let sleeper = SLEEPER.load(Ordering::SeqCst);
    thread::spawn(move || {
        println!("threads {leader} {sleeper} {}", gettid());
        std::io::stdout().flush().unwrap();
        // Time for the others to be inside their syscalls (spinning, again).
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        let exe = CString::new("/proc/self/exe").unwrap();
        let argv = [
            CString::new("pp-workload").unwrap(),
            CString::new("block").unwrap(),
            CString::new("-").unwrap(),
        ];
        let mut pointers: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        pointers.push(std::ptr::null());
        // SAFETY: NUL-terminated path and argument list, ending in null.
        unsafe { libc::execv(exe.as_ptr(), pointers.as_ptr()) };
        panic!("execv failed: {}", std::io::Error::last_os_error());
    });
    block_in_read();
}

/// Blocks in read(2) on a pipe nothing is ever written to.
fn block_in_read() -> ! {
    let mut fds = [0i32; 2];
    // SAFETY: pipe(2) fills the two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    let mut byte = 0u8;
    loop {
        // SAFETY: a valid descriptor and a one-byte buffer.
        unsafe { libc::read(fds[0], (&raw mut byte).cast(), 1) };
    }
}

fn scratch_file() -> fs::File {
    let path = std::env::temp_dir().join(format!("pp-workload-{}", std::process::id()));
    let file = fs::File::create(&path).unwrap();
    fs::remove_file(&path).unwrap();
    file
}

/// This process's cgroup v2 path below the mount, from `/proc/self/cgroup`
/// (bytes: a cgroup's name need not be UTF-8), without a trailing `/`.
fn cgroup2_path() -> Vec<u8> {
    let cgroups = fs::read("/proc/self/cgroup").expect("cannot read /proc/self/cgroup");
    let path = cgroups
        .split(|b| *b == b'\n')
        .find_map(|line| line.strip_prefix(b"0::"))
        .expect("no cgroup v2 line in /proc/self/cgroup");
    path.strip_suffix(b"/").unwrap_or(path).to_vec()
}

/// The calls of `syscalls`; returns their report (`sleep_ns`, `fsync_ns`).
fn syscalls(sleeps: u64, missing: u64, fsyncs: u64, file: fs::File) -> String {
    let timed = |call: &dyn Fn()| {
        let started = Instant::now();
        call();
        started.elapsed().as_nanos().to_string()
    };
    let request = libc::timespec {
        tv_sec: 0,
        tv_nsec: 2_000_000,
    };
    let slept: Vec<String> = (0..sleeps)
        .map(|_| {
            // SAFETY: valid timespec; no remainder wanted.
            timed(&|| unsafe {
                libc::nanosleep(&request, std::ptr::null_mut());
            })
        })
        .collect();
    let path = CString::new("/nonexistent/pressure-probe-test").unwrap();
    for _ in 0..missing {
        // SAFETY: valid NUL-terminated path.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
        assert_eq!(fd, -1, "the missing path exists");
    }
    let fsynced: Vec<String> = (0..fsyncs)
        .map(|_| {
            // SAFETY: a valid open file.
            timed(&|| assert_eq!(unsafe { libc::fsync(file.as_raw_fd()) }, 0))
        })
        .collect();
    format!(
        "sleep_ns {}\nfsync_ns {}\n",
        slept.join(" "),
        fsynced.join(" ")
    )
}

fn enter_netns(path: &str) {
    let ns = fs::File::open(path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    // SAFETY: a valid namespace fd; this process is single-threaded here.
    let entered = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(entered, 0, "setns {path}");
}

fn loopback(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn tcp_socket() -> i32 {
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
    assert!(fd >= 0, "socket failed");
    fd
}

/// `listeners`: `count` listening sockets on 127.0.0.1, held until stdin
/// closes (the descriptor limit raised for them first: the tests run as
/// root, which may raise the hard bound too).
fn listeners(count: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) and setrlimit(2) on a struct on this stack.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_max = limit.rlim_max.max(count + 64);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit),
            0,
            "cannot raise the descriptor limit"
        );
    }
    // Ports below the kernel's ephemeral range, which it never picks on
    // its own: binding an ephemeral port each would search a range that
    // fills up as it goes (45 s for 16,384).
    let held: Vec<std::net::TcpListener> = (1024..32768u16)
        .filter_map(|port| std::net::TcpListener::bind(("127.0.0.1", port)).ok())
        .take(count as usize)
        .collect();
    assert_eq!(held.len() as u64, count, "too few free ports");
    println!("listening {}", held.len());
    std::io::stdout().flush().unwrap();
    for _ in std::io::stdin().lines() {}
}

fn listen(port: u16, backlog: i32) {
    let fd = tcp_socket();
    let addr = loopback(port);
    // SAFETY: a valid socket and address.
    unsafe {
        let one: i32 = 1;
        for option in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
            libc::setsockopt(fd, libc::SOL_SOCKET, option, (&raw const one).cast(), 4);
        }
        assert_eq!(
            libc::bind(
                fd,
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_in>() as u32
            ),
            0,
            "bind"
        );
        assert_eq!(libc::listen(fd, backlog), 0, "listen");
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut accepted = Vec::new();
    for line in std::io::stdin().lines() {
        match line.unwrap().trim() {
            "accept" => {
                let mut count = 0;
                loop {
                    // SAFETY: a valid non-blocking listener.
                    let conn =
                        unsafe { libc::accept(fd, std::ptr::null_mut(), std::ptr::null_mut()) };
                    if conn < 0 {
                        break;
                    }
                    accepted.push(conn);
                    count += 1;
                }
                println!("accepted {count}");
            }
            defer if defer.starts_with("defer ") => {
                // TCP_DEFER_ACCEPT: a completed handshake stays in the SYN
                // queue until the client sends data (or the seconds pass).
                let seconds: i32 = defer[6..].parse().expect("defer SECONDS");
                // SAFETY: a valid socket and option value.
                let set = unsafe {
                    libc::setsockopt(
                        fd,
                        libc::IPPROTO_TCP,
                        libc::TCP_DEFER_ACCEPT,
                        (&raw const seconds).cast(),
                        4,
                    )
                };
                assert_eq!(set, 0, "TCP_DEFER_ACCEPT");
                println!("deferring");
            }
            "close" => {
                // SAFETY: closing our own listener.
                unsafe { libc::close(fd) };
                println!("closed");
            }
            other => panic!("unknown command {other}"),
        }
        std::io::stdout().flush().unwrap();
    }
}

fn connect(port: u16, count: u64) {
    let addr = loopback(port);
    let sockets: Vec<i32> = (0..count)
        .map(|_| {
            let fd = tcp_socket();
            // SAFETY: a valid socket and address; EINPROGRESS is expected.
            unsafe {
                libc::connect(
                    fd,
                    (&raw const addr).cast(),
                    size_of::<libc::sockaddr_in>() as u32,
                )
            };
            fd
        })
        .collect();
    // Loopback handshakes complete in the connect calls; give stragglers a moment.
    thread::sleep(Duration::from_millis(300));
    println!("connected {}", sockets.len());
    std::io::stdout().flush().unwrap();
    for _ in std::io::stdin().lines() {}
}

/// Runs `job(count)` and prints its wall-clock time per operation.
fn report_ns_per_op(count: u64, job: fn(u64)) {
    assert!(count > 0, "COUNT must be at least 1");
    let started = Instant::now();
    job(count);
    println!(
        "ns_per_op {:.1}",
        started.elapsed().as_nanos() as f64 / count as f64
    );
}

fn datagrams(count: u64) {
    let (sender, receiver) = std::os::unix::net::UnixDatagram::pair().unwrap();
    let mut byte = [0u8; 1];
    for _ in 0..count {
        sender.send(&byte).unwrap();
        receiver.recv(&mut byte).unwrap();
    }
}

fn handshakes(count: u64) {
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // An abortive close (linger 0) leaves no TIME_WAIT socket behind, so
    // ephemeral ports never run out however many connections are made.
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    for _ in 0..count {
        let client = TcpStream::connect(addr).unwrap();
        // SAFETY: a valid socket and option value.
        let set = unsafe {
            libc::setsockopt(
                client.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&raw const linger).cast(),
                size_of::<libc::linger>() as u32,
            )
        };
        assert_eq!(set, 0, "SO_LINGER");
        let (server, _) = listener.accept().unwrap();
        drop(client);
        drop(server);
    }
}

/// `arg` as a socket address (`HOST:PORT`).
fn address(arg: &str) -> std::net::SocketAddr {
    arg.parse()
        .unwrap_or_else(|_| panic!("{arg} is not HOST:PORT"))
}

/// With `PP_WORKLOAD_GO` set: prints "ready" and waits for a line on
/// stdin, so that workloads started one after the other begin together.
pub(crate) fn wait_for_go() {
    if std::env::var_os("PP_WORKLOAD_GO").is_none() {
        return;
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
}

/// Makes the calling thread, and the threads it starts after, real-time
/// (`SCHED_FIFO`, priority 1): no ordinary thread runs on its CPU while it
/// is busy, but for the kernel's share kept for them (`sched_rt_runtime_us`).
fn realtime() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: sched_setscheduler(2) of this thread, the parameter on this stack.
    let set = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    assert_eq!(set, 0, "SCHED_FIFO: {}", std::io::Error::last_os_error());
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
/// A thread's scheduler accounting (`/proc/.../schedstat`), summed over threads.
#[derive(Clone, Copy, Default)]
struct Schedstat {
    /// Time on a CPU (field 1), in ns.
    ran_ns: u64,
    /// Time runnable, waiting on a run queue (field 2), in ns.
    run_delay_ns: u64,
    threads: u64,
}

impl Schedstat {
    fn read(path: &str) -> Schedstat {
        let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().unwrap());
        Schedstat {
            ran_ns: fields.next().unwrap(),
            run_delay_ns: fields.next().unwrap(),
            threads: 1,
        }
    }

    /// What was added since `baseline`.
    fn since(self, baseline: Schedstat) -> Schedstat {
        Schedstat {
            ran_ns: self.ran_ns - baseline.ran_ns,
            run_delay_ns: self.run_delay_ns - baseline.run_delay_ns,
            threads: self.threads,
        }
    }

    fn print(self) {
        println!("run_delay_ns {}", self.run_delay_ns);
        println!("ran_ns {}", self.ran_ns);
        println!("threads {}", self.threads);
    }
}

/// Sum over every thread of this process, now.
fn all_threads_schedstat() -> Schedstat {
    let mut total = Schedstat::default();
    for entry in fs::read_dir("/proc/self/task").unwrap() {
        let path = entry.unwrap().path().join("schedstat");
        let one = Schedstat::read(path.to_str().unwrap());
        total.ran_ns += one.ran_ns;
        total.run_delay_ns += one.run_delay_ns;
        total.threads += 1;
    }
    total
}

fn spin(threads: usize, deadline: Instant) -> Schedstat {
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
    let totals = all_threads_schedstat();
    release.wait();
    for handle in handles {
        handle.join().unwrap();
    }
    totals
}

/// CPU time of the calling thread.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn sleep(period: Duration, deadline: Instant) -> Schedstat {
    let mut x = 0u64;
    while Instant::now() < deadline {
        thread::sleep(period);
        for i in 0..10_000 {
            x = black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    all_threads_schedstat()
}
