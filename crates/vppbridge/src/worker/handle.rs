//! One message → one [`Verdict`]: parse the event, plan with [`crate::reconcile::plan`], apply
//! the delta at once, report failures, then wait for the coalesced verification.
//!
//! Acknowledgement policy: a message is acknowledged only once its delta AND the verification it
//! triggered are durable in the view (the handler waits for the verifier's answer, sending
//! in-progress acks meanwhile). A crash at any point leaves the message unacknowledged, so it is
//! redelivered and redone; redoing is free because applying is idempotent (a count delta is
//! recorded as applied with the counts it changed, so it is added once per notification) and
//! change events have deterministic ids. Nothing about pending verifications needs to be stored
//! elsewhere.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Shared;
use super::verdict::Verdict;
use crate::changes::{DeltaOutcome, stable_id};
use crate::events::CloudEvent;
use crate::events::changes::{AssignmentFailedData, Cause, ChangeKind};
use crate::events::notification::{AssignmentRef, Notification};
use crate::location::{ErrorAction, Location};
use crate::reconcile::{self, Plan, user_value};
use crate::verify::{VerifyOutcome, parts};

/// The notification id of a cause (its label when it has none).
fn cause_id(cause: &Cause) -> String {
    cause
        .notification_id
        .clone()
        .unwrap_or_else(|| cause.label())
}
use crate::view::Bucket;
use crate::view::keys::{asset_key, assignment_key, user_key};

/// What one reconciliation did, for its log line (sent back by the owner when it handled the
/// message for another worker).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// The location (`unknown` until parsed).
    pub location: String,
    /// Apple's notification id.
    pub notification_id: String,
    /// The lower snake case type.
    pub kind: String,
    /// The assets concerned.
    pub adam_ids: BTreeSet<String>,
    /// Apple requests made by the verification(s) it waited for.
    pub apple_calls: u32,
    /// View keys changed.
    pub changes: usize,
}

fn retry(reason: impl std::fmt::Display) -> Verdict {
    Verdict::Retry {
        reason: reason.to_string(),
        after: None,
    }
}

/// Handles one message's body (at the location's owner, or for an unconfigured location).
pub async fn handle(shared: &Shared, payload: &[u8], report: &mut Report) -> Verdict {
    let event: CloudEvent<serde_json::Value> = match serde_json::from_slice(payload) {
        Ok(e) => e,
        Err(e) => {
            return Verdict::Terminate {
                reason: format!("not a CloudEvents JSON notification event: {e}"),
            };
        }
    };
    let n = match Notification::from_event(&event.event_type, event.data) {
        Ok(n) => n,
        Err(reason) => return Verdict::Terminate { reason },
    };
    let meta = n.meta().clone();
    report.location = meta.location.clone();
    report.notification_id = meta.notification_id.clone();
    report.kind = n.kind().to_owned();
    let Some(loc) = shared.locations.get(&meta.location) else {
        return Verdict::Terminate {
            reason: format!(
                "location `{}` is not in the configuration; add it to [[locations]]",
                meta.location
            ),
        };
    };
    let plan = reconcile::plan(&n);
    if let Some(why) = plan.ignored {
        tracing::info!(location = %loc.id, notification_id = %meta.notification_id, kind = n.kind(), "acknowledged without changes: {why}");
        return Verdict::Ack;
    }
    if loc.paused().is_some() {
        return Verdict::Hold;
    }
    report.adam_ids = plan.verify.keys().map(|a| a.adam_id.clone()).collect();
    let cause = Cause::notification(meta.notification_id.clone());
    // The verifier runs only while this worker owns the location.
    let Some(verifier) = shared.verifier(&loc.id) else {
        return Verdict::NoOwner {
            reason: format!("this worker does not own location `{}` (any more)", loc.id),
        };
    };
    // Announce first, so the verification of these assets waits for this delta.
    for (asset, req) in &plan.verify {
        for part in parts(req) {
            verifier.announce(asset.clone(), part);
        }
    }
    let applied = match apply_delta(loc, &plan, &cause, report).await {
        Ok(()) => report_failures(shared, loc, &plan, &cause).await,
        Err(v) => Err(v),
    };
    if let Err(v) = applied {
        for (asset, req) in &plan.verify {
            for part in parts(req) {
                verifier.withdraw(asset.clone(), part);
            }
        }
        return v;
    }
    let waits: Vec<_> = plan
        .verify
        .into_iter()
        .flat_map(|(asset, req)| {
            parts(&req)
                .into_iter()
                .map(|part| verifier.request(asset.clone(), part, req.clone(), cause.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut verdict = Verdict::Ack;
    for w in waits {
        match w.await {
            Ok(VerifyOutcome::Done {
                apple_calls,
                changes,
            }) => {
                report.apple_calls += apple_calls;
                report.changes += changes;
            }
            Ok(VerifyOutcome::Failed { action, reason }) => {
                verdict = match action {
                    ErrorAction::Hold => Verdict::Hold,
                    ErrorAction::Skip => continue,
                    ErrorAction::Retry { after } => Verdict::Retry { reason, after },
                }
            }
            Err(_) => verdict = retry("the verifier stopped (shutting down or ownership lost)"),
        }
    }
    // A verification cut short because this worker stopped owning the location (even if it
    // owns it again by now) waits for the owner: it is no failure of the message.
    if matches!(verdict, Verdict::Retry { .. })
        && verifier.is_stopped()
        && !shared.shutdown.is_cancelled()
    {
        return Verdict::NoOwner {
            reason: format!(
                "the ownership of location `{}` changed during the verification",
                loc.id
            ),
        };
    }
    verdict
}

async fn apply_delta(
    loc: &Arc<Location>,
    plan: &Plan,
    cause: &Cause,
    report: &mut Report,
) -> Result<(), Verdict> {
    let applier = &loc.applier;
    let mut writes: Vec<(String, Option<AssignmentRef>)> = Vec::new();
    for (a, present) in &plan.assignments {
        let key = assignment_key(&loc.id, a).map_err(|e| Verdict::Terminate {
            reason: e.to_string(),
        })?;
        writes.push((key, present.then(|| a.clone())));
    }
    report.changes += applier
        .apply_many(&loc.id, Bucket::Assignments, writes, cause)
        .await
        .map_err(retry)?;
    if let Some((asset, delta)) = &plan.count_delta {
        let key = asset_key(&loc.id, &asset.adam_id, &asset.pricing_param).map_err(|e| {
            Verdict::Terminate {
                reason: e.to_string(),
            }
        })?;
        // Once per notification, whatever the redeliveries: the applied id is written with the
        // counts. An asset the view does not know yet is left to the verification.
        let outcome = applier
            .apply_count_delta(&loc.id, &key, &cause_id(cause), *delta, cause)
            .await
            .map_err(retry)?;
        report.changes += usize::from(outcome == DeltaOutcome::Applied);
    }
    let mut users = Vec::new();
    for u in &plan.users {
        let key = user_key(&loc.id, &u.client_user_id).map_err(|e| Verdict::Terminate {
            reason: e.to_string(),
        })?;
        users.push((key, user_value(u, loc.users_active_only)));
    }
    report.changes += applier
        .apply_many(&loc.id, Bucket::Users, users, cause)
        .await
        .map_err(retry)?;
    Ok(())
}

async fn report_failures(
    shared: &Shared,
    loc: &Arc<Location>,
    plan: &Plan,
    cause: &Cause,
) -> Result<(), Verdict> {
    for f in &plan.failures {
        let key = assignment_key(&loc.id, &f.assignment).map_err(|e| Verdict::Terminate {
            reason: e.to_string(),
        })?;
        let current: Option<AssignmentRef> = loc
            .applier
            .view()
            .read(Bucket::Assignments, &key)
            .await
            .map_err(retry)?
            .value
            .and_then(|b| serde_json::from_slice(&b).ok());
        let data = AssignmentFailedData {
            location: loc.id.clone(),
            key: key.clone(),
            old: current.clone(),
            new: current,
            assignment: f.assignment.clone(),
            action: f.action,
            event_id: f.event_id.clone(),
            error: f.error.clone(),
            cause: cause.clone(),
        };
        let id = stable_id(&[&loc.id, "failed", &key, &cause.label()]);
        shared
            .publisher
            .change(&loc.id, ChangeKind::AssignmentFailed, &id, Some(key), data)
            .await
            .map_err(retry)?;
    }
    Ok(())
}
