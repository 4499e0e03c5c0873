//! Full and incremental syncs against Apple, the schedule that runs them inside `serve`, and
//! `vppbridge sync`.
//!
//! - Full: every asset, then every assignment (one global traversal: its page count is the
//!   assignments over the page size, never more than one traversal per asset), then users
//!   (active only by default); each compared with the view, every difference written with its
//!   change event (cause: the run id). The first page's `versionId`s are kept for the next
//!   incremental sync.
//! - Incremental: assets in full (Apple has no `sinceVersionId` for them), assignments and users
//!   with `sinceVersionId`; removed assignments come in the simulator's `removedAssignments`.
//!   Apple's 9721 (unknown version) falls back to a full sync.
//!
//! Every request goes through the location's client, which keeps to the location's rate limit.
//! Must not consume notifications (that is the worker).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::apple::AppleError;
use crate::apple::types::{AssetsQuery, AssignmentsQuery, Common, PageInfo, UsersQuery};
use crate::changes::ApplyError;
use crate::config::SyncConfig;
use crate::events::changes::{AssetValue, Cause};
use crate::events::notification::{AssignmentRef, UserRef};
use crate::metrics::{Loc, LocKindOutcome};
use crate::reconcile::{diff, user_value};
use crate::view::keys::{asset_key, assignment_key, state_key, user_key};
use crate::view::state::SyncState;
use crate::view::{Bucket, ViewError};
use crate::worker::location::Location;
use crate::worker::verify::normalise;

/// Arguments of `vppbridge sync`.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    /// The location to sync.
    #[arg(long)]
    pub location: String,
    /// Read everything instead of the changes since the last sync.
    #[arg(long)]
    pub full: bool,
}

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

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Apple refused or failed (the location may now be paused).
    #[error("location {location}: {source}")]
    Apple {
        /// The location.
        location: String,
        /// Apple's error.
        #[source]
        source: Box<AppleError>,
    },
    /// The location is paused.
    #[error(
        "location {location} is paused ({reason}); replace its token file or run `vppbridge resume --location {location}`"
    )]
    Paused {
        /// The location.
        location: String,
        /// Why.
        reason: &'static str,
    },
    /// Writing the view failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// Reading the view failed.
    #[error(transparent)]
    View(#[from] ViewError),
    /// A key could not be built.
    #[error(transparent)]
    Key(#[from] crate::view::keys::KeyError),
}

/// Where progress goes: a bar on a terminal, a log line every few seconds otherwise.
#[derive(Debug)]
pub enum Progress {
    /// Nothing (the schedule inside `serve` logs only the summary).
    Silent,
    /// Periodic log lines.
    Log {
        /// When the last line was written.
        last: Mutex<Instant>,
    },
    /// An indicatif bar.
    Bar(indicatif::ProgressBar),
}

impl Progress {
    /// A bar when standard error is a terminal, log lines otherwise.
    pub fn for_terminal() -> Self {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg} [{elapsed_precise}] {pos} records ({per_sec})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            Progress::Bar(bar)
        } else {
            Progress::Log {
                last: Mutex::new(Instant::now()),
            }
        }
    }

    fn page(&self, location: &str, what: &str, page: &PageInfo, total_read: u64) {
        match self {
            Progress::Silent => {}
            Progress::Bar(b) => {
                b.set_message(format!(
                    "{location} {what}: page {}/{}",
                    page.current_page_index + 1,
                    page.total_pages.max(1)
                ));
                b.inc(u64::from(page.size));
            }
            Progress::Log { last } => {
                let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= Duration::from_secs(5) {
                    *last = Instant::now();
                    tracing::info!(
                        location,
                        what,
                        page = page.current_page_index + 1,
                        total_pages = page.total_pages,
                        records = total_read,
                        "sync progress"
                    );
                }
            }
        }
    }

    fn finish(&self) {
        if let Progress::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

struct Run<'a> {
    loc: &'a Location,
    cause: Cause,
    progress: &'a Progress,
    records: u64,
    calls: u64,
    differences: u64,
}

impl Run<'_> {
    fn check_paused(&self) -> Result<(), SyncError> {
        match self.loc.paused() {
            Some(k) => Err(SyncError::Paused {
                location: self.loc.id.clone(),
                reason: k.as_str(),
            }),
            None => Ok(()),
        }
    }

    async fn apple<T>(&self, r: Result<T, AppleError>) -> Result<T, SyncError> {
        match r {
            Ok(t) => Ok(t),
            Err(e) => {
                self.loc.classify(&e).await;
                Err(SyncError::Apple {
                    location: self.loc.id.clone(),
                    source: Box::new(e),
                })
            }
        }
    }

    async fn seen(&mut self, what: &str, page: &PageInfo, common: &Common, n: usize) {
        self.calls += 1;
        self.records += n as u64;
        self.loc.note_common(common).await;
        self.progress.page(&self.loc.id, what, page, self.records);
    }

    /// Applies `truth` over the view's slice of this location in `bucket`.
    async fn replace<T>(
        &mut self,
        bucket: Bucket,
        truth: BTreeMap<String, T>,
    ) -> Result<(), SyncError>
    where
        T: serde::Serialize
            + serde::de::DeserializeOwned
            + PartialEq
            + Clone
            + Send
            + Sync
            + 'static,
    {
        let current: BTreeMap<String, T> = self
            .loc
            .applier
            .view()
            .slice(bucket, &self.loc.id)
            .await?
            .into_iter()
            .map(|(k, (v, _))| {
                // An undecodable value must still be compared: it then differs from any truth
                // (or, absent from the truth, is removed) because `T` never equals it.
                (k, serde_json::from_slice(&v).ok())
            })
            .filter_map(|(k, v): (String, Option<T>)| v.map(|v| (k, v)))
            .collect();
        let writes = diff(&current, &truth);
        self.apply(bucket, writes).await
    }

    async fn apply<T>(
        &mut self,
        bucket: Bucket,
        writes: Vec<(String, Option<T>)>,
    ) -> Result<(), SyncError>
    where
        T: serde::Serialize
            + serde::de::DeserializeOwned
            + PartialEq
            + Clone
            + Send
            + Sync
            + 'static,
    {
        let n = self
            .loc
            .applier
            .apply_many(&self.loc.id, bucket, writes, &self.cause)
            .await?;
        self.differences += n as u64;
        Ok(())
    }

    async fn assets(&mut self) -> Result<(), SyncError> {
        let client = self.loc.client();
        let mut truth = BTreeMap::new();
        let mut index = None;
        loop {
            self.check_paused()?;
            let r = client
                .assets_page(&AssetsQuery {
                    page_index: index,
                    ..Default::default()
                })
                .await;
            let r = self.apple(r).await?;
            self.seen("assets", &r.page, &r.common, r.assets.len())
                .await;
            for a in &r.assets {
                truth.insert(
                    asset_key(&self.loc.id, a.adam_id.as_str(), &a.pricing_param)?,
                    AssetValue::from(a),
                );
            }
            match r.page.next_page_index {
                Some(n) => index = Some(n),
                None => break,
            }
        }
        self.loc.note_known_assets(truth.len());
        self.replace(Bucket::Assets, truth).await
    }

    /// Reads assignments (all, or since `since`); returns the first page's version.
    async fn assignments(&mut self, since: Option<String>) -> Result<Option<String>, SyncError> {
        let client = self.loc.client();
        let incremental = since.is_some();
        let mut truth = BTreeMap::new();
        let mut removed = Vec::new();
        let mut version = None;
        let mut index = None;
        let mut pages = 0u32;
        loop {
            self.check_paused()?;
            let r = client
                .assignments_page(&AssignmentsQuery {
                    page_index: index,
                    since_version_id: since.clone(),
                    ..Default::default()
                })
                .await;
            let r = self.apple(r).await?;
            pages += 1;
            self.seen("assignments", &r.page, &r.common, r.assignments.len())
                .await;
            if version.is_none() {
                version = r.page.version_id.clone();
            }
            for a in &r.assignments {
                let a = normalise(a);
                truth.insert(assignment_key(&self.loc.id, &a)?, a);
            }
            for a in r.removed_assignments.iter().flatten() {
                removed.push(assignment_key(&self.loc.id, &normalise(a))?);
            }
            match r.page.next_page_index {
                Some(n) => index = Some(n),
                None => break,
            }
        }
        self.loc.note_pages(truth.len(), pages);
        if incremental {
            let mut writes: Vec<(String, Option<AssignmentRef>)> =
                removed.into_iter().map(|k| (k, None)).collect();
            writes.extend(truth.into_iter().map(|(k, v)| (k, Some(v))));
            self.apply(Bucket::Assignments, writes).await?;
        } else {
            self.replace(Bucket::Assignments, truth).await?;
        }
        Ok(version)
    }

    async fn users(&mut self, since: Option<String>) -> Result<Option<String>, SyncError> {
        let client = self.loc.client();
        let incremental = since.is_some();
        let active_only = self.loc.users_active_only;
        let mut truth: BTreeMap<String, Option<UserRef>> = BTreeMap::new();
        let mut version = None;
        let mut index = None;
        loop {
            self.check_paused()?;
            let r = client
                .users_page(&UsersQuery {
                    page_index: index,
                    active_only: (active_only && !incremental).then_some(true),
                    since_version_id: since.clone(),
                    ..Default::default()
                })
                .await;
            let r = self.apple(r).await?;
            self.seen("users", &r.page, &r.common, r.users.len()).await;
            if version.is_none() {
                version = r.page.version_id.clone();
            }
            for u in &r.users {
                let u = UserRef {
                    client_user_id: u.client_user_id.clone(),
                    email: u.email.clone(),
                    id_hash: u.id_hash.clone(),
                    invite_code: u.invite_code.clone(),
                    status: u.status.clone(),
                };
                let key = user_key(&self.loc.id, &u.client_user_id)?;
                let v = user_value(&u, active_only);
                // Apple may list a retired entry beside the active one: the active one wins.
                if v.is_some() || !truth.contains_key(&key) {
                    truth.insert(key, v);
                }
            }
            match r.page.next_page_index {
                Some(n) => index = Some(n),
                None => break,
            }
        }
        if incremental {
            self.apply(Bucket::Users, truth.into_iter().collect())
                .await?;
        } else {
            let truth = truth
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
            self.replace(Bucket::Users, truth).await?;
        }
        Ok(version)
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
            run.assets().await?;
            let a = run.assignments(state.assignments_version_id.clone()).await;
            let u = match a {
                Ok(v) => {
                    state.assignments_version_id = v.or(state.assignments_version_id.take());
                    run.users(state.users_version_id.clone()).await
                }
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

/// `vppbridge sync`.
///
/// # Errors
/// When the configuration, NATS or the location cannot be loaded, or the sync fails.
pub async fn run(config: Option<&Path>, args: SyncArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    let Some(lc) = config.locations.iter().find(|l| l.id == args.location) else {
        anyhow::bail!(
            "location `{}` is not in the configuration (known: {})",
            args.location,
            config
                .locations
                .iter()
                .map(|l| l.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let client = async_nats::connect(&config.nats.url)
        .await
        .with_context(|| format!("cannot connect to NATS at {}", config.nats.url))?;
    let js = async_nats::jetstream::new(client);
    let metrics = crate::metrics::Metrics::new();
    let view = crate::view::View::open(&js).await?;
    let applier = crate::changes::Applier::new(
        view,
        crate::changes::Publisher::new(js.clone(), metrics.clone()),
    );
    let mdm_id = (!config.mdm.id.is_empty()).then(|| config.mdm.id.clone());
    let loc = Location::open(
        lc,
        &config.apple,
        mdm_id,
        applier,
        metrics,
        config.sync.users_active_only,
    )
    .await?;
    let kind = if args.full {
        SyncKind::Full
    } else {
        SyncKind::Incremental
    };
    let summary = sync(&loc, kind, &Progress::for_terminal()).await?;
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}
