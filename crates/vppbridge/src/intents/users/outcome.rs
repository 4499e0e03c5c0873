//! Outcomes of the users converger: resolving the users in flight (the view, then Event Status
//! by Apple's timing), writing their records, and publishing the user intent events.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;

use super::converge::UserConverger;
use super::plan::{UserSnapshot, carried_done, need};
use crate::changes::stable_id;
use crate::events::CloudEvent;
use crate::events::intents::{IntentState, subject};
use crate::events::user_intents::{
    UserDesired, UserIntentEventData, UserIntentOutcome, UserIntentRecord, UserOp,
};
use crate::intents::track::{ErrorKind, kind_of};
use apple_vpp::AppleError;
use apple_vpp::types::{ErrorResponse, EventStatus};

/// Apple's error for an `eventId` it does not know.
const UNKNOWN_EVENT: i32 = 9708;

/// How a key ends a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum End {
    /// Apple agrees with the desired value.
    Applied,
    /// Apple's error (number, message): `failed`, or `pending` again when transient and
    /// attempts are left.
    Error(i32, String),
    /// Not sent after all (location paused, request unknown to Apple, crash before its
    /// eventId), or done for an older desired value: `pending`, planned again; with whether
    /// the write that was done left the user active at Apple, when known.
    Unsent(Option<bool>),
}

fn secs(n: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The users `failures[]` names, each with its error; a failure naming no user concerns all.
pub fn failed_users(all: &[String], failures: &[ErrorResponse]) -> BTreeMap<String, (i32, String)> {
    let mut out = BTreeMap::new();
    for f in failures {
        let err = (f.error_number, f.error_message.clone());
        let named = f
            .error_info
            .as_ref()
            .map(|i| i.client_user_ids.clone())
            .unwrap_or_default();
        let ids: Vec<&String> = if named.is_empty() {
            all.iter().collect()
        } else {
            named.iter().filter(|u| all.contains(u)).collect()
        };
        for u in ids {
            out.entry(u.clone()).or_insert_with(|| err.clone());
        }
    }
    out
}

/// Whether a successful write of `op` leaves the user active at Apple.
fn left_active(op: Option<UserOp>) -> Option<bool> {
    match op? {
        UserOp::Create | UserOp::Update => Some(true),
        UserOp::Retire => Some(false),
    }
}

impl UserConverger {
    /// Whether the view already shows `key` as its request left it.
    fn done_in_view(snap: &UserSnapshot, key: &str, rec: &UserIntentRecord) -> bool {
        let Some(d) = snap.desired.get(key) else {
            return false;
        };
        if d.revision != rec.desired_revision {
            // Carried for an older desired value: done once the view shows that write.
            return carried_done(rec.op, snap.actual.get(key));
        }
        // The view does not show a managedAppleId: the one the request carried counts.
        let carried = UserIntentRecord {
            managed_apple_id: match rec.op {
                Some(UserOp::Create | UserOp::Update) => d.value.managed_apple_id.clone(),
                _ => rec.managed_apple_id.clone(),
            },
            ..rec.clone()
        };
        need(&d.value, snap.actual.get(key), Some(&carried)).is_none()
    }

    /// Resolves every request in flight whose outcome is known; returns whether one was.
    pub(super) async fn resolve_all(&self, snap: &UserSnapshot) -> anyhow::Result<bool> {
        let mut groups: BTreeMap<String, Vec<(String, UserIntentRecord)>> = BTreeMap::new();
        for (key, r) in &snap.records {
            // Requests carrying an older desired value are resolved too (then planned anew).
            if snap.desired.contains_key(key) && r.state == IntentState::Submitted {
                let rid = r.request_id.clone().unwrap_or_default();
                groups
                    .entry(rid)
                    .or_default()
                    .push((key.clone(), r.clone()));
            }
        }
        let mut resolved = false;
        for (request_id, recs) in groups {
            if self.loc.paused().is_some() {
                break;
            }
            resolved |= self.resolve(snap, &request_id, recs).await?;
        }
        Ok(resolved)
    }

    async fn resolve(
        &self,
        snap: &UserSnapshot,
        request_id: &str,
        recs: Vec<(String, UserIntentRecord)>,
    ) -> anyhow::Result<bool> {
        let id = &self.loc.id;
        let first = recs[0].1.clone();
        let event_id = first.event_id.clone();
        let stale = |k: &str, r: &UserIntentRecord| {
            snap.desired
                .get(k)
                .is_none_or(|d| d.revision != r.desired_revision)
        };
        if recs.iter().all(|(k, r)| Self::done_in_view(snap, k, r)) {
            let ends = recs
                .into_iter()
                .map(|(k, r)| {
                    let end = if stale(&k, &r) {
                        End::Unsent(left_active(r.op))
                    } else {
                        End::Applied
                    };
                    (k, end)
                })
                .collect();
            self.finish(snap, ends, event_id.as_deref()).await?;
            return Ok(true);
        }
        let now = Utc::now();
        let poll_after = secs(self.cfg.status_poll_after_secs);
        let Some(event_id) = event_id else {
            if first.created_at.is_none_or(|c| now - c >= poll_after) {
                tracing::warn!(location = %id, request_id, users = recs.len(), "user intents: a request recorded before a crash has no eventId; the users the view does not show done are planned again");
                let ends = recs
                    .into_iter()
                    .map(|(k, _)| (k, End::Unsent(None)))
                    .collect();
                self.finish(snap, ends, None).await?;
                return Ok(true);
            }
            return Ok(false);
        };
        let since = first.submitted_at.or(first.created_at).unwrap_or(now);
        let polled_recently = first
            .polled_at
            .is_some_and(|p| now - p < secs(self.cfg.status_poll_interval_secs));
        if now - since < poll_after || polled_recently {
            return Ok(false);
        }
        let status = match self.loc.client().event_status(&event_id).await {
            Ok(s) => s,
            Err(AppleError::Validation { error_number, .. }) if error_number == UNKNOWN_EVENT => {
                tracing::warn!(location = %id, request_id, event_id, "user intents: Apple does not know the event; its users are planned again");
                let ends = recs
                    .into_iter()
                    .map(|(k, _)| (k, End::Unsent(None)))
                    .collect();
                self.finish(snap, ends, None).await?;
                return Ok(true);
            }
            Err(e) => {
                self.loc.classify(&e).await;
                tracing::warn!(location = %id, event_id, error = %e, "user intents: Event Status failed; asking again later");
                return Ok(false);
            }
        };
        self.loc.note_common(&status.common).await;
        if status.event_status == EventStatus::Pending {
            let polled = recs
                .into_iter()
                .map(|(k, r)| {
                    let r = UserIntentRecord {
                        polled_at: Some(now),
                        ..r
                    };
                    (k, r)
                })
                .collect();
            self.store.put_records(polled).await?;
            return Ok(false);
        }
        let ids: Vec<String> = recs
            .iter()
            .filter_map(|(k, _)| snap.desired.get(k).map(|d| d.client_user_id.clone()))
            .collect();
        let failed = failed_users(&ids, &status.failures);
        let ends: Vec<(String, End)> = recs
            .into_iter()
            .map(|(k, r)| {
                let uid = snap.desired.get(&k).map(|d| d.client_user_id.as_str());
                let error = uid.and_then(|u| failed.get(u));
                if stale(&k, &r) {
                    // The outcome is about an older desired value: the current one is planned
                    // against the view.
                    let active = error.is_none().then(|| left_active(r.op)).flatten();
                    return (k, End::Unsent(active));
                }
                match error {
                    // A user Apple does not know is not active: what a retire wants.
                    Some((9609, _)) if r.op == Some(UserOp::Retire) => (k, End::Applied),
                    Some((n, m)) => (k, End::Error(*n, m.clone())),
                    None => (k, End::Applied),
                }
            })
            .collect();
        tracing::info!(location = %id, request_id, event_id, status = ?status.event_status, failed = failed.len(), "user intents: request resolved by Event Status");
        self.finish(snap, ends, Some(&event_id)).await?;
        Ok(true)
    }

    /// Records how keys ended and publishes the `applied` and `failed` events (once per state
    /// change). Keys no longer managed are left alone.
    pub(super) async fn finish(
        &self,
        snap: &UserSnapshot,
        ends: Vec<(String, End)>,
        event_id: Option<&str>,
    ) -> anyhow::Result<()> {
        let now = Utc::now();
        let mut records = Vec::new();
        let mut events = Vec::new();
        for (key, end) in ends {
            let Some(d) = snap.desired.get(&key) else {
                continue;
            };
            let old = snap.current(&key);
            let last = snap.records.get(&key);
            let attempts = old.map_or(0, |r| r.attempts);
            let done_active = match &end {
                End::Applied => Some(d.value.desired == UserDesired::Active),
                End::Unsent(a) => *a,
                End::Error(..) => None,
            };
            let (state, error) = match end {
                End::Applied => (IntentState::Applied, None),
                End::Unsent(_) => (IntentState::Pending, None),
                End::Error(n, m) => {
                    let state = match kind_of(n) {
                        ErrorKind::Transient if attempts < self.cfg.max_attempts => {
                            IntentState::Pending
                        }
                        _ => IntentState::Failed,
                    };
                    (state, Some((n, m)))
                }
            };
            let managed_apple_id = if state == IntentState::Applied {
                d.value
                    .managed_apple_id
                    .clone()
                    .or_else(|| last.and_then(|r| r.managed_apple_id.clone()))
            } else {
                last.and_then(|r| r.managed_apple_id.clone())
            };
            let apple_active = done_active.or_else(|| last.and_then(|r| r.apple_active));
            let rec = UserIntentRecord {
                desired_revision: d.revision,
                desired: d.value.desired,
                state,
                op: old.and_then(|r| r.op),
                request_id: None,
                event_id: event_id
                    .map(str::to_owned)
                    .or_else(|| old.and_then(|r| r.event_id.clone())),
                error_number: error.as_ref().map(|e| e.0),
                error_message: error.map(|e| e.1),
                attempts,
                managed_apple_id,
                apple_active,
                created_at: old.and_then(|r| r.created_at),
                submitted_at: old.and_then(|r| r.submitted_at),
                polled_at: None,
                updated_at: now,
            };
            let outcome = match state {
                IntentState::Applied => Some(UserIntentOutcome::Applied),
                IntentState::Failed => Some(UserIntentOutcome::Failed),
                _ => None,
            };
            if let Some(o) = outcome
                && old.map(|r| r.state) != Some(state)
            {
                tracing::info!(location = %self.loc.id, key, client_user_id = %d.client_user_id, state = state.as_str(), event_id = rec.event_id.as_deref().unwrap_or(""), error_number = rec.error_number.unwrap_or(0), "user intents: outcome");
                events.push((
                    o,
                    UserIntentEventData {
                        location: self.loc.id.clone(),
                        key: key.clone(),
                        client_user_id: d.client_user_id.clone(),
                        desired: d.value.desired,
                        state,
                        metadata: d.value.metadata.clone(),
                        event_id: rec.event_id.clone(),
                        error_number: rec.error_number,
                        error_message: rec.error_message.clone(),
                        desired_revision: d.revision,
                    },
                ));
            }
            records.push((key, rec));
        }
        // Events first: a record is written only once its event is stored, so an event that
        // could not be published is tried again at the next pass (its id makes it one message).
        let unpublished = self.publish(events).await;
        records.retain(|(k, _)| !unpublished.contains(k));
        self.store.put_records(records).await
    }

    /// Publishes user intent events (deduplicated by key, revision, state and eventId);
    /// returns the keys whose event JetStream did not store.
    async fn publish(
        &self,
        events: Vec<(UserIntentOutcome, UserIntentEventData)>,
    ) -> BTreeSet<String> {
        let publisher = self.loc.applier.publisher().clone();
        let loc = self.loc.id.clone();
        let time: DateTime<Utc> = Utc::now();
        let failures = futures::stream::iter(events.into_iter().map(|(o, data)| {
            let publisher = publisher.clone();
            let loc = loc.clone();
            async move {
                let msg_id = stable_id(&[
                    "user-intent",
                    &loc,
                    &data.key,
                    &data.desired_revision.to_string(),
                    data.state.as_str(),
                    data.event_id.as_deref().unwrap_or(""),
                ]);
                let key = data.key.clone();
                let event = CloudEvent::new(
                    msg_id.clone(),
                    &loc,
                    o.event_type(),
                    time,
                    Some(key.clone()),
                    data,
                );
                publisher
                    .publish_json(subject(&loc), &msg_id, &event)
                    .await
                    .err()
                    .map(|e| (key, e))
            }
        }))
        .buffer_unordered(128)
        .filter_map(|e| async move { e })
        .collect::<Vec<_>>()
        .await;
        if let Some((_, e)) = failures.first() {
            tracing::error!(location = %loc, failed = failures.len(), error = %e, "user intents: cannot publish events; they are tried again at the next pass");
        }
        failures.into_iter().map(|(k, _)| k).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apple_vpp::types::ResponseErrorInfo;

    #[test]
    fn failures_name_their_users_and_a_bare_failure_names_all() {
        let all = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let named = ErrorResponse {
            error_number: 9716,
            error_message: "exists".into(),
            error_info: Some(ResponseErrorInfo {
                client_user_ids: vec!["b".into(), "zz".into()],
                ..ResponseErrorInfo::default()
            }),
        };
        let f = failed_users(&all, std::slice::from_ref(&named));
        assert_eq!(f.keys().collect::<Vec<_>>(), vec!["b"]);
        assert_eq!(f["b"].0, 9716);
        let bare = ErrorResponse {
            error_info: None,
            error_number: 9641,
            ..named
        };
        assert_eq!(failed_users(&all, &[bare]).len(), 3);
    }
}
