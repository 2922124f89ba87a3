//! The HTTP endpoints: `/metrics` (Prometheus text format) and `/healthz`,
//! served within the bounds of [`Limits`].

mod connections;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Result;
use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
pub use connections::Limits;
use tokio::net::TcpListener;
use tower_http::{limit::RequestBodyLimitLayer, timeout::TimeoutLayer};
use tracing::error;

use crate::scrape::Scraper;

type Shared = Arc<Mutex<Scraper>>;

/// Binds `addr`, with an error that says what to do.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|err| {
        let link_local = matches!(addr, SocketAddr::V6(v6)
            if v6.ip().segments()[0] & 0xffc0 == 0xfe80 && v6.scope_id() == 0);
        let advice = match err.kind() {
            _ if link_local => {
                "an IPv6 link-local address needs the index of its interface, as in \
                 [fe80::1%2]:9635 (`ip -6 addr` lists them)"
            }
            std::io::ErrorKind::AddrInUse => "the port is taken: choose a free one with --listen",
            std::io::ErrorKind::AddrNotAvailable => {
                "no interface of this host has that address: choose one that it has with --listen"
            }
            std::io::ErrorKind::PermissionDenied => {
                "ports below 1024 need CAP_NET_BIND_SERVICE: choose another with --listen"
            }
            _ => "choose another address with --listen",
        };
        anyhow::anyhow!("cannot listen on {addr}: {err}; {advice}")
    })
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    scraper: Scraper,
    limits: Limits,
    request_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(Arc::new(Mutex::new(scraper)))
        // No endpoint takes a body.
        .layer(RequestBodyLimitLayer::new(0))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ));
    connections::serve(listener, app, limits, shutdown).await;
    Ok(())
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
