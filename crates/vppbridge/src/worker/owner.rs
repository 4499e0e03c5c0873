//! Work that must happen at a location's owner (see [`crate::ownership`]).
//!
//! - [`start`]: on acquiring a location, this worker starts its verifier, sync schedule,
//!   converger and the responder on `vppbridge.owner.<location>.handle`; all of them stop when
//!   the ownership token is cancelled (release, loss, shutdown).
//! - [`route`]: the shared durable consumer hands any message to any worker. The owner handles
//!   it itself; any other worker sends the message body to the owner by request/reply and
//!   settles the message with the owner's verdict, sending in-progress acks meanwhile. With no
//!   owner yet (or one that does not answer: dead, not yet subscribed) it waits for one, up to
//!   two lease TTLs, then naks with [`Verdict::NoOwner`], which never dead-letters.
//!
//! Forwarding the whole handling (not only the verification) keeps every Apple read, the
//! announce-before-delta ordering of the verifier and the coalescing window in one process.

use std::sync::Arc;
use std::time::Duration;

use async_nats::RequestErrorKind;
use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::handle::{self, Report};
use super::verdict::Verdict;
use crate::verify::Verifier;

/// The subject the owner of `location` answers handling requests on.
pub fn owner_subject(location: &str) -> String {
    format!("vppbridge.owner.{location}.handle")
}

/// The owner's answer.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Answer {
    verdict: Verdict,
    report: Report,
}

/// Starts the owner's work for `location` until `token` is cancelled.
pub fn start(shared: &Arc<Shared>, location: &str, token: CancellationToken) {
    let Some(loc) = shared.locations.get(location).cloned() else {
        return;
    };
    let window = Duration::from_millis(shared.config.worker.coalesce_window_ms);
    let verifier = Verifier::spawn(loc.clone(), window, token.clone());
    shared
        .verifiers
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(location.to_owned(), (verifier.clone(), token.clone()));
    let until = |t: CancellationToken, work| async move {
        // Dropping the work on cancellation stops an Apple call of a sync or a converger pass
        // as soon as the location is no longer ours.
        tokio::select! {
            _ = t.cancelled() => {}
            _ = work => {}
        }
    };
    tokio::spawn(until(
        token.clone(),
        Box::pin(crate::intents::converge::run(
            loc.clone(),
            Some(verifier),
            shared.js.clone(),
            shared.config.intents.clone(),
            token.clone(),
        )) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ));
    tokio::spawn(until(
        token.clone(),
        Box::pin(crate::intents::users::converge::run(
            loc.clone(),
            shared.js.clone(),
            shared.config.intents.clone(),
            token.clone(),
        )),
    ));
    // `vppbridge revoke` is answered by the owner: its one client, its one budget.
    tokio::spawn(until(
        token.clone(),
        Box::pin(crate::intents::revoke::serve(
            loc.clone(),
            shared.client.clone(),
            token.clone(),
        )),
    ));
    tokio::spawn(until(
        token.clone(),
        Box::pin(crate::sync::schedule(
            loc,
            shared.config.sync.clone(),
            token.clone(),
        )),
    ));
    tokio::spawn(respond(shared.clone(), location.to_owned(), token));
}

/// Answers other workers' handling requests for `location` while this worker owns it.
async fn respond(shared: Arc<Shared>, location: String, token: CancellationToken) {
    let mut sub = match shared.client.subscribe(owner_subject(&location)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(location = %location, error = %e, "cannot subscribe to the owner's subject; other workers' messages for this location wait");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            m = sub.next() => match m {
                Some(m) => {
                    tokio::spawn(answer(shared.clone(), token.clone(), m));
                }
                None => break,
            },
        }
    }
    let _ = sub.unsubscribe().await;
}

async fn answer(shared: Arc<Shared>, token: CancellationToken, m: async_nats::Message) {
    let Some(reply) = m.reply else { return };
    let mut report = Report::default();
    let mut verdict = handle::handle(&shared, &m.payload, &mut report).await;
    if token.is_cancelled() && matches!(verdict, Verdict::Retry { .. }) {
        verdict = Verdict::NoOwner {
            reason: "the owner gave the location up while handling it".into(),
        };
    }
    let body = match serde_json::to_vec(&Answer { verdict, report }) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the owner's answer");
            return;
        }
    };
    if let Err(e) = shared.client.publish(reply, body.into()).await {
        tracing::warn!(error = %e, "cannot answer a handling request; the requester retries");
    }
}

/// Handles the message body `payload` of `location` here when this worker owns it (or the
/// location is not configured: nothing to own), else at its owner.
pub async fn route(
    shared: &Shared,
    location: &str,
    payload: &[u8],
    report: &mut Report,
) -> Verdict {
    let beat = shared.ownership.heartbeat();
    let ttl = Duration::from_secs(shared.config.cluster.lease_ttl_secs.max(1));
    let limit = Duration::from_secs(shared.config.worker.max_processing_secs.max(2) / 2);
    let deadline = Instant::now() + (ttl * 2 + beat * 2).min(limit);
    let request_timeout = Duration::from_secs(shared.config.worker.max_processing_secs.max(1));
    loop {
        if !shared.locations.contains_key(location) || shared.ownership.is_owner(location) {
            return local(shared, location, payload, report).await;
        }
        if shared.shutdown.is_cancelled() {
            return Verdict::Retry {
                reason: "shutting down while waiting for the location's owner".into(),
                after: None,
            };
        }
        if let Some(owner) = shared.ownership.owner_of(location) {
            let request = async_nats::Request::new()
                .payload(payload.to_vec().into())
                .timeout(Some(request_timeout));
            let sent = shared.client.send_request(owner_subject(location), request);
            tokio::pin!(sent);
            // Ask again when the lease moves: a dead owner never answers.
            let answer = loop {
                tokio::select! {
                    r = &mut sent => break Some(r),
                    _ = tokio::time::sleep(beat) => {
                        if shared.ownership.owner_of(location).as_deref() != Some(owner.as_str()) {
                            break None;
                        }
                    }
                }
            };
            match answer {
                None => continue,
                Some(Ok(reply)) => {
                    return match serde_json::from_slice::<Answer>(&reply.payload) {
                        Ok(a) => {
                            report.apple_calls += a.report.apple_calls;
                            report.changes += a.report.changes;
                            report.adam_ids.extend(a.report.adam_ids);
                            report.notification_id = a.report.notification_id;
                            a.verdict
                        }
                        Err(e) => Verdict::Retry {
                            reason: format!("the owner {owner} answered something unreadable: {e}"),
                            after: None,
                        },
                    };
                }
                Some(Err(e)) if e.kind() == RequestErrorKind::NoResponders => {}
                Some(Err(e)) => {
                    return Verdict::Retry {
                        reason: format!(
                            "the owner {owner} of location `{location}` did not answer: {e}"
                        ),
                        after: None,
                    };
                }
            }
        }
        if Instant::now() >= deadline {
            return Verdict::NoOwner {
                reason: format!("no worker owns location `{location}` yet"),
            };
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// Handles the message here; a retry because the ownership ended meanwhile waits for the new
/// owner instead of counting as a failure.
async fn local(shared: &Shared, location: &str, payload: &[u8], report: &mut Report) -> Verdict {
    let verdict = handle::handle(shared, payload, report).await;
    if matches!(verdict, Verdict::Retry { .. })
        && !shared.shutdown.is_cancelled()
        && shared.locations.contains_key(location)
        && !shared.ownership.is_owner(location)
    {
        return Verdict::NoOwner {
            reason: format!("location `{location}` moved to another worker while handled here"),
        };
    }
    verdict
}
