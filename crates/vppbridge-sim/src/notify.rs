//! Notification delivery: Apple's envelope, the bearer secret, up to three attempts, and the
//! delivery faults (drop, duplicate, reorder, delay). Every attempt lands in the delivery log.
//!
//! Must not change location state; it only reads the destination captured at completion.

use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use serde_json::Value;

use super::faults::chance;
use super::server::{DeliveryRecord, Shared};
use super::state::Location;
use apple_vpp_types::{NotificationEnvelope, notification_type};

/// Longest a reordered notification waits for the next one to overtake it.
const MAX_HOLD: Duration = Duration::from_secs(1);

/// A notification to send: its type and payload (the envelope is added on sending).
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub notification_type: &'static str,
    pub payload: Value,
}

/// Where a location's notifications go.
#[derive(Clone)]
pub(crate) struct Destination {
    u_id: String,
    url: String,
    secret: String,
    subscribed: Vec<String>,
}

/// The location's notification destination, when one is configured.
pub(crate) fn destination(loc: &Location) -> Option<Destination> {
    Some(Destination {
        u_id: loc.u_id.clone(),
        url: loc.notification_url.clone()?,
        secret: loc.notification_auth_token.clone()?,
        subscribed: loc.subscribed.clone(),
    })
}

fn envelope(u_id: &str, out: Outgoing) -> NotificationEnvelope {
    NotificationEnvelope {
        notification: out.payload,
        notification_id: uuid::Uuid::new_v4().to_string(),
        notification_type: out.notification_type.to_owned(),
        u_id: u_id.to_owned(),
    }
}

/// One POST of `env`; logs it and says whether it was answered 2xx.
async fn attempt(
    sim: &Shared,
    url: &str,
    secret: &str,
    env: &NotificationEnvelope,
    n: u32,
) -> bool {
    let sent = sim
        .http
        .post(url)
        .header(header::AUTHORIZATION, format!("Bearer {secret}"))
        .json(env)
        .timeout(sim.config.notification_timeout)
        .send()
        .await;
    let status = sent.ok().map(|r| r.status());
    sim.log_delivery(DeliveryRecord {
        at_ms: sim.elapsed_ms(),
        notification_id: env.notification_id.clone(),
        notification_type: env.notification_type.clone(),
        attempt: n,
        status: status.map(|s| s.as_u16()),
        dropped: false,
    });
    status.is_some_and(|s| s.is_success())
}

/// Sends a TEST_NOTIFICATION once and says whether it was answered 2xx.
pub(crate) async fn test_notification(sim: &Shared, u_id: &str, url: &str, secret: &str) -> bool {
    let env = envelope(
        u_id,
        Outgoing {
            notification_type: notification_type::TEST_NOTIFICATION,
            payload: Value::Object(serde_json::Map::new()),
        },
    );
    attempt(sim, url, secret, &env, 1).await
}

/// Delivers `env`: the first attempt now, the retries in the background after their delays.
async fn deliver(sim: &Arc<Shared>, dest: &Destination, env: NotificationEnvelope) {
    if attempt(sim, &dest.url, &dest.secret, &env, 1).await {
        return;
    }
    let delays = sim.config.delivery_retry_delays.clone();
    if delays.is_empty() {
        return;
    }
    let (task_sim, dest) = (sim.clone(), dest.clone());
    sim.spawn(async move {
        for (n, delay) in (2u32..).zip(delays) {
            tokio::time::sleep(delay).await;
            if attempt(&task_sim, &dest.url, &dest.secret, &env, n).await {
                return;
            }
        }
    });
}

/// Sends `items` (the subscribed ones) to `dest` in order, in the background, applying the
/// delivery faults.
pub(crate) fn dispatch(sim: &Arc<Shared>, dest: Destination, items: Vec<Outgoing>) {
    let items: Vec<Outgoing> = items
        .into_iter()
        .filter(|o| dest.subscribed.iter().any(|s| s == o.notification_type))
        .collect();
    if items.is_empty() {
        return;
    }
    // The faults in force when the work completed apply to all of its notifications.
    let faults = sim.faults();
    let task_sim = sim.clone();
    sim.spawn(async move {
        let sim = task_sim;
        for out in items {
            let env = envelope(&dest.u_id, out);
            if faults.notification_delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(faults.notification_delay_ms)).await;
            }
            if chance(faults.drop_rate) {
                sim.log_delivery(DeliveryRecord {
                    at_ms: sim.elapsed_ms(),
                    notification_id: env.notification_id.clone(),
                    notification_type: env.notification_type.clone(),
                    attempt: 1,
                    status: None,
                    dropped: true,
                });
                continue;
            }
            if chance(faults.reorder_rate) {
                // Subscribing now marks the current count as seen, so the next send wakes it.
                let mut sent = sim.sent.subscribe();
                let (held_sim, held_dest) = (sim.clone(), dest.clone());
                sim.spawn(async move {
                    let _ = tokio::time::timeout(MAX_HOLD, sent.changed()).await;
                    deliver(&held_sim, &held_dest, env).await;
                });
                continue;
            }
            deliver(&sim, &dest, env.clone()).await;
            sim.sent.send_modify(|n| *n += 1);
            if chance(faults.duplicate_rate) {
                deliver(&sim, &dest, env).await;
            }
        }
    });
}

/// Sends one notification outside any event (ASSET_COUNT, USER_ASSOCIATED).
pub(crate) fn dispatch_one(sim: &Arc<Shared>, loc: &Location, out: Outgoing) {
    if let Some(dest) = destination(loc) {
        dispatch(sim, dest, vec![out]);
    }
}
