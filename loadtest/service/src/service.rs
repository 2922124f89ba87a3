//! The demo service. Each knob makes one kind of bottleneck:
//!
//! - `--cpu-work-ms`: CPU time each dashboard takes (with few workers, or a
//!   CPU quota on its cgroup, the service runs out of CPU);
//! - `--db ADDR --db-pool N`: each dashboard queries the database through a
//!   pool of N connections (a slow database: requests wait in `epoll_wait`
//!   for a connection and for answers);
//! - `--backlog N --accept-delay-ms D --close-connections`: a short accept
//!   queue, a slow single acceptor, a new connection per request;
//! - `--events-dir DIR`: each event is appended to a file there and
//!   fsynced, one at a time (slow storage when DIR is slow);
//! - `--cache-kib-per-request K`: each dashboard adds K KiB to an in-memory
//!   cache that never evicts (a memory limit kills it).

use std::{
    fs::{File, OpenOptions},
    io::Write,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, Result};
use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use clap::Args;
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::Semaphore,
};

/// Options of `service`.
#[derive(Args)]
pub struct Options {
    /// Address to listen on (port 0: any; the chosen address is printed as
    /// `listening ADDR`).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Worker threads of the async runtime.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// CPU time (milliseconds, on the worker's own CPU clock) each
    /// dashboard takes.
    #[arg(long, default_value_t = 0.0)]
    cpu_work_ms: f64,
    /// The database each dashboard queries (ADDR of `pp-demo database`).
    #[arg(long)]
    db: Option<SocketAddr>,
    /// Connections in the database pool.
    #[arg(long, default_value_t = 4)]
    db_pool: usize,
    /// Listen backlog (accept-queue limit).
    #[arg(long, default_value_t = 1024)]
    backlog: u32,
    /// Tasks accepting connections from the listener, side by side.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    acceptors: u16,
    /// Milliseconds each acceptor spends on each connection before
    /// accepting the next.
    #[arg(long, default_value_t = 0)]
    accept_delay_ms: u64,
    /// Close each connection after its response (every request connects).
    #[arg(long)]
    close_connections: bool,
    /// Folder of the events file; each event is fsynced there.
    #[arg(long)]
    events_dir: Option<PathBuf>,
    /// KiB each dashboard adds to the in-memory cache (0: no cache).
    #[arg(long, default_value_t = 0)]
    cache_kib_per_request: usize,
}

/// A bounded pool of database connections.
struct Pool {
    addr: SocketAddr,
    permits: Semaphore,
    idle: Mutex<Vec<BufReader<TcpStream>>>,
}

impl Pool {
    /// One query: waits for a connection, sends a line, reads the answer.
    async fn query(&self) -> Result<()> {
        let _permit = self.permits.acquire().await?;
        let idle = self.idle.lock().unwrap().pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => BufReader::new(TcpStream::connect(self.addr).await?),
        };
        conn.get_mut().write_all(b"select\n").await?;
        let mut answer = String::new();
        conn.read_line(&mut answer).await?;
        anyhow::ensure!(answer == "ok\n", "the database answered {answer:?}");
        self.idle.lock().unwrap().push(conn);
        Ok(())
    }
}

/// What the handlers share.
struct App {
    cpu_work: Duration,
    db: Option<Pool>,
    events: Option<Arc<Mutex<File>>>,
    cache: Mutex<Vec<Vec<u8>>>,
    cache_chunk: usize,
}

/// CPU time of the calling thread.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Burns `work` of this thread's CPU time.
fn burn(work: Duration) {
    let started = thread_cpu_time();
    let mut x = 0u64;
    while thread_cpu_time() - started < work {
        for i in 0..1000 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
}

type Reply = Result<Json<Value>, (StatusCode, String)>;

fn failed(err: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
}

async fn dashboard(State(app): State<Arc<App>>) -> Reply {
    if !app.cpu_work.is_zero() {
        burn(app.cpu_work);
    }
    if let Some(db) = &app.db {
        db.query().await.map_err(failed)?;
    }
    if app.cache_chunk > 0 {
        // Written, so that the pages are really the cache's.
        let chunk = vec![1u8; app.cache_chunk];
        app.cache.lock().unwrap().push(chunk);
    }
    Ok(Json(json!({"widgets": 3})))
}

async fn event(State(app): State<Arc<App>>, Json(body): Json<Value>) -> Reply {
    if let Some(events) = &app.events {
        let events = events.clone();
        let line = format!("{body}\n");
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut file = events.lock().unwrap();
            file.write_all(line.as_bytes())?;
            file.sync_data()
        })
        .await
        .map_err(failed)?
        .map_err(failed)?;
    }
    Ok(Json(json!({"stored": true})))
}

/// Serves until killed.
pub fn run(options: Options) -> Result<()> {
    let events = match &options.events_dir {
        Some(dir) => {
            let path = dir.join("events.jsonl");
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            Some(Arc::new(Mutex::new(file)))
        }
        None => None,
    };
    let app = Arc::new(App {
        cpu_work: Duration::from_secs_f64(options.cpu_work_ms / 1000.0),
        db: options.db.map(|addr| Pool {
            addr,
            permits: Semaphore::new(options.db_pool),
            idle: Mutex::new(Vec::new()),
        }),
        events,
        cache: Mutex::new(Vec::new()),
        cache_chunk: options.cache_kib_per_request * 1024,
    });
    let router = Router::new()
        .route("/api/dashboard", get(dashboard))
        .route("/api/events", post(event))
        .with_state(app);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.workers.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let socket = if options.listen.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket
            .bind(options.listen)
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        let listener = Arc::new(socket.listen(options.backlog)?);
        println!("listening {}", listener.local_addr()?);
        let delay = Duration::from_millis(options.accept_delay_ms);
        let keep_alive = !options.close_connections;
        let acceptors: Vec<_> = (0..options.acceptors)
            .map(|_| tokio::spawn(accept(listener.clone(), router.clone(), delay, keep_alive)))
            .collect();
        for acceptor in acceptors {
            acceptor.await??;
        }
        Ok(())
    })
}

/// Accepts connections from `listener` and serves each on a task of its
/// own, waiting `delay` after each; ends at the first error.
async fn accept(
    listener: Arc<TcpListener>,
    router: Router,
    delay: Duration,
    keep_alive: bool,
) -> Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(keep_alive)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}
