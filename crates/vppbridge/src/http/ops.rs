//! Operations endpoints: liveness, readiness, Prometheus metrics.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

/// `GET /healthz`: the process is up.
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 200 while NATS is connected and the streams exist, else 503 with the reason.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    match state.inner.publisher.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

/// `GET /metrics`: every series, as OpenMetrics text when `Accept` asks for it (Prometheus
/// does), otherwise as Prometheus text format 0.0.4 (`promtool`, `curl`, older agents).
pub(super) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = crate::metrics::text::Format::from_accept(accept);
    (
        [(header::CONTENT_TYPE, format.content_type())],
        state.inner.metrics.encode_as(format),
    )
        .into_response()
}
