//! The verdict on one message, and the one place it becomes an acknowledgement.
//!
//! Two retry layers meet here: the Apple client's short in-process retries have already run
//! when a verdict says `Retry`; `Retry` then asks JetStream to redeliver after the configured
//! backoff (nak with delay). After the last delivery the message is dead-lettered on
//! `vpp.dlq.<location>` and terminated. `Hold` (paused location) naks with the hold delay and,
//! on the last delivery, *moves* the message to the end of the stream instead of dead-lettering
//! it: a copy is published (same subject, headers and body) and the original is deleted from
//! `VPP_NOTIFICATIONS`, so however many hold cycles a pause lasts, each held notification is
//! stored once (a crash between the two leaves one extra copy, which the next cycle moves too).
//! `NoOwner` (no worker owns the location yet, or it is being handed over) is treated like
//! `Hold` with a short delay: waiting for an owner never dead-letters a message.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, Message};

use crate::changes::{ChangePublisher, DeadLetter};
use crate::config::WorkerConfig;

/// How long a message whose location has no owner waits before it is offered again.
pub const NO_OWNER_DELAY: Duration = Duration::from_secs(1);

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    /// Its effects are durable: acknowledge.
    Ack,
    /// Try again later (after `after`, else the configured backoff for this delivery).
    Retry {
        /// Why, for the log and the dead letter.
        reason: String,
        /// Apple's `Retry-After`, when it gave one.
        after: Option<Duration>,
    },
    /// It can never succeed: dead-letter and terminate.
    Terminate {
        /// Why.
        reason: String,
    },
    /// Its location is paused: keep it for later, never dead-letter it.
    Hold,
    /// No worker owns its location (yet): offer it again soon, never dead-letter it.
    NoOwner {
        /// Why, for the log.
        reason: String,
    },
}

impl Verdict {
    /// The outcome label of the reconciliation metric and log line.
    pub fn outcome(&self) -> &'static str {
        match self {
            Verdict::Ack => "ok",
            Verdict::Retry { .. } => "retry",
            Verdict::Terminate { .. } => "dead_lettered",
            Verdict::Hold => "held",
            Verdict::NoOwner { .. } => "waiting_owner",
        }
    }
}

/// The redelivery delay for a message delivered `delivered` times (1-based): the configured
/// backoff for that delivery, the last one repeating.
pub fn backoff_delay(config: &WorkerConfig, delivered: i64) -> Duration {
    let i = usize::try_from(delivered.max(1) - 1).unwrap_or(0);
    let secs = config
        .backoff_secs
        .get(i)
        .or(config.backoff_secs.last())
        .copied()
        .unwrap_or(1);
    Duration::from_secs(secs)
}

/// Carries the verdict out on the message. Returns the outcome label actually applied (a
/// `Retry` on the last delivery becomes `dead_lettered`).
///
/// # Errors
/// When the acknowledgement, the dead letter or the re-publish cannot be sent (the message is
/// then redelivered after `ack_wait`, which is safe: handling is idempotent).
pub async fn settle(
    msg: &Message,
    verdict: Verdict,
    location: &str,
    config: &WorkerConfig,
    publisher: &ChangePublisher,
    js: &jetstream::Context,
) -> Result<&'static str, async_nats::Error> {
    let info = msg.info()?;
    let delivered = info.delivered;
    let last = config.max_deliver > 0 && delivered >= config.max_deliver;
    let seq = info.stream_sequence;
    match verdict {
        Verdict::Ack => {
            msg.double_ack().await?;
            Ok("ok")
        }
        Verdict::Retry { reason, .. } if last => {
            dead_letter(msg, location, &reason, delivered, seq, publisher).await?;
            msg.ack_with(AckKind::Term).await?;
            Ok("dead_lettered")
        }
        Verdict::Retry { after, .. } => {
            let delay = after
                .unwrap_or_default()
                .max(backoff_delay(config, delivered));
            msg.ack_with(AckKind::Nak(Some(delay))).await?;
            Ok("retry")
        }
        Verdict::Terminate { reason } => {
            dead_letter(msg, location, &reason, delivered, seq, publisher).await?;
            msg.ack_with(AckKind::Term).await?;
            Ok("dead_lettered")
        }
        Verdict::Hold | Verdict::NoOwner { .. } if last => {
            // Out of deliveries while paused: a copy goes back on the stream (same subject and
            // body, a new message id so the duplicate window keeps it), and the original is
            // removed, so the stream does not grow by a copy per cycle.
            let mut headers = HeaderMap::new();
            if let Some(h) = msg.headers.as_ref() {
                for (k, vs) in h.iter() {
                    let name: &str = k.as_ref();
                    if name != "Nats-Msg-Id" {
                        for v in vs {
                            headers.append(name, v.as_str());
                        }
                    }
                }
            }
            headers.insert("Nats-Msg-Id", format!("held:{location}:{seq}").as_str());
            js.publish_with_headers(msg.subject.clone(), headers, msg.payload.clone())
                .await?
                .await?;
            msg.ack_with(AckKind::Term).await?;
            js.get_stream_no_info(crate::nats::NOTIFICATIONS_STREAM)
                .await?
                .delete_message(seq)
                .await?;
            Ok(verdict.outcome())
        }
        Verdict::NoOwner { .. } => {
            msg.ack_with(AckKind::Nak(Some(NO_OWNER_DELAY))).await?;
            Ok("waiting_owner")
        }
        Verdict::Hold => {
            let delay = Duration::from_millis(config.hold_delay_ms);
            msg.ack_with(AckKind::Nak(Some(delay))).await?;
            Ok("held")
        }
    }
}

async fn dead_letter(
    msg: &Message,
    location: &str,
    reason: &str,
    delivered: i64,
    seq: u64,
    publisher: &ChangePublisher,
) -> Result<(), async_nats::Error> {
    let event = serde_json::from_slice(&msg.payload).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&msg.payload).into_owned())
    });
    let letter = DeadLetter {
        error: reason.to_owned(),
        deliveries: delivered,
        stream_sequence: seq,
        subject: msg.subject.to_string(),
        event,
    };
    tracing::error!(
        location,
        stream_sequence = seq,
        deliveries = delivered,
        error = reason,
        "message dead-lettered on vpp.dlq.{location}"
    );
    publisher.dead_letter(location, &letter).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_follows_the_delivery_count_and_repeats_its_last_step() {
        let c = WorkerConfig {
            backoff_secs: vec![1, 5, 30],
            ..Default::default()
        };
        let d: Vec<u64> = (1..=5).map(|n| backoff_delay(&c, n).as_secs()).collect();
        assert_eq!(d, vec![1, 5, 30, 30, 30]);
    }
}
