//! The HTTP receiver: `POST /notifications/{location}` (authenticate, limit, ingest, publish,
//! answer), `GET /healthz`, `GET /readyz`, `GET /metrics`.
//!
//! Talks to a [`NotificationPublisher`] and a [`KnownUids`], never to NATS types, so router tests
//! run with the `vppbridge-testkit` crate's in-memory publisher (`tests/it/receiver/router.rs`).
//! Never logs a secret or a body.
//!
//! - `server`: the accept loop (hyper HTTP/1.1, header read timeout, connection cap).
//! - `webhook`: the notification handler; `problem`: RFC 9457 answers.
//! - `ready`: the publisher as the handlers see it, remembering failed publishes for `/readyz`.
//! - `logs`: rate limiting of log lines outsiders can cause.
//! - `ops`: `/healthz`, `/readyz`, `/metrics`.
//!
//! Every string that comes from a request (the location in the path, ids from the body) is logged
//! as a string field, which the text format writes `Debug`-escaped and the JSON format
//! JSON-escaped: neither a newline nor a terminal escape can reach the log as such.

mod logs;
mod ops;
mod problem;
mod ready;
mod server;
mod webhook;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::HttpConfig;
use crate::metrics::Metrics;
use crate::nats::state::KnownUids;
use crate::publish::NotificationPublisher;
use crate::secret::LocationSecrets;

pub use logs::LogLimiter;
pub use problem::{PROBLEM_JSON, Problem};
pub use server::{RESERVED_DESCRIPTORS, ServerLimits, descriptor_limit};
pub use webhook::Outcome;

/// The receiver's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest body accepted (larger: 413).
    pub max_body_bytes: usize,
    /// Notification requests handled at once (more: 503).
    pub max_concurrent_requests: usize,
    /// `Retry-After` on 503.
    pub retry_after: Duration,
    /// Longest wait for the whole body once the request is authenticated (then 408). Runs
    /// before a request permit is taken.
    pub body_timeout: Duration,
    /// The connection-level limits ([`run`], [`serve_router`]).
    pub server: ServerLimits,
    /// Log lines a second about unauthenticated requests.
    pub unauthorized_log_lines_per_sec: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from(&HttpConfig::default())
    }
}

impl From<&HttpConfig> for Limits {
    fn from(c: &HttpConfig) -> Self {
        Limits {
            max_body_bytes: c.max_body_bytes,
            max_concurrent_requests: c.max_concurrent_requests.max(1),
            retry_after: Duration::from_secs(c.retry_after_secs.max(1)),
            body_timeout: Duration::from_secs(c.body_timeout_secs.max(1)),
            server: ServerLimits {
                header_read_timeout: Duration::from_secs(c.header_read_timeout_secs.max(1)),
                max_connections: c.max_connections.max(1),
            },
            unauthorized_log_lines_per_sec: c.unauthorized_log_lines_per_sec,
        }
    }
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    locations: HashMap<String, LocationSecrets>,
    publisher: Arc<dyn NotificationPublisher>,
    uids: Arc<dyn KnownUids>,
    metrics: Metrics,
    limits: Limits,
    permits: Arc<Semaphore>,
    unauthorized_log: LogLimiter,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field(
                "locations",
                &self.inner.locations.keys().collect::<Vec<_>>(),
            )
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state for a receiver serving `locations` (id → accepted secrets). `publisher` is
    /// wrapped so that `/readyz` also reflects failed publishes (see `ready`).
    pub fn new(
        locations: HashMap<String, LocationSecrets>,
        publisher: Arc<dyn NotificationPublisher>,
        uids: Arc<dyn KnownUids>,
        metrics: Metrics,
        limits: Limits,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(limits.max_concurrent_requests));
        let unauthorized_log = LogLimiter::new(limits.unauthorized_log_lines_per_sec);
        AppState {
            inner: Arc::new(Inner {
                locations,
                publisher: Arc::new(ready::Watched::new(publisher)),
                uids,
                metrics,
                limits,
                permits,
                unauthorized_log,
            }),
        }
    }

    /// The metrics the receiver counts into.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The receiver's limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }
}

/// The receiver's routes: the webhook and the operations endpoints.
pub fn router(state: AppState) -> Router {
    ops_routes()
        .route(
            "/notifications/{location}",
            post(webhook::notification).layer(DefaultBodyLimit::disable()),
        )
        .with_state(state)
}

/// Only `/healthz`, `/readyz` and `/metrics`: what a worker-only process (`serve --no-receiver`)
/// serves, so that probes and scraping work the same on every process.
pub fn ops_router(state: AppState) -> Router {
    ops_routes().with_state(state)
}

fn ops_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
}

/// Serves the receiver on `listener` until `shutdown` completes, then stops accepting and
/// waits for in-flight requests (and their publishes) to finish.
///
/// # Errors
/// When the server fails on the listener.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "receiver listening");
    }
    let (limits, metrics) = (state.inner.limits.server, state.inner.metrics.clone());
    serve_router(listener, router(state), limits, metrics, shutdown).await
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then drains
/// in-flight requests.
///
/// # Errors
/// When the server fails on the listener.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(listener, router, limits, metrics, shutdown).await
}
