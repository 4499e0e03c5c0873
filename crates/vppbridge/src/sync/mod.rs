//! Full and incremental syncs against Apple, the schedule that runs them inside `serve`, and
//! `vppbridge sync`.
//!
//! - Full: every asset, then every assignment (one global traversal: its page count is the
//!   assignments over the page size, never more than one traversal per asset), then users
//!   (active only by default); each compared with the view, every difference written with its
//!   change event (cause: the run id). The first page's `versionId`s are kept for the next
//!   incremental sync.
//! - Incremental: assets in full (Apple has no `sinceVersionId` for them), assignments and users
//!   with `sinceVersionId` (additions and changes). Apple documents no way to learn removals
//!   from `sinceVersionId`, so they are found from documented data only: each asset's
//!   `assignedCount` (Get Assets) is compared with the view's count of its assignments, and the
//!   assets whose counts differ have their assignments read again (`adamId=`) and replaced;
//!   the periodic full sync catches anything counts cannot show (a removal and an addition of
//!   the same asset cancelling out). Apple's 9721 (unknown version) falls back to a full sync.
//! - Every traversal goes through `apple-vpp`'s pagination engine: when the `versionId` changes
//!   between pages, it starts again from the first page, and what the abandoned traversal listed
//!   counts for nothing (a full sync removes at the end what only it listed).
//!
//! Every request goes through the location's client, which keeps to the location's rate limit.
//! Must not consume notifications (that is the worker).
//!
//! - this file: [`sync`], [`schedule`], [`SyncKind`], [`Summary`].
//! - `run`: one run's traversals, page by page, and their writes to the view.
//! - `error`: [`SyncError`]. `progress`: [`Progress`]. `cli`: `vppbridge sync`.

mod cli;
mod error;
mod progress;
mod run;

pub use cli::{SyncArgs, run};
pub use error::SyncError;
pub use progress::Progress;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::config::SyncConfig;
use crate::events::changes::Cause;
use crate::location::Location;
use crate::metrics::{Loc, LocKindOutcome};
use crate::view::keys::state_key;
use crate::view::state::SyncState;
use run::Run;

/// Full or incremental.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// Everything.
    Full,
    /// Changes since the stored `versionId`s.
    Incremental,
}

impl SyncKind {
    /// `full` or `incremental`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncKind::Full => "full",
            SyncKind::Incremental => "incremental",
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The run id (the change events' cause).
    pub run_id: String,
    /// What actually ran (an incremental sync may have fallen back to full).
    pub kind: SyncKind,
    /// Records Apple returned.
    pub records_read: u64,
    /// Requests (pages) sent to Apple.
    pub api_calls: u64,
    /// Differences found and repaired in the view.
    pub differences: u64,
    /// How long it took.
    pub duration: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sync {}: {} records read, {} API calls, {} differences repaired, {:.1} s",
            self.kind.as_str(),
            self.run_id,
            self.records_read,
            self.api_calls,
            self.differences,
            self.duration.as_secs_f64()
        )
    }
}

fn is_unknown_version(e: &SyncError) -> bool {
    matches!(e, SyncError::Apple { source, .. } if source.error_number() == Some(9721))
}

/// Runs one sync of `loc` (incremental falls back to full when there is nothing to go on or
/// Apple does not know the stored version).
///
/// # Errors
/// When Apple or NATS fails, or the location is (or becomes) paused.
pub async fn sync(
    loc: &Location,
    kind: SyncKind,
    progress: &Progress,
) -> Result<Summary, SyncError> {
    let started = Instant::now();
    let run_id = uuid::Uuid::new_v4().to_string();
    let key = state_key(&loc.id, "sync")?;
    let mut state: SyncState = loc.applier.view().state(&key).await?.unwrap_or_default();
    let mut run = Run {
        loc,
        cause: Cause::sync(run_id.clone()),
        progress,
        records: 0,
        calls: 0,
        differences: 0,
    };
    let mut ran = kind;
    let result = async {
        if kind == SyncKind::Incremental
            && state.assignments_version_id.is_some()
            && state.users_version_id.is_some()
        {
            let counts = run.assets().await?;
            let a = run.assignments(state.assignments_version_id.clone()).await;
            let u = match a {
                Ok(v) => match run.recount(&counts).await {
                    Ok(_) => {
                        state.assignments_version_id = v.or(state.assignments_version_id.take());
                        run.users(state.users_version_id.clone()).await
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match u {
                Ok(v) => {
                    state.users_version_id = v.or(state.users_version_id.take());
                    state.last_incremental_sync = Some(Utc::now());
                    return Ok(());
                }
                Err(e) if is_unknown_version(&e) => {
                    tracing::info!(location = %loc.id, "Apple does not know the stored versionId (9721): running a full sync instead");
                }
                Err(e) => return Err(e),
            }
        }
        ran = SyncKind::Full;
        run.assets().await?;
        state.assignments_version_id = run.assignments(None).await?;
        state.users_version_id = run.users(None).await?;
        state.last_full_sync = Some(Utc::now());
        Ok::<(), SyncError>(())
    }
    .await;
    progress.finish();
    let outcome = if result.is_ok() { "ok" } else { "error" };
    loc.metrics
        .sync_runs
        .get_or_create(&LocKindOutcome {
            location: loc.id.clone(),
            kind: ran.as_str().to_owned(),
            outcome: outcome.to_owned(),
        })
        .inc();
    loc.metrics
        .sync_differences
        .get_or_create(&Loc {
            location: loc.id.clone(),
        })
        .inc_by(run.differences);
    state.last_run_id = Some(run_id.clone());
    state.last_attempt = Some(Utc::now());
    state.last_error = result.as_ref().err().map(|e| e.to_string());
    if let Err(e) = loc.applier.view().set_state(&key, &state).await {
        tracing::error!(location = %loc.id, error = %e, "cannot record the sync state");
    }
    result?;
    let summary = Summary {
        run_id,
        kind: ran,
        records_read: run.records,
        api_calls: run.calls,
        differences: run.differences,
        duration: started.elapsed(),
    };
    tracing::info!(location = %loc.id, kind = ran.as_str(), run_id = %summary.run_id, records = summary.records_read, api_calls = summary.api_calls, differences = summary.differences, duration_ms = summary.duration.as_millis() as u64, "sync finished");
    Ok(summary)
}

/// The schedule inside `serve`: a full sync at once when the location was never synced, then
/// incremental and full syncs at their intervals (0: off), skipped while the location is paused.
pub async fn schedule(loc: Arc<Location>, config: SyncConfig, shutdown: CancellationToken) {
    let never_synced = match state_key(&loc.id, "sync") {
        Ok(k) => match loc.applier.view().state::<SyncState>(&k).await {
            Ok(s) => s.is_none_or(|s| s.last_full_sync.is_none()),
            Err(_) => false,
        },
        Err(_) => false,
    };
    if never_synced && loc.paused().is_none() {
        if let Err(e) = sync(&loc, SyncKind::Full, &Progress::Silent).await {
            tracing::warn!(location = %loc.id, error = %e, "initial full sync failed");
        }
    }
    let every = |s: u64| (s > 0).then(|| Duration::from_secs(s));
    let (inc, full) = (
        every(config.incremental_interval_secs),
        every(config.full_interval_secs),
    );
    let now = tokio::time::Instant::now();
    let mut next_inc = inc.map(|d| now + d);
    let mut next_full = full.map(|d| now + d);
    loop {
        let next = match (next_inc, next_full) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return shutdown.cancelled().await,
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        let now = tokio::time::Instant::now();
        let kind = if next_full.is_some_and(|t| t <= now) {
            next_full = full.map(|d| now + d);
            next_inc = inc.map(|d| now + d);
            SyncKind::Full
        } else {
            next_inc = inc.map(|d| now + d);
            SyncKind::Incremental
        };
        if loc.paused().is_some() {
            continue;
        }
        if let Err(e) = sync(&loc, kind, &Progress::Silent).await {
            tracing::warn!(location = %loc.id, kind = kind.as_str(), error = %e, "scheduled sync failed");
        }
    }
}
