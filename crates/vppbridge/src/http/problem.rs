//! RFC 9457 problem details (`application/problem+json`) for every rejection.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Media type of problem bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem answer.
#[derive(Debug, Clone)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// Short stable name, the last part of the `type` URI (`invalid-notification`).
    pub slug: &'static str,
    /// Human-readable summary, the same for every occurrence.
    pub title: &'static str,
    /// This occurrence's explanation (names the field for bad bodies); none for 401.
    pub detail: Option<String>,
    /// The JSON path of the offending field, for bad bodies.
    pub field: Option<String>,
    /// `Retry-After` in seconds, for 503.
    pub retry_after: Option<Duration>,
}

impl Problem {
    /// A problem without detail.
    pub fn new(status: StatusCode, slug: &'static str, title: &'static str) -> Self {
        Problem {
            status,
            slug,
            title,
            detail: None,
            field: None,
            retry_after: None,
        }
    }

    /// Adds the detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The body as JSON.
    pub fn body(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "type": format!("urn:vppbridge:problem:{}", self.slug),
            "title": self.title,
            "status": self.status.as_u16(),
        });
        if let Some(d) = &self.detail {
            v["detail"] = d.clone().into();
        }
        if let Some(f) = &self.field {
            v["field"] = f.clone().into();
        }
        v
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
            self.body().to_string(),
        )
            .into_response();
        if let Some(after) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(after.as_secs().max(1)),
            );
        }
        response
    }
}
