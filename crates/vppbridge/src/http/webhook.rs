//! `POST /notifications/{location}`: the checks in the order they cost (bearer, content type,
//! size, body within `body_timeout`, capacity, `uId`), then the publish; 200 only after the
//! acknowledgement.
//!
//! A request permit (`max_concurrent_requests`) is taken only once the body is read, so slow or
//! stalled bodies never hold one: they are bounded by the body deadline and the connection cap.
//! Unauthenticated requests are answered before their body is read, and logged at most
//! `unauthorized_log_lines_per_sec` a second; the metric counts each. Metric labels are a
//! configured location or `unknown`, and a known type, `unknown` or `none`.
//!
//! A request without `Content-Type` is read as JSON: Apple does not document the headers it
//! sends (apple-api.md §13.2), and refusing every notification over a missing header would lose
//! them; a present non-JSON type gets 415.
//!
//! The `uId` check compares with the location's `uId` recorded in `vpp-state` (by `register` or
//! the worker). While none is recorded, any `uId` is accepted: the first registration's own test
//! notification arrives before `register` can record it.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::{AppState, Problem};
use crate::ingest::{self, IngestError};
use crate::publish::NotificationPublishError;

/// What became of one notification request: the `outcome` label and log field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored: 200.
    Accepted,
    /// Already stored: 200.
    Duplicate,
    /// Missing or wrong bearer, or unknown location: 401.
    Unauthorized,
    /// Body not an acceptable notification: 400.
    Invalid,
    /// Body over the limit: 413.
    TooLarge,
    /// Content type not JSON: 415.
    UnsupportedMediaType,
    /// `uId` differs from the location's: 422.
    UidMismatch,
    /// The body did not arrive within the body deadline: 408.
    BodyTimeout,
    /// Too many requests at once: 503.
    Overloaded,
    /// NATS unreachable or no acknowledgement: 503.
    Unavailable,
}

impl Outcome {
    /// Every outcome (the metrics export each one at 0 from the start).
    pub const ALL: [Outcome; 10] = [
        Outcome::Accepted,
        Outcome::Duplicate,
        Outcome::Unauthorized,
        Outcome::Invalid,
        Outcome::TooLarge,
        Outcome::UnsupportedMediaType,
        Outcome::UidMismatch,
        Outcome::BodyTimeout,
        Outcome::Overloaded,
        Outcome::Unavailable,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Invalid => "invalid",
            Outcome::TooLarge => "too_large",
            Outcome::UnsupportedMediaType => "unsupported_media_type",
            Outcome::UidMismatch => "uid_mismatch",
            Outcome::BodyTimeout => "body_timeout",
            Outcome::Overloaded => "overloaded",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// What the request log line and the metrics say about a request.
struct Seen {
    /// Whether the path names a configured location (else its label is `unknown`).
    configured: bool,
    kind: &'static str,
    notification_id: Option<String>,
    error: Option<String>,
}

pub(super) async fn notification(
    State(state): State<AppState>,
    Path(location): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let inner = &state.inner;
    inner.metrics.http_in_flight.inc();
    let _in_flight = InFlight(&state);
    let mut seen = Seen {
        configured: inner.locations.contains_key(&location),
        kind: "none",
        notification_id: None,
        error: None,
    };
    let (outcome, response) = handle(&state, &location, &headers, body, &mut seen).await;
    let label = if seen.configured {
        location.as_str()
    } else {
        "unknown"
    };
    inner
        .metrics
        .notification(label, seen.kind, outcome.as_str());
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    // A string field: `Debug`-escaped in text logs, JSON-escaped in JSON logs.
    let path_location: String = location.chars().take(64).collect();
    let location = path_location.as_str();
    let status = response.status().as_u16();
    let (kind, id, error) = (
        seen.kind,
        seen.notification_id.as_deref(),
        seen.error.as_deref(),
    );
    match outcome {
        Outcome::Accepted | Outcome::Duplicate => tracing::info!(
            location,
            r#type = kind,
            notification_id = id,
            outcome = outcome.as_str(),
            status,
            latency_ms,
            "notification"
        ),
        Outcome::Unavailable => tracing::error!(
            location,
            r#type = kind,
            notification_id = id,
            outcome = outcome.as_str(),
            status,
            latency_ms,
            error,
            "notification"
        ),
        Outcome::Unauthorized => {
            if let Some(suppressed) = inner.unauthorized_log.allow() {
                tracing::warn!(
                    location,
                    outcome = outcome.as_str(),
                    status,
                    latency_ms,
                    suppressed,
                    "notification"
                );
            }
        }
        _ => tracing::warn!(
            location,
            r#type = kind,
            notification_id = id,
            outcome = outcome.as_str(),
            status,
            latency_ms,
            error,
            "notification"
        ),
    }
    response
}

async fn handle(
    state: &AppState,
    location: &str,
    headers: &HeaderMap,
    body: Body,
    seen: &mut Seen,
) -> (Outcome, Response) {
    let inner = &state.inner;
    let retry_after = inner.limits.retry_after;

    if !authorised(state, location, headers) {
        let p = Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized");
        return (Outcome::Unauthorized, p.into_response());
    }

    if let Some(ct) = headers.get(header::CONTENT_TYPE)
        && !is_json(ct.to_str().unwrap_or(""))
    {
        let p = Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .detail("the body must be JSON (Content-Type: application/json)");
        return (Outcome::UnsupportedMediaType, p.into_response());
    }

    let max = inner.limits.max_body_bytes;
    let deadline = inner.limits.body_timeout;
    let read = tokio::time::timeout(deadline, read_limited(headers, body, max)).await;
    let bytes = match read {
        Ok(Ok(b)) => b,
        Err(_) => {
            let p = Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                "body-timeout",
                "Body not received in time",
            )
            .detail(format!(
                "the whole body must arrive within {} s (http.body_timeout_secs)",
                deadline.as_secs()
            ));
            return (Outcome::BodyTimeout, p.into_response());
        }
        Ok(Err(ReadError::TooLarge)) => {
            let p = Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", "Body too large")
                .detail(format!("the body is larger than {max} bytes"));
            return (Outcome::TooLarge, p.into_response());
        }
        Ok(Err(ReadError::Broken(e))) => {
            seen.error = Some(e.clone());
            return invalid(IngestError::body(format!(
                "the body could not be read: {e}"
            )));
        }
    };

    // Taken only now, so that slow bodies never hold one.
    let Ok(_permit) = inner.permits.clone().try_acquire_owned() else {
        let p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "Too many requests",
        )
        .detail("the receiver is handling its maximum of concurrent notifications; retry later")
        .retry_after(retry_after);
        return (Outcome::Overloaded, p.into_response());
    };

    let envelope = match ingest::parse_envelope(&bytes) {
        Ok(e) => e,
        Err(e) => return invalid(e),
    };
    seen.notification_id = Some(envelope.notification_id.clone());
    if let Some(known) = inner.uids.known_uid(location).await
        && known != envelope.u_id
    {
        seen.error = Some(format!(
            "uId {:?} but the location's is {known:?}",
            envelope.u_id
        ));
        let p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "uid-mismatch",
            "Notification for another library",
        )
        .detail(format!(
            "uId {:?} is not this location's library; check that the notification URL of each location carries its own id",
            envelope.u_id
        ));
        return (Outcome::UidMismatch, p.into_response());
    }
    let notification = match ingest::normalise(location, envelope) {
        Ok(n) => n,
        Err(e) => return invalid(e),
    };
    seen.kind = notification.kind();

    let out = match ingest::outgoing(&notification, chrono::Utc::now()) {
        Ok(out) => out,
        Err(e) => {
            let e = NotificationPublishError::Failed(format!("cannot serialise the event: {e}"));
            return (Outcome::Unavailable, unavailable(&e, retry_after, seen));
        }
    };
    let publish_started = Instant::now();
    let result = inner
        .publisher
        .publish(out.subject, out.msg_id.clone(), out.payload)
        .await;
    inner
        .metrics
        .publish_duration
        .observe(publish_started.elapsed().as_secs_f64());
    match result {
        Ok(published) => {
            let outcome = if published.duplicate {
                Outcome::Duplicate
            } else {
                Outcome::Accepted
            };
            let body = serde_json::json!({"outcome": outcome.as_str(), "id": out.msg_id});
            (outcome, (StatusCode::OK, axum::Json(body)).into_response())
        }
        Err(e) => (Outcome::Unavailable, unavailable(&e, retry_after, seen)),
    }
}

fn unavailable(e: &NotificationPublishError, retry_after: Duration, seen: &mut Seen) -> Response {
    seen.error = Some(e.to_string());
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Notification not stored",
    )
    .detail("the notification could not be stored; retry later")
    .retry_after(retry_after)
    .into_response()
}

fn invalid(e: IngestError) -> (Outcome, Response) {
    let mut p = Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-notification",
        "Invalid notification",
    )
    .detail(e.to_string());
    p.field = e.field;
    (Outcome::Invalid, p.into_response())
}

/// Decrements the in-flight gauge however the handler ends.
struct InFlight<'a>(&'a AppState);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.inner.metrics.http_in_flight.dec();
    }
}

/// Whether the request carries `Authorization: Bearer <secret>` with one of the location's
/// secrets. An unknown location is compared against a throw-away hash so that it takes the same
/// time as a wrong secret.
fn authorised(state: &AppState, location: &str, headers: &HeaderMap) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(presented) = presented else {
        return false;
    };
    match state.inner.locations.get(location) {
        Some(secrets) => secrets.accepts(presented),
        None => {
            let _ = crate::secret::SecretHash::of("").matches(presented);
            false
        }
    }
}

/// `application/json`, `application/<x>+json`, with any parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

enum ReadError {
    TooLarge,
    Broken(String),
}

/// Reads at most `max` bytes; stops reading as soon as the declared or received length exceeds it.
async fn read_limited(headers: &HeaderMap, body: Body, max: usize) -> Result<Vec<u8>, ReadError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut out = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ReadError::Broken(e.to_string()))?;
        if out.len() + chunk.len() > max {
            return Err(ReadError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    #[test]
    fn every_outcome_is_exported_at_zero_from_the_start() {
        let ours: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            ours,
            crate::metrics::zero::NOTIFICATION_OUTCOMES,
            "metrics::zero::NOTIFICATION_OUTCOMES must list every webhook outcome"
        );
    }
}
