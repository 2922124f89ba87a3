//! The HTTP endpoints: `/metrics` (Prometheus text format) and `/healthz`,
//! served within the bounds of [`Limits`], with TLS and basic
//! authentication when a [`WebConfig`] asks for them.

pub mod api;
mod basic_auth;
pub mod certificate;
mod connections;
mod web_config;
mod write_deadline;

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use anyhow::Result;
use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
pub use connections::Limits;
use tokio::net::TcpListener;
use tower_http::{
    catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, timeout::TimeoutLayer,
};
use tracing::error;
pub use web_config::WebConfig;

use crate::{
    export::{self, Format},
    sampler::{Health, Latest, panic_message},
    serve::{basic_auth::Access, web_config::Security},
};

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

/// Serves the samples of `latest` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    latest: Arc<Latest>,
    limits: Limits,
    request_timeout: Duration,
    web_config: Option<WebConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = router(latest, request_timeout);
    connections::serve(listener, app, limits, web_config.map(Arc::new), shutdown).await;
    Ok(())
}

/// The endpoints, answering from `latest`.
fn router(latest: Arc<Latest>, request_timeout: Duration) -> Router {
    let routes = Router::new()
        .route("/", get(landing))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/api/v1/containers", get(containers));
    with_layers(routes, latest, request_timeout)
}

/// `routes` answering from `latest`, within the endpoint's bounds. A
/// panic while answering (a bug) marks the agent failed, so that
/// `/healthz` says so from then on, and is answered 503.
fn with_layers(
    routes: Router<Arc<Latest>>,
    latest: Arc<Latest>,
    request_timeout: Duration,
) -> Router {
    let on_panic = {
        let latest = latest.clone();
        move |payload: Box<dyn std::any::Any + Send>| {
            latest.fail(format!(
                "answering a request panicked: {}",
                panic_message(&*payload)
            ));
            unhealthy(&latest).unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    };
    routes
        .with_state(latest)
        .layer(middleware::from_fn(authenticate))
        // No endpoint takes a body.
        .layer(RequestBodyLimitLayer::new(0))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        .layer(CatchPanicLayer::custom(on_panic))
}

/// `work` on a thread of tokio's blocking pool (CPU work off the async
/// threads); a panic there goes on in the caller, as if it had run inline.
async fn off_async<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => Some(done),
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => {
            error!("a blocking task did not finish: {err}");
            None
        }
    }
}

/// Answers 401 to a request without the credentials the web configuration
/// asks for (the connection hands its settings over with the request). `/healthz` needs none, so that the kubelet's
/// probes need no password.
async fn authenticate(request: Request, next: Next) -> Response {
    let auth = request
        .extensions()
        .get::<Arc<Security>>()
        .and_then(|security| security.basic_auth.as_ref());
    // Every request through the listener has its client's address.
    let client = request
        .extensions()
        .get::<connections::Client>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0);
    let access = match auth {
        Some(auth) if request.uri().path() != "/healthz" => {
            auth.allows(request.headers().get(header::AUTHORIZATION), client)
                .await
        }
        _ => Access::Allowed,
    };
    match access {
        Access::Allowed => {}
        Access::Denied => {
            return (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    "Basic realm=\"pressure-probe\", charset=\"UTF-8\"",
                )],
                "401 Unauthorized\n",
            )
                .into_response();
        }
        // Its password was not checked: say so, not that it is wrong.
        Access::Busy => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                "503 Service Unavailable: too many password checks wait; try again\n",
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// What a person opening the address in a browser finds: the endpoints.
const LANDING: &str = concat!(
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pressure-probe</title></head>\n",
    "<body><h1>pressure-probe ",
    env!("CARGO_PKG_VERSION"),
    "</h1>\n<p>Per-container pressure: which bottleneck each container has, and whether more \
     replicas would help.</p>\n<ul>\n",
    "<li><a href=\"metrics\">/metrics</a>: Prometheus metrics</li>\n",
    "<li><a href=\"api/v1/containers\">/api/v1/containers</a>: the verdict on each container, \
     with its evidence (JSON)</li>\n",
    "<li><a href=\"healthz\">/healthz</a>: health</li>\n</ul>\n</body></html>\n",
);

async fn landing() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        LANDING,
    )
        .into_response()
}

/// Whether the client accepts a gzipped body (`Accept-Encoding` lists
/// `gzip` with a non-zero weight).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let weight = parts
                .find_map(|p| p.strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (name.eq_ignore_ascii_case("gzip") || name == "*") && weight > 0.0
        })
}

/// 503 with the reason, when the agent is not sound.
fn unhealthy(latest: &Latest) -> Option<Response> {
    let why = match latest.health() {
        Health::Ok => return None,
        Health::Stale { age, error } => format!(
            "unhealthy: the last sample is {:.1} s old; the last error: {error}\n",
            age.as_secs_f64()
        ),
        Health::Failed(why) => format!("unhealthy: {why}; restart the agent\n"),
    };
    Some((StatusCode::SERVICE_UNAVAILABLE, why).into_response())
}

async fn metrics(State(latest): State<Arc<Latest>>, headers: HeaderMap) -> Response {
    if let Some(response) = unhealthy(&latest) {
        return response;
    }
    let gzip = accepts_gzip(&headers);
    let format = Format::negotiate(
        headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    );
    let sample = latest.sample();
    // Encoding is CPU work (once per sample and format).
    let body = off_async(move || export::exposition(&sample, format, gzip)).await;
    match body {
        Some(Ok(body)) => {
            let mut response =
                ([(header::CONTENT_TYPE, format.content_type())], body).into_response();
            if gzip {
                response.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    header::HeaderValue::from_static("gzip"),
                );
            }
            response.headers_mut().insert(
                header::VARY,
                header::HeaderValue::from_static("accept, accept-encoding"),
            );
            response
        }
        Some(Err(err)) => {
            error!("cannot encode the exposition: {err}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode the exposition: {err}\n"),
            )
                .into_response()
        }
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn containers(State(latest): State<Arc<Latest>>) -> Response {
    if let Some(response) = unhealthy(&latest) {
        return response;
    }
    let sample = latest.sample();
    // Made once per sample, however many clients ask.
    let document = off_async(move || {
        sample.api_document(|sample| {
            let json = serde_json::to_vec(&api::containers(sample));
            Bytes::from(json.expect("the API document always serialises"))
        })
    })
    .await;
    match document {
        Some(document) => ([(header::CONTENT_TYPE, "application/json")], document).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn healthz(State(latest): State<Arc<Latest>>) -> Response {
    unhealthy(&latest).unwrap_or_else(|| "ok\n".into_response())
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::HeaderValue};
    use tower::ServiceExt;

    use super::*;
    use crate::{sampler::Sample, snapshot::Snapshot};

    async fn panics_inline() -> &'static str {
        panic!("a bug")
    }

    async fn panics_blocking() -> &'static str {
        off_async(|| -> &'static str { panic!("a bug") })
            .await
            .unwrap_or_default()
    }

    /// A panic while answering, inline or on the blocking pool (where the
    /// exposition is encoded), marks the agent failed: that request and
    /// `/healthz` from then on answer 503 with the panic's message.
    #[tokio::test]
    async fn a_panic_while_answering_fails_health() {
        for route in ["/inline", "/blocking"] {
            let latest = Latest::new(
                Sample::new(
                    Snapshot::default(),
                    Duration::ZERO,
                    Vec::new(),
                    Duration::ZERO,
                ),
                Duration::from_secs(3600),
            );
            let routes = Router::new()
                .route("/healthz", get(healthz))
                .route("/inline", get(panics_inline))
                .route("/blocking", get(panics_blocking));
            let app = with_layers(routes, latest.clone(), Duration::from_secs(10));
            let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
            let health = app.clone().oneshot(get("/healthz")).await.unwrap();
            assert_eq!(health.status(), StatusCode::OK);
            let answer = app.clone().oneshot(get(route)).await.unwrap();
            assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE, "{route}");
            let health = app.oneshot(get("/healthz")).await.unwrap();
            assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE, "{route}");
            let body = axum::body::to_bytes(health.into_body(), 1 << 16)
                .await
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&body),
                "unhealthy: answering a request panicked: a bug; restart the agent\n"
            );
        }
    }

    #[test]
    fn gzip_is_negotiated() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
            accepts_gzip(&headers)
        };
        assert!(with("gzip"));
        assert!(with("deflate, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("gzip;q=0"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
