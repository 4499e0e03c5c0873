//! Change, alert and dead-letter events out, and the one place where a view write meets its
//! change event ([`Applier`]).
//!
//! Every change event carries a deterministic `Nats-Msg-Id`: a hash of the location, the bucket,
//! the key, the revision the change replaces and the new value. The same transition computed
//! twice (a redelivered notification after a crash, two workers verifying the same asset) gets
//! the same id, and `VPP_CHANGES`'s duplicate window stores it once. An event is published only
//! after its compare-and-set write went through ([`Applier`]); count deltas are applied once per
//! notification ([`Applier::apply_count_delta`]).
//!
//! Must not call Apple nor decide what changes (that is `reconcile`).

mod apply;
mod counts;

pub use apply::{Applier, ApplyError};
pub use counts::DeltaOutcome;

use async_nats::HeaderMap;
use async_nats::jetstream;
use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::events::CloudEvent;
use crate::events::alerts::{self, AlertData};
use crate::events::changes::{self, ChangeKind};
use crate::metrics::{Loc, LocKind, Metrics};

/// Publishing a change, alert or dead-letter event to JetStream failed.
#[derive(Debug, thiserror::Error)]
#[error(
    "publishing to {subject} failed: {detail}; is the stream for it created (`vppbridge nats setup`)?"
)]
pub struct ChangePublishError {
    /// The subject.
    pub subject: String,
    /// What NATS said.
    pub detail: String,
}

/// Publishes vppbridge's outgoing events (changes, alerts, dead letters) and waits for
/// JetStream's acknowledgement. The receiver's notifications go through
/// [`crate::publish::NotificationPublisher`] instead.
#[derive(Debug, Clone)]
pub struct ChangePublisher {
    js: jetstream::Context,
    metrics: Metrics,
}

/// A stable id from parts (hex SHA-256, 32 characters).
pub fn stable_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ChangePublisher {
    /// A publisher on this JetStream context.
    pub fn new(js: jetstream::Context, metrics: Metrics) -> Self {
        ChangePublisher { js, metrics }
    }

    /// Publishes `body` with `Nats-Msg-Id: msg_id`; returns whether JetStream stored it (false:
    /// a duplicate inside the window).
    ///
    /// # Errors
    /// When the publish or its acknowledgement fails.
    pub async fn publish_json<T: Serialize>(
        &self,
        subject: String,
        msg_id: &str,
        body: &T,
    ) -> Result<bool, ChangePublishError> {
        let err = |detail: String| ChangePublishError {
            subject: subject.clone(),
            detail,
        };
        let payload = serde_json::to_vec(body)
            .map_err(|e| err(format!("cannot serialise the event: {e}")))?;
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id);
        headers.insert("Content-Type", "application/cloudevents+json");
        let ack = self
            .js
            .publish_with_headers(subject.clone(), headers, payload.into())
            .await
            .map_err(|e| err(e.to_string()))?
            .await
            .map_err(|e| err(e.to_string()))?;
        Ok(!ack.duplicate)
    }

    /// Publishes one change event (id = `msg_id`) and counts it.
    ///
    /// # Errors
    /// When JetStream does not acknowledge it.
    pub async fn change<T: Serialize>(
        &self,
        location: &str,
        kind: ChangeKind,
        msg_id: &str,
        subject_attr: Option<String>,
        data: T,
    ) -> Result<(), ChangePublishError> {
        let event = CloudEvent::new(
            msg_id.to_owned(),
            location,
            kind.event_type().to_owned(),
            Utc::now(),
            subject_attr,
            data,
        );
        let stored = self
            .publish_json(changes::subject(location, kind), msg_id, &event)
            .await?;
        if stored {
            self.metrics
                .view_changes
                .get_or_create(&LocKind {
                    location: location.to_owned(),
                    kind: kind.subject_token().to_owned(),
                })
                .inc();
        }
        Ok(())
    }

    /// Publishes one alert event (`msg_id` makes repeats of the same alert one message).
    ///
    /// # Errors
    /// When JetStream does not acknowledge it.
    pub async fn alert(&self, msg_id: &str, data: AlertData) -> Result<(), ChangePublishError> {
        let location = data.location.clone();
        let kind = data.kind;
        let event = CloudEvent::new(
            msg_id.to_owned(),
            &location,
            kind.event_type(),
            Utc::now(),
            None,
            data,
        );
        if self
            .publish_json(alerts::subject(&location, kind), msg_id, &event)
            .await?
        {
            self.metrics
                .alerts
                .get_or_create(&LocKind {
                    location,
                    kind: kind.as_str().to_owned(),
                })
                .inc();
        }
        Ok(())
    }

    /// Dead-letters a message on `vpp.dlq.<location>` with its error, delivery count and the
    /// original event.
    ///
    /// # Errors
    /// When JetStream does not acknowledge it.
    pub async fn dead_letter(
        &self,
        location: &str,
        letter: &DeadLetter,
    ) -> Result<(), ChangePublishError> {
        let msg_id = format!("dlq:{}", letter.stream_sequence);
        if self
            .publish_json(format!("vpp.dlq.{location}"), &msg_id, letter)
            .await?
        {
            self.metrics
                .dlq_messages
                .get_or_create(&Loc {
                    location: location.to_owned(),
                })
                .inc();
        }
        Ok(())
    }
}

/// What `vpp.dlq.<location>` carries.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// Why it failed, last.
    pub error: String,
    /// How many times it was delivered.
    pub deliveries: i64,
    /// Its sequence in `VPP_NOTIFICATIONS`.
    pub stream_sequence: u64,
    /// Its subject.
    pub subject: String,
    /// The original event (JSON when it parses, else the text).
    pub event: serde_json::Value,
}
