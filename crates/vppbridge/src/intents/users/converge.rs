//! The users converger of one location: a loop the worker spawns beside the asset converger,
//! woken by changes of the location's `vpp-desired-users` keys (once quiet for
//! [`QUIET`](crate::intents::converge::QUIET)) and every `[intents] interval_ms`.
//!
//! A pass: resolve the users in flight ([`outcome`](super::outcome)), decide
//! ([`plan::decide`]), record what is already so, then send `users/create|update|retire` in
//! batches of `maxUsers` through the location's one [`AppleClient`](apple_vpp::AppleClient)
//! (its rate limiter paces these with everything else of the location). Each user of a request
//! is recorded `submitted` with the request's id before the POST, and with Apple's `eventId`
//! after it, so a crash never forgets a request.

use std::sync::Arc;
use std::time::Duration;

use apple_vpp::AppleError;
use apple_vpp::types::{EventResponse, ManageUsersRequest};
use async_nats::jetstream;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::outcome::End;
use super::plan::{self, UserSnapshot};
use super::store::UserStore;
use crate::config::IntentsConfig;
use crate::events::intents::IntentState;
use crate::events::user_intents::{UserIntentRecord, UserOp};
use crate::intents::converge::drive;
use crate::location::{ErrorAction, Location};
use crate::view::keys::state_key;
use crate::view::state::SyncState;

/// One location's users converger.
pub struct UserConverger {
    pub(super) loc: Arc<Location>,
    pub(super) store: UserStore,
    pub(super) cfg: IntentsConfig,
}

/// Runs the location's users converger until `shutdown` (returns at once when `[intents]` is
/// off).
pub async fn run(
    loc: Arc<Location>,
    js: jetstream::Context,
    cfg: IntentsConfig,
    shutdown: CancellationToken,
) {
    if !cfg.enabled {
        return;
    }
    let store = match UserStore::open(&js).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(location = %loc.id, error = %format!("{e:#}"), "user intents: cannot open the buckets; the users converger does not run");
            return;
        }
    };
    let watch = match store.watch_desired(&loc.id).await {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(location = %loc.id, error = %format!("{e:#}"), "user intents: cannot watch vpp-desired-users; converging every interval only");
            None
        }
    };
    let interval = Duration::from_millis(cfg.interval_ms.max(50));
    let c = UserConverger { loc, store, cfg };
    let c = &c;
    drive(&c.loc, watch, interval, &shutdown, "user intents", || {
        c.pass()
    })
    .await;
}

impl UserConverger {
    /// One pass: resolve, decide, settle, send.
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn pass(&self) -> anyhow::Result<()> {
        let id = &self.loc.id;
        // Most deployments declare no users: then a pass is one stream-info request.
        if !self.store.any_desired().await? {
            return Ok(());
        }
        // Until the first full sync the view does not know Apple's users: planning then would
        // create users that exist (9716).
        let sync: Option<SyncState> = self
            .loc
            .applier
            .view()
            .state(&state_key(id, "sync")?)
            .await?;
        if sync.is_none_or(|s| s.last_full_sync.is_none()) {
            return Ok(());
        }
        if self.store.desired(id).await?.is_empty() {
            return Ok(());
        }
        let mut snap = self.store.snapshot(id).await?;
        if self.resolve_all(&snap).await? {
            snap = self.store.snapshot(id).await?;
        }
        if self.loc.paused().is_some() {
            return Ok(());
        }
        let decision = plan::decide(&snap);
        let settled = decision
            .settle
            .into_iter()
            .map(|k| (k, End::Applied))
            .collect();
        self.finish(&snap, settled, None).await?;
        if decision.send.is_empty() {
            return Ok(());
        }
        let client = self.loc.client();
        let limits = match client.refresh_limits().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(location = %id, error = %e, "user intents: cannot read Apple's limits; using the last known");
                client.limits()
            }
        };
        for (op, users) in decision.send {
            for (keys, request) in plan::batch(users, limits.max_users()) {
                if self.loc.paused().is_some() || !self.submit(&snap, op, keys, request).await? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The records of `keys` for a request of `op` (`submitted`, `event_id` once known).
    fn submitted(
        snap: &UserSnapshot,
        keys: &[String],
        op: UserOp,
        request_id: &str,
        resp: Option<&EventResponse>,
    ) -> Vec<(String, UserIntentRecord)> {
        let now = Utc::now();
        keys.iter()
            .filter_map(|k| {
                let d = snap.desired.get(k)?;
                let old = snap.current(k);
                Some((
                    k.clone(),
                    UserIntentRecord {
                        desired_revision: d.revision,
                        desired: d.value.desired,
                        state: IntentState::Submitted,
                        op: Some(op),
                        request_id: Some(request_id.to_owned()),
                        event_id: resp.map(|r| r.event_id.clone()),
                        error_number: None,
                        error_message: None,
                        attempts: old.map_or(0, |r| r.attempts) + 1,
                        managed_apple_id: snap
                            .records
                            .get(k)
                            .and_then(|r| r.managed_apple_id.clone()),
                        apple_active: snap.records.get(k).and_then(|r| r.apple_active),
                        created_at: Some(now),
                        submitted_at: resp.map(|_| now),
                        polled_at: None,
                        updated_at: now,
                    },
                ))
            })
            .collect()
    }

    /// Sends one request; returns false when the pass should stop (paused, Apple unavailable).
    async fn submit(
        &self,
        snap: &UserSnapshot,
        op: UserOp,
        keys: Vec<String>,
        request: ManageUsersRequest,
    ) -> anyhow::Result<bool> {
        let id = &self.loc.id;
        let request_id = uuid::Uuid::new_v4().to_string();
        // Recorded before the POST: a crash between the two is found (no eventId) and checked
        // against the view before anything is sent again.
        let before = Self::submitted(snap, &keys, op, &request_id, None);
        self.store.put_records(before).await?;
        match self.post(op, &request).await {
            Ok(resp) => {
                self.loc.note_common(&resp.common).await;
                let recs = Self::submitted(snap, &keys, op, &request_id, Some(&resp));
                self.store.put_records(recs).await?;
                tracing::info!(location = %id, request_id, event_id = %resp.event_id, op = op.as_str(), users = request.users.len(), "user intents: request submitted");
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(location = %id, op = op.as_str(), users = keys.len(), error = %e, "user intents: request refused");
                if let AppleError::Validation {
                    error_number,
                    message,
                    ..
                } = &e
                {
                    let ends = keys
                        .into_iter()
                        .map(|k| (k, End::Error(*error_number, message.clone())))
                        .collect();
                    self.finish(snap, ends, None).await?;
                    return Ok(true);
                }
                let ends = match self.loc.classify(&e).await {
                    // Transient after the client's own retries: counts as an attempt.
                    ErrorAction::Retry { .. } => keys
                        .into_iter()
                        .map(|k| (k, End::Error(9603, e.to_string())))
                        .collect(),
                    ErrorAction::Hold | ErrorAction::Skip => {
                        keys.into_iter().map(|k| (k, End::Unsent(None))).collect()
                    }
                };
                self.finish(snap, ends, None).await?;
                Ok(false)
            }
        }
    }

    /// `POST users/create|update|retire`.
    pub(super) async fn post(
        &self,
        op: UserOp,
        request: &ManageUsersRequest,
    ) -> Result<EventResponse, AppleError> {
        let client = self.loc.client();
        match op {
            UserOp::Create => client.create_users(request).await,
            UserOp::Update => client.update_users(request).await,
            UserOp::Retire => client.retire_users(request).await,
        }
    }
}
