//! The converger of one location: a loop the worker spawns per location, woken by changes of
//! the location's `vpp-desired` keys (once they have been quiet for [`QUIET`], so a file being
//! written becomes one plan, not hundreds) and every `[intents] interval_ms`.
//!
//! A pass: resolve the open requests ([`outcome`]), decide ([`plan::decide`]), record what is
//! settled without Apple, then send the rest in [`plan::batch`]es through the location's one
//! [`AppleClient`](apple_vpp::AppleClient), so its one rate limiter paces intents, verification
//! and sync together. A paused location sends nothing; an Apple error goes through
//! [`Location::classify`] like every other call.
//!
//! One converger per location: run intents in one worker process (`[intents] enabled = false`
//! in the others).

mod check;
mod notes;
mod outcome;
mod report;

use std::sync::Arc;
use std::time::Duration;

use apple_vpp::AppleError;
use apple_vpp::types::ManageAssetsRequest;
use async_nats::jetstream;
use chrono::Utc;
use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::plan::{self, Snapshot};
use super::store::Store;
use super::track::{Phase, RequestRecord};
use super::{Action, Pair};
use crate::config::IntentsConfig;
use crate::location::{ErrorAction, Location};
use crate::verify::Verifier;
use crate::view::keys::state_key;
use crate::view::state::SyncState;
use notes::Notes;
use outcome::End;

/// The error number recorded when Apple refused a write with HTTP 403 and no number (9637:
/// "operation not allowed").
const PERMISSION_ERROR: i32 = 9637;
/// Seconds before the oldest open request the notification reader starts.
const NOTES_MARGIN_SECS: i64 = 60;

/// How long the desired keys must be quiet before a change is planned.
pub const QUIET: Duration = Duration::from_millis(500);

/// One location's converger.
pub struct Converger {
    loc: Arc<Location>,
    /// The location's verifier: reads Apple's truth for an asset into the view, the status
    /// check of a request whose `eventId` was never learnt.
    verifier: Option<Verifier>,
    /// Outcomes heard in the location's ASSET_MANAGEMENT notifications.
    notes: Notes,
    store: Store,
    cfg: IntentsConfig,
}

/// Runs the location's converger until `shutdown` (returns at once when `[intents]` is off).
pub async fn run(
    loc: Arc<Location>,
    verifier: Option<Verifier>,
    js: jetstream::Context,
    cfg: IntentsConfig,
    shutdown: CancellationToken,
) {
    if !cfg.enabled {
        return;
    }
    let store = match Store::open(&js).await {
        Ok(s) => s.with_retry(super::plan::RetryDelay::from(&cfg)),
        Err(e) => {
            tracing::error!(location = %loc.id, error = %format!("{e:#}"), "intents: cannot open the buckets; the converger does not run");
            return;
        }
    };
    let watch = match store.watch_desired(&loc.id).await {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(location = %loc.id, error = %format!("{e:#}"), "intents: cannot watch vpp-desired; converging every interval only");
            None
        }
    };
    // The notifications of the open requests are in the stream: hear them again from the
    // oldest one's creation (a little earlier: the server's clock may differ from ours).
    let since = match store.requests(&loc.id).await {
        Ok(r) => r
            .iter()
            .map(|r| r.created_at)
            .min()
            .unwrap_or_else(Utc::now),
        Err(e) => {
            tracing::warn!(location = %loc.id, error = %format!("{e:#}"), "intents: cannot list the open requests; their notifications are not heard again (Event Status answers)");
            Utc::now()
        }
    } - chrono::TimeDelta::seconds(NOTES_MARGIN_SECS);
    let notes = Notes::spawn(js.clone(), loc.id.clone(), since, shutdown.clone());
    let interval = Duration::from_millis(cfg.interval_ms.max(50));
    let c = Converger {
        loc,
        verifier,
        notes,
        store,
        cfg,
    };
    let c = &c;
    drive(&c.loc, watch, interval, &shutdown, "intents", || c.pass()).await;
}

/// The loop of a converger: `pass` every `interval`, and once a burst of changes on `watch`
/// (the location's desired keys) has been quiet for [`QUIET`], so a file being written becomes
/// one plan, not hundreds. Never while the location is paused; until `shutdown`. `what` names
/// the converger in its log lines.
pub(crate) async fn drive<F, Fut>(
    loc: &Location,
    mut watch: Option<async_nats::jetstream::kv::Watch>,
    interval: Duration,
    shutdown: &CancellationToken,
    what: &str,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut last_change: Option<Instant> = None;
    loop {
        // Let a burst of desired writes finish before planning it.
        if let Some(at) = last_change {
            let left = QUIET.saturating_sub(at.elapsed());
            if !left.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(left) => {}
                    Some(_) = next(&mut watch) => last_change = Some(Instant::now()),
                }
                continue;
            }
        }
        last_change = None;
        if loc.paused().is_none()
            && let Err(e) = pass().await
        {
            tracing::warn!(location = %loc.id, error = %format!("{e:#}"), "{what}: pass failed; trying again");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
            Some(_) = next(&mut watch) => last_change = Some(Instant::now()),
        }
    }
}

/// The next change of the watch (never, without one).
async fn next(watch: &mut Option<async_nats::jetstream::kv::Watch>) -> Option<()> {
    match watch {
        Some(w) => w.next().await.map(|_| ()),
        None => std::future::pending().await,
    }
}

impl Converger {
    /// One pass: resolve, decide, settle, send.
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn pass(&self) -> anyhow::Result<()> {
        let id = &self.loc.id;
        // Until the first full sync the view knows neither what Apple holds nor which assets
        // are Books: planning then would send what is already done.
        let sync: Option<SyncState> = self
            .loc
            .applier
            .view()
            .state(&state_key(id, "sync")?)
            .await?;
        if sync.is_none_or(|s| s.last_full_sync.is_none()) {
            return Ok(());
        }
        let requests = self.store.requests(id).await?;
        // A location whose MDM declares nothing costs one empty listing per pass, not a read
        // of its whole view.
        if requests.is_empty() && self.store.desired(id).await?.is_empty() {
            self.report_states(&Snapshot::default());
            return Ok(());
        }
        let mut snap = self.store.snapshot(id, &requests).await?;
        let mut resolved = false;
        for r in requests {
            if self.loc.paused().is_some() {
                return Ok(());
            }
            resolved |= self.resolve(r, &snap).await?;
        }
        if resolved {
            let requests = self.store.requests(id).await?;
            snap = self.store.snapshot(id, &requests).await?;
        }
        self.report_states(&snap);
        let decision = plan::decide(&snap);
        let settled = decision
            .settle
            .into_iter()
            .map(|s| {
                let end = match s.error {
                    None => End::Applied,
                    Some((n, m)) => End::Error(n, m),
                };
                (s.key, end)
            })
            .collect();
        self.finish(&snap, settled, None).await?;
        if decision.send.is_empty() {
            return Ok(());
        }
        // The token may not write (read-only): what would be sent fails with Apple's refusal,
        // without asking again (the location warned once when Apple first refused).
        if let Some((n, message)) = self.loc.writes_refused() {
            let ends = decision
                .send
                .into_values()
                .flat_map(|list| list.into_iter().map(|(k, _)| k))
                .map(|k| (k, End::Error(n, message.clone())))
                .collect();
            return self.finish(&snap, ends, None).await;
        }
        let client = self.loc.client();
        let limits = match client.refresh_limits().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(location = %id, error = %e, "intents: cannot read Apple's limits; using the last known");
                client.limits()
            }
        };
        for (action, list) in decision.send {
            let pairs: Vec<Pair> = list.into_iter().map(|(_, p)| p).collect();
            for request in plan::batch(&pairs, &limits) {
                if self.loc.paused().is_some() || !self.submit(&snap, action, request).await? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Sends one request: recorded `submitting` first, then with Apple's `eventId`. Returns
    /// false when the pass should stop (location paused, Apple unavailable).
    async fn submit(
        &self,
        snap: &Snapshot,
        action: Action,
        request: ManageAssetsRequest,
    ) -> anyhow::Result<bool> {
        let id = &self.loc.id;
        let mut rec = RequestRecord::new(action, request);
        self.store.put_request(id, &rec).await?;
        let result = self.post(action, &rec.request).await;
        let keys = rec.keys(id);
        match result {
            Ok(resp) => {
                self.loc.note_common(&resp.common).await;
                rec.phase = Phase::Submitted;
                rec.event_id = Some(resp.event_id.clone());
                rec.submitted_at = Some(Utc::now());
                self.store.put_request(id, &rec).await?;
                tracing::info!(
                    location = %id,
                    request_id = %rec.id,
                    event_id = %resp.event_id,
                    action = action.as_str(),
                    assets = rec.request.assets.len(),
                    serial_numbers = rec.request.serial_numbers.len(),
                    client_user_ids = rec.request.client_user_ids.len(),
                    pairs = keys.len(),
                    "intents: request submitted"
                );
                self.mark_submitted(snap, &rec, &keys).await?;
                Ok(true)
            }
            Err(e) => {
                self.store.delete_request(id, &rec.id).await?;
                let keys = keys.into_iter().map(|(k, _)| k);
                if let AppleError::Permission { error_number, .. } = &e {
                    // Warned once by the location; never asked again with this token.
                    self.loc.classify(&e).await;
                    let n = error_number.unwrap_or(PERMISSION_ERROR);
                    self.loc.refuse_writes(n, e.to_string());
                    let ends = keys.map(|k| (k, End::Error(n, e.to_string()))).collect();
                    self.finish(snap, ends, None).await?;
                    return Ok(false);
                }
                tracing::warn!(location = %id, action = action.as_str(), error = %e, "intents: request refused");
                if let AppleError::Validation {
                    error_number,
                    message,
                    ..
                } = &e
                {
                    let ends = keys
                        .map(|k| (k, End::Refused(*error_number, message.clone())))
                        .collect();
                    self.finish(snap, ends, None).await?;
                    return Ok(true);
                }
                match self.loc.classify(&e).await {
                    ErrorAction::Retry { .. } => {
                        // Transient after the client's own retries: count the attempt.
                        let ends = keys
                            .map(|k| (k, End::Refused(9603, e.to_string())))
                            .collect();
                        self.finish(snap, ends, None).await?;
                    }
                    ErrorAction::Hold | ErrorAction::Skip => {}
                }
                Ok(false)
            }
        }
    }

    /// `POST assets/associate|disassociate`.
    async fn post(
        &self,
        action: Action,
        request: &ManageAssetsRequest,
    ) -> Result<apple_vpp::types::EventResponse, AppleError> {
        let client = self.loc.client();
        match action {
            Action::Associate => client.associate(request).await,
            Action::Disassociate => client.disassociate(request).await,
        }
    }
}
