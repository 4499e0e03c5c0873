//! Publication of the receiver's events: the [`NotificationPublisher`] trait the HTTP layer talks
//! to and its JetStream implementation ([`JetStreamPublisher`]). Router tests use the in-memory
//! one of the `vppbridge-testkit` crate.
//!
//! Not to be confused with [`crate::changes::ChangePublisher`], which publishes the worker's and
//! the sync's change, alert and dead-letter events.
//!
//! A publish succeeds only once the store has acknowledged it; a duplicate acknowledgement
//! (the `Nats-Msg-Id` was seen inside the stream's duplicate window) is a success too. Must not
//! know about HTTP.

mod jetstream;

use bytes::Bytes;
use futures::future::BoxFuture;

pub use jetstream::JetStreamPublisher;

/// The store's answer to a successful publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The message id was already stored: nothing new was written.
    pub duplicate: bool,
}

/// Why a notification's publish is not known to be stored. Every variant means "tell the sender
/// to retry".
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotificationPublishError {
    /// No connection to NATS right now.
    #[error("NATS is not connected ({0}); the client keeps reconnecting")]
    Disconnected(String),
    /// The acknowledgement did not arrive in time.
    #[error(
        "no JetStream acknowledgement within {0:?}; is the VPP_NOTIFICATIONS stream available?"
    )]
    Timeout(std::time::Duration),
    /// NATS refused or lost the publish (no stream for the subject, stream error, ...).
    #[error("JetStream publish failed: {0}")]
    Failed(String),
}

/// Where the receiver stores notifications. Object safe, so the router holds an
/// `Arc<dyn NotificationPublisher>`.
pub trait NotificationPublisher: Send + Sync + 'static {
    /// Publishes `payload` on `subject` with `Nats-Msg-Id` = `msg_id` and waits for the store's
    /// acknowledgement.
    fn publish(
        &self,
        subject: String,
        msg_id: String,
        payload: Bytes,
    ) -> BoxFuture<'_, Result<Published, NotificationPublishError>>;

    /// Whether publishing can work now (connected, streams present); the reason when not.
    fn ready(&self) -> BoxFuture<'_, Result<(), String>>;
}
