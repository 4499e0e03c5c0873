//! Ingest: raw notification bytes → Apple's envelope → a normalised [`Notification`] → the
//! CloudEvent the receiver publishes.
//!
//! Pure: no I/O, no axum, no NATS. Each step is its own type (bytes → [`NotificationEnvelope`] →
//! [`Notification`] → [`Outgoing`]), and every failure is an [`IngestError`] naming the field
//! that is missing or ill-typed, for the receiver's 400 problem body.
//!
//! Choices where Apple is silent:
//! - Duplicate keys anywhere in the body are refused (serde_json would keep the last one
//!   silently); so are bodies that are not UTF-8 or nest deeper than [`check::MAX_DEPTH`].
//! - Integers that overflow their field (`countDelta` beyond i64, `errorNumber` beyond i32,
//!   `adamId` beyond u64) are refused naming the field; numbers elsewhere are kept as serde_json
//!   reads them (integers beyond 64 bits become floats in `data.raw`).
//! - `adamId` is accepted as a string or a non-negative integer and always published as a string.
//! - Whatever the worker makes a view key of must be a valid key part (see [`normalise`]), and
//!   `countDelta` must lie within ±[`MAX_COUNT_DELTA`]: refused with the field named, never
//!   answered 200 and then dead-lettered.
//! - Optional lists Apple sometimes leaves out (`assignments`, `users`) default to empty; the
//!   fields that identify what happened (`eventId`, `type`, `result`, `adamId`, `countDelta`) are
//!   required.

mod check;
mod fields;
mod normalise;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::events::CloudEvent;
use crate::events::notification::Notification;
use apple_vpp::types::NotificationEnvelope;

pub use check::MAX_DEPTH;
pub use normalise::{MAX_COUNT_DELTA, normalise};

/// Longest `notificationId` accepted (Apple's are UUID-like, 36 characters).
pub const MAX_NOTIFICATION_ID_LEN: usize = 256;

/// Why a body is not an acceptable notification. The message never contains the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{detail}", field.as_ref().map(|f| format!("`{f}`: ")).unwrap_or_default())]
pub struct IngestError {
    /// The JSON path of the offending field (`notification.assignments[0].adamId`), when the
    /// problem is one field.
    pub field: Option<String>,
    /// What is wrong, and where it can, what was expected.
    pub detail: String,
}

impl IngestError {
    /// A problem with the body as a whole.
    pub fn body(detail: impl Into<String>) -> Self {
        IngestError {
            field: None,
            detail: detail.into(),
        }
    }

    /// A problem with one field.
    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        IngestError {
            field: Some(field.into()),
            detail: detail.into(),
        }
    }
}

/// Reads the body as Apple's envelope: UTF-8 JSON object with `notificationId`,
/// `notificationType` and `uId` (non-empty strings) and `notification` (an object).
///
/// # Errors
/// [`IngestError`] naming the first missing or ill-typed field, or the structural problem.
pub fn parse_envelope(bytes: &[u8]) -> Result<NotificationEnvelope, IngestError> {
    let text = check::check(bytes)?;
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| IngestError::body(format!("the body is not valid JSON: {e}")))?;
    let serde_json::Value::Object(mut top) = value else {
        return Err(IngestError::body(format!(
            "the body must be a JSON object (Apple's envelope), not {}",
            fields::type_name(&value)
        )));
    };
    let mut take_string = |name: &str| -> Result<String, IngestError> {
        match top.remove(name) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s),
            Some(serde_json::Value::String(_)) => {
                Err(IngestError::field(name, "must not be empty"))
            }
            Some(other) => Err(IngestError::field(
                name,
                format!("must be a string, not {}", fields::type_name(&other)),
            )),
            None => Err(IngestError::field(name, "is missing")),
        }
    };
    let notification_id = take_string("notificationId")?;
    let notification_type = take_string("notificationType")?;
    let u_id = take_string("uId")?;
    if notification_id.len() > MAX_NOTIFICATION_ID_LEN {
        return Err(IngestError::field(
            "notificationId",
            format!("is longer than {MAX_NOTIFICATION_ID_LEN} characters"),
        ));
    }
    if notification_id.chars().any(char::is_control) {
        return Err(IngestError::field(
            "notificationId",
            "must not contain control characters",
        ));
    }
    let notification = match top.remove("notification") {
        Some(v @ serde_json::Value::Object(_)) => v,
        Some(other) => {
            return Err(IngestError::field(
                "notification",
                format!("must be an object, not {}", fields::type_name(&other)),
            ));
        }
        None => return Err(IngestError::field("notification", "is missing")),
    };
    Ok(NotificationEnvelope {
        notification,
        notification_id,
        notification_type,
        u_id,
    })
}

/// Reads and normalises a body for `location` in one step.
///
/// # Errors
/// See [`parse_envelope`] and [`normalise`].
pub fn parse_notification(location: &str, bytes: &[u8]) -> Result<Notification, IngestError> {
    normalise(location, parse_envelope(bytes)?)
}

/// A notification ready to publish: subject, de-duplication id and the CloudEvent's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// `vpp.notifications.<location>.<kind>`.
    pub subject: String,
    /// `<location>:<notificationId>`: the `Nats-Msg-Id` and the CloudEvent `id`.
    pub msg_id: String,
    /// The CloudEvent, structured JSON.
    pub payload: Bytes,
}

/// The subject a notification of `kind` for `location` is published on.
pub fn subject_for(location: &str, kind: &str) -> String {
    format!("vpp.notifications.{location}.{kind}")
}

/// `<location>:<notificationId>`.
pub fn msg_id_for(location: &str, notification_id: &str) -> String {
    format!("{location}:{notification_id}")
}

/// Wraps a notification in its CloudEvent, received at `time`.
pub fn to_event(n: &Notification, time: DateTime<Utc>) -> CloudEvent<serde_json::Value> {
    let meta = n.meta();
    CloudEvent::new(
        msg_id_for(&meta.location, &meta.notification_id),
        &meta.location,
        n.event_type(),
        time,
        n.subject(),
        n.data_json(),
    )
}

/// The subject, id and bytes to publish for a notification received at `time`.
///
/// # Errors
/// When the event cannot be serialised (not expected: it holds strings and JSON values); the
/// caller refuses the notification so that Apple sends it again, rather than storing empty bytes.
pub fn outgoing(n: &Notification, time: DateTime<Utc>) -> Result<Outgoing, serde_json::Error> {
    let meta = n.meta();
    let event = to_event(n, time);
    let payload = serde_json::to_vec(&event)?;
    Ok(Outgoing {
        subject: subject_for(&meta.location, n.kind()),
        msg_id: msg_id_for(&meta.location, &meta.notification_id),
        payload: Bytes::from(payload),
    })
}
