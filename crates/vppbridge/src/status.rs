//! `vppbridge status`: per location, the token, ownership checks, syncs, dead letters, managed
//! intents and the worker holding its lease; and the consumer's lag. Reads the view, the intent
//! records and the leases, and changes nothing.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;

use crate::view::View;
use crate::view::cli::connect;
use crate::view::keys::state_key;
use crate::view::state::{GuardState, SyncState};

/// Arguments of `vppbridge status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// One location's health, as `vppbridge status` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationStatus {
    /// The location.
    pub location: String,
    /// Token expiry (Apple's or the file's).
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Whether Apple's `mdmInfo` is ours (`None`: not checked yet).
    pub owner_ok: Option<bool>,
    /// The `mdmInfo.id` Apple reported, when it was not ours.
    pub owner_id: Option<String>,
    /// Last full sync.
    pub last_full_sync: Option<DateTime<Utc>>,
    /// Last incremental sync.
    pub last_incremental_sync: Option<DateTime<Utc>>,
    /// The last sync's error, when it failed.
    pub last_sync_error: Option<String>,
    /// Why it is paused, when it is.
    pub paused_reason: Option<String>,
    /// Messages in `vpp.dlq.<location>`.
    pub dlq_depth: u64,
    /// Managed keys (`vpp-desired`) by intent state; empty when nothing is managed.
    pub intents: std::collections::BTreeMap<String, usize>,
    /// The worker owning the location (from `vpp-leases`; `None`: no worker owns it now).
    pub worker: Option<String>,
    /// Since when that worker owns it.
    pub worker_since: Option<DateTime<Utc>>,
}

/// The whole status: per location, and the consumer's lag.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Per location.
    pub locations: Vec<LocationStatus>,
    /// Notification events not yet delivered to a worker (`None`: no consumer yet).
    pub consumer_pending: Option<u64>,
    /// Delivered, not yet acknowledged.
    pub consumer_ack_pending: Option<u64>,
}

/// Reads every location's status.
///
/// # Errors
/// When the view cannot be read.
pub async fn read_status(
    js: &jetstream::Context,
    view: &View,
    config: &crate::config::Config,
) -> anyhow::Result<Status> {
    let mut dlq = std::collections::HashMap::new();
    if let Ok(stream) = js.get_stream(crate::nats::DLQ_STREAM).await
        && let Ok(mut subjects) = stream.info_with_subjects(crate::nats::DLQ_SUBJECTS).await
    {
        while let Ok(Some((subject, count))) = subjects.try_next().await {
            let loc = subject.trim_start_matches("vpp.dlq.").to_owned();
            *dlq.entry(loc).or_insert(0u64) += count as u64;
        }
    }
    let (mut pending, mut ack_pending) = (None, None);
    if let Ok(stream) = js.get_stream(crate::nats::NOTIFICATIONS_STREAM).await
        && let Ok(info) = stream.consumer_info(&config.worker.durable_name).await
    {
        pending = Some(info.num_pending);
        ack_pending = Some(info.num_ack_pending as u64);
    }
    // Without the intent buckets (an older set-up) there is nothing managed to count.
    let intents = crate::intents::store::Store::open(js).await.ok();
    let deadline = Duration::from_secs(config.worker.nats_deadline_secs.max(1));
    let leases = crate::ownership::lease::read_leases(js, deadline).await?;
    let mut locations = Vec::new();
    for l in &config.locations {
        let mut by_state = std::collections::BTreeMap::new();
        if let Some(store) = &intents {
            for r in crate::intents::cli::list(store, &l.id, None).await? {
                *by_state.entry(r.state.as_str().to_owned()).or_insert(0) += 1;
            }
        }
        let lease = leases.get(&l.id);
        let guard: GuardState = view
            .state(&state_key(&l.id, "guard")?)
            .await?
            .unwrap_or_default();
        let sync: SyncState = view
            .state(&state_key(&l.id, "sync")?)
            .await?
            .unwrap_or_default();
        locations.push(LocationStatus {
            location: l.id.clone(),
            token_expires_at: guard.token_expires_at,
            owner_ok: guard.owner_ok,
            owner_id: guard.owner_id.filter(|_| guard.owner_ok == Some(false)),
            last_full_sync: sync.last_full_sync,
            last_incremental_sync: sync.last_incremental_sync,
            last_sync_error: sync.last_error,
            paused_reason: guard.reason.filter(|_| guard.paused),
            dlq_depth: dlq.get(&l.id).copied().unwrap_or(0),
            intents: by_state,
            worker: lease.map(|v| v.owner.clone()),
            worker_since: lease.map(|v| v.since),
        });
    }
    Ok(Status {
        locations,
        consumer_pending: pending,
        consumer_ack_pending: ack_pending,
    })
}

/// `vppbridge status`.
///
/// # Errors
/// When the state cannot be read.
pub async fn status(config: Option<&Path>, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    let js = connect(&config).await?;
    let view = View::open(&js).await?;
    let s = read_status(&js, &view, &config).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    let opt =
        |d: Option<DateTime<Utc>>| d.map(|d| d.to_rfc3339()).unwrap_or_else(|| "never".into());
    for l in &s.locations {
        println!("location {}", l.location);
        println!(
            "  token expires:     {}",
            l.token_expires_at
                .map(|d| format!("{} ({} days)", d.to_rfc3339(), (d - Utc::now()).num_days()))
                .unwrap_or_else(|| "unknown".into())
        );
        println!(
            "  owner check:       {}",
            match (l.owner_ok, &l.owner_id) {
                (Some(false), Some(id)) => format!("ANOTHER MDM ({id})"),
                (Some(false), None) => "another MDM".into(),
                _ => "ok".into(),
            }
        );
        println!("  last full sync:    {}", opt(l.last_full_sync));
        println!("  last incremental:  {}", opt(l.last_incremental_sync));
        if let Some(e) = &l.last_sync_error {
            println!("  last sync FAILED:  {e}");
        }
        println!(
            "  owned by worker:   {}",
            match (&l.worker, l.worker_since) {
                (Some(w), Some(since)) => format!("{w} (since {})", since.to_rfc3339()),
                _ => "NONE (no worker holds its lease)".into(),
            }
        );
        println!("  dead letters:      {}", l.dlq_depth);
        if !l.intents.is_empty() {
            let counts: Vec<String> = l.intents.iter().map(|(s, n)| format!("{n} {s}")).collect();
            println!("  intents:           {}", counts.join(", "));
        }
        println!(
            "  paused:            {}",
            l.paused_reason.as_deref().unwrap_or("no")
        );
    }
    println!(
        "consumer lag: {} pending, {} awaiting ack",
        s.consumer_pending
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".into()),
        s.consumer_ack_pending
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".into())
    );
    Ok(ExitCode::SUCCESS)
}
