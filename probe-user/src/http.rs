//! The HTTP endpoints: `/metrics` (Prometheus text format) and `/healthz`.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Instant,
};

use anyhow::{Context, Result};
use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::net::TcpListener;
use tracing::{debug, error};

use crate::{collect::KernelMaps, export, identity::Identity, snapshot::SnapshotBuilder};

/// Everything a scrape needs, behind one lock: scrapes are serialised.
pub struct Scraper {
    /// Kernel maps.
    pub maps: KernelMaps,
    /// Cgroup identity.
    pub identity: Identity,
    /// Per-cgroup grouping and reclamation.
    pub builder: SnapshotBuilder,
}

impl Scraper {
    /// Reads the kernel and renders the exposition.
    pub fn scrape(&mut self) -> Result<String> {
        let started = Instant::now();
        let raw = self.maps.read()?;
        let snapshot = self
            .builder
            .build(raw, &mut self.maps, &mut self.identity)?;
        let text = export::encode(&snapshot, started.elapsed().as_secs_f64())?;
        debug!(cgroups = snapshot.cgroups.len(), elapsed = ?started.elapsed(), "scraped");
        Ok(text)
    }
}

type Shared = Arc<Mutex<Scraper>>;

/// Binds `addr`, with an error that says what to do when it is taken.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}: choose a free address with --listen"))
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    scraper: Scraper,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(Arc::new(Mutex::new(scraper)));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")
}

async fn metrics(State(scraper): State<Shared>) -> Response {
    let result = tokio::task::spawn_blocking(move || {
        scraper
            .lock()
            .map_err(|_| anyhow::anyhow!("a previous scrape panicked"))?
            .scrape()
    })
    .await;
    match result {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Ok(Err(err)) => {
            error!("scrape failed: {err:#}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("scrape failed: {err:#}\n"),
            )
                .into_response()
        }
        Err(err) => {
            error!("scrape task failed: {err}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}
