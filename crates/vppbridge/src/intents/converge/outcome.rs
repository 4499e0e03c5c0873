//! Outcomes: resolving an open request (the view, then Event Status by Apple's timing, a resend
//! after `resend_after_secs`), writing tracking records, and publishing the intent events.

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;

use super::Converger;
use crate::changes::stable_id;
use crate::events::CloudEvent;
use crate::events::intents::{IntentEventData, IntentOutcome, IntentRecord, IntentState, subject};
use crate::intents::plan::Snapshot;
use crate::intents::track::{ErrorKind, Phase, RequestRecord, failed_pairs, kind_of};
use crate::intents::{Action, Pair, Target};
use apple_vpp::AppleError;
use apple_vpp::types::EventStatus;

/// Apple's error for an `eventId` it does not know.
const UNKNOWN_EVENT: i32 = 9708;

/// How a key ends a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum End {
    /// Apple agrees with the desired value.
    Applied,
    /// Apple's error (number, message), classified by [`kind_of`].
    Error(i32, String),
    /// The request was refused before Apple took it (its POST failed): an error like
    /// [`End::Error`] that also counts as an attempt (no `submitted` record counted it).
    Refused(i32, String),
}

fn secs(n: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(n).unwrap_or(i64::MAX))
}

impl Converger {
    /// Whether `key` (carrying `desired`) is what the request carries now: its record names the
    /// request and the current desired revision (a newer desired value wins over the request).
    fn owns(snap: &Snapshot, key: &str, req: &RequestRecord) -> bool {
        match (snap.records.get(key), snap.desired.get(key)) {
            (Some(r), Some(d)) => {
                r.request_id.as_deref() == Some(req.id.as_str()) && r.desired_revision == d.revision
            }
            _ => false,
        }
    }

    /// Resolves one open request if its outcome is known; returns whether it was.
    pub(super) async fn resolve(
        &self,
        mut req: RequestRecord,
        snap: &Snapshot,
    ) -> anyhow::Result<bool> {
        let id = &self.loc.id;
        let keys = req.keys(id);
        let want = req.action == Action::Associate;
        if let Some(event_id) = req
            .event_id
            .clone()
            .filter(|_| req.phase == Phase::Submitted)
        {
            // Every pair named by the event's notifications (summed over its pieces).
            let pairs: Vec<Pair> = keys.iter().map(|(_, p)| p.clone()).collect();
            if let Some(outcomes) = self.notes.outcome(&event_id, &pairs) {
                let failed = outcomes.iter().filter(|e| **e != End::Applied).count();
                let ends = keys
                    .into_iter()
                    .zip(outcomes)
                    .filter(|((k, _), _)| Self::owns(snap, k, &req))
                    .map(|((k, _), end)| (k, end))
                    .collect();
                tracing::info!(location = %id, request_id = %req.id, event_id, failed, "intents: request resolved by its notifications");
                self.finish(snap, ends, Some(&event_id)).await?;
                self.store.delete_request(id, &req.id).await?;
                self.notes.forget(&event_id);
                return Ok(true);
            }
        }
        // Every pair done in the view (ASSET_MANAGEMENT notifications or a sync put it there):
        // the next decision records them applied.
        if keys.iter().all(|(k, _)| snap.actual.contains(k) == want) {
            self.store.delete_request(id, &req.id).await?;
            if let Some(e) = &req.event_id {
                self.notes.forget(e);
            }
            return Ok(true);
        }
        let now = Utc::now();
        let poll_after = secs(self.cfg.status_poll_after_secs);
        let Some(event_id) = req
            .event_id
            .clone()
            .filter(|_| req.phase == Phase::Submitted)
        else {
            // Recorded but the process stopped before learning the eventId: after the time a
            // notification would take, Apple's assignments of its assets are read into the
            // view (Event Status needs the eventId), and only the pairs Apple does not hold go
            // back to pending. Never sent again before that read.
            if now - req.created_at >= poll_after {
                if !self.check_at_apple(&req).await {
                    return Ok(false);
                }
                tracing::warn!(location = %id, request_id = %req.id, pairs = keys.len(), "intents: a request recorded before a crash has no eventId; Apple's assignments were read, the pairs it does not hold are planned again");
                self.store.delete_request(id, &req.id).await?;
                return Ok(true);
            }
            return Ok(false);
        };
        let since = req.submitted_at.unwrap_or(req.created_at);
        let polled_recently = req
            .polled_at
            .is_some_and(|p| now - p < secs(self.cfg.status_poll_interval_secs));
        if now - since < poll_after || polled_recently {
            return Ok(false);
        }
        let client = self.loc.client();
        let status = match client.event_status(&event_id).await {
            Ok(s) => s,
            Err(AppleError::Validation { error_number, .. }) if error_number == UNKNOWN_EVENT => {
                tracing::warn!(location = %id, request_id = %req.id, event_id, "intents: Apple does not know the event; its pairs are planned again");
                self.store.delete_request(id, &req.id).await?;
                return Ok(true);
            }
            Err(e) => {
                self.loc.classify(&e).await;
                tracing::warn!(location = %id, event_id, error = %e, "intents: Event Status failed; asking again later");
                return Ok(false);
            }
        };
        self.loc.note_common(&status.common).await;
        if status.event_status == EventStatus::Pending {
            if now - since >= secs(self.cfg.resend_after_secs) && !req.resent {
                match self.post(req.action, &req.request).await {
                    Ok(resp) => {
                        tracing::info!(location = %id, request_id = %req.id, old_event_id = %event_id, event_id = %resp.event_id, "intents: request PENDING past resend_after_secs: sent again");
                        req.event_id = Some(resp.event_id);
                        req.submitted_at = Some(now);
                        req.polled_at = None;
                        req.resent = true;
                        self.store.put_request(id, &req).await?;
                        self.mark_submitted(snap, &req, &keys).await?;
                    }
                    Err(e) => {
                        self.loc.classify(&e).await;
                        tracing::warn!(location = %id, request_id = %req.id, error = %e, "intents: resend failed; trying again later");
                    }
                }
            } else {
                req.polled_at = Some(now);
                self.store.put_request(id, &req).await?;
            }
            return Ok(false);
        }
        let pairs: Vec<Pair> = keys.iter().map(|(_, p)| p.clone()).collect();
        let failed = failed_pairs(&pairs, &status.failures);
        let ends = keys
            .into_iter()
            .filter(|(k, _)| Self::owns(snap, k, &req))
            .map(|(k, p)| match failed.get(&p) {
                Some((n, m)) => (k, End::Error(*n, m.clone())),
                None => (k, End::Applied),
            })
            .collect::<Vec<_>>();
        tracing::info!(location = %id, request_id = %req.id, event_id, status = ?status.event_status, failed = failed.len(), "intents: request resolved by Event Status");
        self.finish(snap, ends, Some(&event_id)).await?;
        // No notification brought the outcome: bring the view (and its change events) to
        // Apple's truth for these assets. A failed read is left to the next sync.
        self.check_at_apple(&req).await;
        self.store.delete_request(id, &req.id).await?;
        self.notes.forget(&event_id);
        Ok(true)
    }

    /// Records the keys of an accepted request as `submitted`.
    pub(super) async fn mark_submitted(
        &self,
        snap: &Snapshot,
        req: &RequestRecord,
        keys: &[(String, Pair)],
    ) -> anyhow::Result<()> {
        let now = Utc::now();
        let records = keys
            .iter()
            .filter_map(|(k, _)| {
                let d = snap.desired.get(k)?;
                let old = snap
                    .records
                    .get(k)
                    .filter(|r| r.desired_revision == d.revision);
                Some((
                    k.clone(),
                    IntentRecord {
                        desired_revision: d.revision,
                        desired: d.value.desired,
                        state: IntentState::Submitted,
                        request_id: Some(req.id.clone()),
                        event_id: req.event_id.clone(),
                        error_number: None,
                        error_message: None,
                        attempts: old.map_or(0, |r| r.attempts) + 1,
                        submitted_at: Some(old.and_then(|r| r.submitted_at).unwrap_or(now)),
                        asset_revision: None,
                        updated_at: now,
                    },
                ))
            })
            .collect();
        self.store.put_records(records).await
    }

    /// Records how keys ended and publishes the `applied`, `waiting` and `failed` events (once
    /// per state change). Keys no longer managed are left alone.
    pub(super) async fn finish(
        &self,
        snap: &Snapshot,
        ends: Vec<(String, End)>,
        event_id: Option<&str>,
    ) -> anyhow::Result<()> {
        let now = Utc::now();
        let mut records = Vec::new();
        let mut events = Vec::new();
        // One info line per pass with the outcomes by state; one debug line per key.
        let mut ended: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        let mut changed = std::collections::BTreeSet::new();
        for (key, end) in ends {
            let Some(d) = snap.desired.get(&key) else {
                continue;
            };
            let old = snap
                .records
                .get(&key)
                .filter(|r| r.desired_revision == d.revision);
            let refused = u32::from(matches!(end, End::Refused(..)));
            let attempts = old.map_or(0, |r| r.attempts) + refused;
            let (state, error) = match end {
                End::Applied => (IntentState::Applied, None),
                End::Error(n, m) | End::Refused(n, m) => {
                    let state = match kind_of(n) {
                        ErrorKind::NoLicenses => IntentState::Waiting,
                        ErrorKind::Transient if attempts < self.cfg.max_attempts => {
                            IntentState::Pending
                        }
                        _ => IntentState::Failed,
                    };
                    (state, Some((n, m)))
                }
            };
            let rec = IntentRecord {
                desired_revision: d.revision,
                desired: d.value.desired,
                state,
                request_id: None,
                event_id: event_id
                    .map(str::to_owned)
                    .or_else(|| old.and_then(|r| r.event_id.clone())),
                error_number: error.as_ref().map(|e| e.0),
                error_message: error.map(|e| e.1),
                attempts,
                submitted_at: old.and_then(|r| r.submitted_at),
                asset_revision: (state == IntentState::Waiting)
                    .then(|| {
                        let asset = (d.pair.adam_id.clone(), d.pair.pricing_param.clone());
                        snap.assets.get(&asset).map(|a| a.revision)
                    })
                    .flatten(),
                updated_at: now,
            };
            let outcome = match state {
                IntentState::Applied => Some(IntentOutcome::Applied),
                IntentState::Waiting => Some(IntentOutcome::Waiting),
                IntentState::Failed => Some(IntentOutcome::Failed),
                _ => None,
            };
            if let Some(o) = outcome
                && old.map(|r| r.state) != Some(state)
            {
                tracing::debug!(location = %self.loc.id, key, state = state.as_str(), event_id = rec.event_id.as_deref().unwrap_or(""), error_number = rec.error_number.unwrap_or(0), "intents: outcome");
                *ended.entry(state.as_str()).or_insert(0usize) += 1;
                changed.insert(key.clone());
                events.push((o, self.event_data(&key, &d.pair, d, &rec)));
            }
            records.push((key, rec));
        }
        // Events first: a record is written only once its event is stored, so an event that
        // could not be published is tried again at the next pass (its id makes it one message).
        if !ended.is_empty() {
            tracing::info!(location = %self.loc.id, outcomes = ?ended, "intents: outcomes");
        }
        let unpublished = self.publish(events).await;
        records.retain(|(k, _)| !unpublished.contains(k));
        // Counted once its event is stored (a key whose event failed is counted next pass).
        for (k, rec) in &records {
            if changed.contains(k) {
                self.report_outcome(rec, now);
            }
        }
        self.store.put_records(records).await?;
        Ok(())
    }

    fn event_data(
        &self,
        key: &str,
        pair: &Pair,
        d: &crate::intents::plan::DesiredEntry,
        rec: &IntentRecord,
    ) -> IntentEventData {
        let (serial_number, client_user_id) = match &pair.target {
            Target::Serial(s) => (Some(s.clone()), None),
            Target::User(u) => (None, Some(u.clone())),
        };
        IntentEventData {
            location: self.loc.id.clone(),
            key: key.to_owned(),
            adam_id: pair.adam_id.clone(),
            pricing_param: pair.pricing_param.clone(),
            serial_number,
            client_user_id,
            desired: d.value.desired,
            state: rec.state,
            metadata: d.value.metadata.clone(),
            event_id: rec.event_id.clone(),
            error_number: rec.error_number,
            error_message: rec.error_message.clone(),
            desired_revision: rec.desired_revision,
        }
    }

    /// Publishes intent events (deduplicated by a stable id: key, revision, state, eventId);
    /// returns the keys whose event JetStream did not store.
    async fn publish(
        &self,
        events: Vec<(IntentOutcome, IntentEventData)>,
    ) -> std::collections::BTreeSet<String> {
        let publisher = self.loc.applier.publisher().clone();
        let loc = self.loc.id.clone();
        let time: DateTime<Utc> = Utc::now();
        let failures = futures::stream::iter(events.into_iter().map(|(o, data)| {
            let publisher = publisher.clone();
            let loc = loc.clone();
            async move {
                let msg_id = stable_id(&[
                    &loc,
                    &data.key,
                    &data.desired_revision.to_string(),
                    data.state.as_str(),
                    data.event_id.as_deref().unwrap_or(""),
                ]);
                let event = CloudEvent::new(
                    msg_id.clone(),
                    &loc,
                    o.event_type(),
                    time,
                    Some(data.key.clone()),
                    data,
                );
                let key = event.data.key.clone();
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
            tracing::error!(location = %loc, failed = failures.len(), error = %e, "intents: cannot publish intent events; they are tried again at the next pass");
        }
        failures.into_iter().map(|(k, _)| k).collect()
    }
}
