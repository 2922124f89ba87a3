//! Accepting and serving HTTP connections within bounds: a header read
//! timeout (which also closes idle keep-alive connections), an answer
//! timeout (a client that does not read its answer within it is cut off,
//! so that it holds no encoded sample past it), and a cap on
//! open connections. At the cap, a new connection takes the place of one
//! with no request in progress: the oldest of those that never had an
//! answer (a flood of connections that send nothing takes the place of its
//! own kind, never of a scraper's kept-alive connection between two
//! scrapes), else the one idle longest. A pile of idle or slow clients can
//! never keep `/healthz` and `/metrics` from answering. Only when every
//! connection has a request in progress is a new one refused. Each connection takes the web configuration's TLS settings
//! of the moment it is accepted (a handshake within the header timeout);
//! each request, its basic authentication settings of the moment it
//! arrives (handed to the endpoints with the request), so a password
//! revoked in the file is refused on connections already open.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Body};
use hyper::{Request, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    sync::{Notify, watch},
    task::JoinSet,
};
use tower::ServiceExt;
use tracing::{debug, warn};

use crate::serve::{
    web_config::WebConfig,
    write_deadline::{AnswerClock, WriteDeadline},
};

/// Bounds on the HTTP endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, from the connection's
    /// start or the end of its previous request.
    pub header_timeout: Duration,
    /// Time a client has to read an answer, from when it is ready.
    pub answer_timeout: Duration,
}

/// The address a request came from, handed to the endpoints with it.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub IpAddr);

/// How long shutdown waits for requests in progress.
const DRAIN: Duration = Duration::from_secs(5);

/// One open connection.
struct Connection {
    /// When the registry started: the clock of `last_active_ms`.
    epoch: Instant,
    /// Milliseconds since `epoch`, at the last request's start or end (or
    /// the accept).
    last_active_ms: AtomicU64,
    /// Whether a request is in progress.
    busy: AtomicBool,
    /// Milliseconds since `epoch` at which the last answer was ready
    /// (`u64::MAX`: none yet).
    answered_ms: AtomicU64,
    /// Told to close to make room.
    evict: Notify,
}

impl Connection {
    /// Starts or ends a request.
    fn set_busy(&self, busy: bool) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.busy.store(busy, Ordering::Relaxed);
        self.last_active_ms.store(now, Ordering::Relaxed);
        if !busy {
            self.answered_ms.store(now, Ordering::Relaxed);
        }
    }
}

impl AnswerClock for Connection {
    fn answered_at(&self) -> Option<Instant> {
        match self.answered_ms.load(Ordering::Relaxed) {
            u64::MAX => None,
            ms => Some(self.epoch + Duration::from_millis(ms)),
        }
    }
}

/// The open connections.
struct Registry {
    epoch: Instant,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    next: AtomicU64,
}

impl Registry {
    fn len(&self) -> usize {
        self.open.lock().map_or(0, |open| open.len())
    }

    fn add(&self) -> (u64, Arc<Connection>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            epoch: self.epoch,
            last_active_ms: AtomicU64::new(self.epoch.elapsed().as_millis() as u64),
            busy: AtomicBool::new(false),
            answered_ms: AtomicU64::new(u64::MAX),
            evict: Notify::new(),
        });
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, connection.clone());
        }
        (id, connection)
    }

    fn remove(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
    }

    /// Tells a connection with no request in progress to close: the oldest
    /// of those that never had an answer, else the one idle longest; false
    /// if every one is busy.
    fn evict_one(&self) -> bool {
        let Ok(open) = self.open.lock() else {
            return false;
        };
        let idlest = open
            .values()
            .filter(|c| !c.busy.load(Ordering::Relaxed))
            .min_by_key(|c| {
                let answered = c.answered_ms.load(Ordering::Relaxed) != u64::MAX;
                (answered, c.last_active_ms.load(Ordering::Relaxed))
            });
        match idlest {
            Some(connection) => {
                // Marked busy so that it is not chosen twice while it closes.
                connection.busy.store(true, Ordering::Relaxed);
                connection.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` within `limits` and as `web_config` asks
/// (plain HTTP without one) until `shutdown` completes, then lets requests
/// in progress finish (for at most a few seconds).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    web_config: Option<Arc<WebConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let registry = Arc::new(Registry {
        epoch: Instant::now(),
        open: Mutex::new(HashMap::new()),
        next: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, Client(peer.ip())),
                Err(err) => {
                    // Out of file descriptors, most likely: wait for some to close.
                    warn!("cannot accept an HTTP connection: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        if registry.len() >= limits.max_connections && !registry.evict_one() {
            debug!("every HTTP connection has a request in progress; refusing a new one");
            continue;
        }
        let (id, connection) = registry.add();
        let (registry, app, stop) = (registry.clone(), app.clone(), stop_rx.clone());
        let tls = web_config.as_ref().and_then(|c| c.current().tls.clone());
        let web_config = web_config.clone();
        tasks.spawn(async move {
            match tls {
                None => {
                    serve_connection(stream, client, connection, app, limits, web_config, stop)
                        .await
                }
                Some(tls) => {
                    let handshake = tokio::select! {
                        done = tokio::time::timeout(limits.header_timeout, tls.accept(stream)) => done,
                        _ = connection.evict.notified() => return registry.remove(id),
                    };
                    match handshake {
                        Ok(Ok(stream)) => {
                            serve_connection(
                                stream, client, connection, app, limits, web_config, stop,
                            )
                            .await
                        }
                        Ok(Err(err)) => debug!("TLS handshake failed: {err}"),
                        Err(_) => debug!("TLS handshake not done within the header timeout"),
                    }
                }
            }
            registry.remove(id);
        });
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
}

async fn serve_connection(
    stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    client: Client,
    connection: Arc<Connection>,
    app: Router,
    limits: Limits,
    web_config: Option<Arc<WebConfig>>,
    mut stop: watch::Receiver<bool>,
) {
    let tracked = connection.clone();
    let stream = WriteDeadline::new(stream, connection.clone(), limits.answer_timeout);
    let service = service_fn(move |mut request: Request<Incoming>| {
        let app = app.clone();
        let connection = tracked.clone();
        if let Some(config) = &web_config {
            request.extensions_mut().insert(config.current());
        }
        request.extensions_mut().insert(client);
        async move {
            connection.set_busy(true);
            let response = app.oneshot(request.map(Body::new)).await;
            connection.set_busy(false);
            response
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                debug!("HTTP connection ended: {err}");
            }
        }
        // Dropping the connection closes it; it had no request in progress.
        _ = connection.evict.notified() => debug!("idle HTTP connection closed to make room"),
        _ = async { stop.wait_for(|stop| *stop).await.map(drop) } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
