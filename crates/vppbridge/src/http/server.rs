//! The accept loop: HTTP/1.1 connections served by hyper with a header read timeout and a cap
//! on open connections.
//!
//! - hyper's `header_read_timeout` closes a connection that has not sent a whole request head
//!   in time. hyper starts that timer whenever it waits for a request head, so it also bounds
//!   how long a kept-alive connection may sit idle between requests.
//! - At most [`ServerLimits::max_connections`] connections are open at once; one accepted beyond
//!   that is closed at once (counted in `vppbridge_http_connections_refused_total`), so an
//!   attacker cannot exhaust the process's file descriptors and the listener keeps working.
//! - An accept error (out of descriptors, ...) is logged at most once a second and followed by a
//!   short pause, never a busy loop.
//! - On shutdown the listener is closed and open connections finish their current request
//!   (hyper-util's `GracefulShutdown`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::logs::LogLimiter;
use crate::metrics::Metrics;

/// Descriptors kept free for everything else the process opens (NATS, Apple, files).
pub const RESERVED_DESCRIPTORS: usize = 256;

/// Pause after an accept error, so that a full descriptor table does not spin the loop.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Longest wait for a whole request head, and for the next request on a kept-alive connection.
    pub header_read_timeout: Duration,
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
}

impl ServerLimits {
    /// `max_connections` lowered to what the process's descriptor limit allows (the soft
    /// `RLIMIT_NOFILE` less [`RESERVED_DESCRIPTORS`]), when that limit can be read.
    pub fn fitted(self) -> Self {
        let Some(limit) = descriptor_limit() else {
            return self;
        };
        let allowed = limit.saturating_sub(RESERVED_DESCRIPTORS).max(1);
        if self.max_connections > allowed {
            tracing::warn!(
                configured = self.max_connections,
                allowed,
                descriptor_limit = limit,
                "http.max_connections is above what the descriptor limit allows; using {allowed} (raise `ulimit -n` to allow more)"
            );
        }
        ServerLimits {
            max_connections: self.max_connections.min(allowed),
            ..self
        }
    }
}

/// The soft limit on open files, from `/proc/self/limits` (Linux); `None` elsewhere.
pub fn descriptor_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then drains.
///
/// # Errors
/// Never for now; the signature leaves room for listener failures.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = limits.fitted();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let accept_errors = LogLimiter::new(1);
    let refusals = LogLimiter::new(1);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, _peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                if let Some(suppressed) = accept_errors.allow() {
                    tracing::error!(error = %e, suppressed, "cannot accept a connection; pausing");
                }
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.http_connections_refused.inc();
            if let Some(suppressed) = refusals.allow() {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    suppressed,
                    "connection refused: http.max_connections are open"
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        metrics.http_connections_open.inc();
        let service = TowerToHyperService::new(router.clone());
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        let metrics = metrics.clone();
        tokio::spawn(async move {
            // Timeouts and resets end connections with an error; nothing to report.
            let _ = conn.await;
            metrics.http_connections_open.dec();
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
