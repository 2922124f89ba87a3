//! The HTTP endpoints: `/metrics` (Prometheus text format) and `/healthz`.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
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
use tracing::error;

use crate::scrape::Scraper;

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
