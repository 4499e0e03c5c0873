//! The reconciling worker: a durable pull consumer on `VPP_NOTIFICATIONS` that keeps the view
//! exact, plus each location's verifier, guard checks and sync schedule.
//!
//! - [`handle`]: one message → a verdict (delta, failures, coalesced verification).
//! - [`verify`]: the per-location verifier that reads Apple's truth for coalesced assets.
//! - [`verdict`]: the verdict and the one place it becomes an ack, a nak, a dead letter.
//! - [`owner`]: what runs only at a location's owner, and messages routed to it.
//!
//! Competing consumers: any number of processes may run [`run`] with the same durable name;
//! JetStream hands each message to one of them, and every view write is a compare-and-set on the
//! key's revision, so they never overwrite each other blindly. Each location is owned by one of
//! them at a time ([`crate::ownership`]): only the owner runs its verifier, sync schedule and
//! converger, and handles its messages (the others forward them, see [`owner::route`]).
//!
//! Redelivery: the consumer carries `worker.backoff_secs` as its `backoff`, and nats-server then
//! uses the first step as the ack wait (checked: `ack_wait_secs` 60 with backoff `[1, 5]` reads
//! back as 1 s). So a crashed worker's messages come back after about a second, and a running
//! reconciliation sends in-progress acks a few times per first step, for at most
//! `worker.max_processing_secs`; then it gives up and the message is naked like a `Retry`. A
//! `Retry` verdict naks with the backoff step for its delivery.
//!
//! Must not serve HTTP nor decide what a notification means (that is `reconcile`).

pub mod handle;
pub mod owner;
pub mod verdict;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, AckKind, Message, consumer};
use futures::StreamExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::changes::{Applier, ChangePublisher};
use crate::config::Config;
use crate::location::Location;
use crate::metrics::{LocTypeOutcome, Metrics};
use crate::nats::NOTIFICATIONS_STREAM;
use crate::ownership::Ownership;
use crate::verify::Verifier;
use crate::view::View;

/// What every message handler shares.
pub struct Shared {
    /// The configuration.
    pub config: Arc<Config>,
    /// Locations by id.
    pub locations: HashMap<String, Arc<Location>>,
    /// Verifiers of the locations this worker owns, with the token of that ownership.
    pub verifiers: RwLock<HashMap<String, (Verifier, CancellationToken)>>,
    /// Which locations this worker owns.
    pub ownership: Arc<Ownership>,
    /// The NATS client (requests to other owners, this owner's responders).
    pub client: async_nats::Client,
    /// Outgoing events.
    pub publisher: ChangePublisher,
    /// JetStream.
    pub js: jetstream::Context,
    /// Metrics.
    pub metrics: Metrics,
    /// Cancelled when the worker stops.
    pub shutdown: CancellationToken,
}

impl Shared {
    /// The verifier of `location` while this worker owns it.
    pub fn verifier(&self, location: &str) -> Option<Verifier> {
        let map = self.verifiers.read().unwrap_or_else(|p| p.into_inner());
        map.get(location)
            .filter(|(_, t)| !t.is_cancelled())
            .map(|(v, _)| v.clone())
    }
}

/// Opens every configured location (token, client, guard).
///
/// # Errors
/// When a location's token cannot be loaded or the view's buckets are missing.
pub async fn open_locations(
    config: &Config,
    js: &jetstream::Context,
    metrics: &Metrics,
) -> anyhow::Result<(Applier, HashMap<String, Arc<Location>>)> {
    let view = View::open(js)
        .await?
        .with_deadline(Duration::from_secs(config.worker.nats_deadline_secs.max(1)));
    let applier = Applier::new(view, ChangePublisher::new(js.clone(), metrics.clone()));
    // The id `register` sent as mdmInfo: configured, or generated once and kept in vpp-state.
    let mdm_id = Some(crate::nats::state::mdm_id(js, &config.mdm.id).await?);
    let mut locations = HashMap::new();
    for lc in &config.locations {
        let loc = Location::open(
            lc,
            &config.apple,
            mdm_id.clone(),
            applier.clone(),
            metrics.clone(),
            config.sync.users_active_only,
        )
        .await?;
        locations.insert(lc.id.clone(), loc);
    }
    Ok((applier, locations))
}

/// Runs the worker until `shutdown`: the consumer, each location's verifier, token and guard
/// checks, and the sync schedule. In-flight messages are finished (or left to redelivery) before
/// it returns.
///
/// # Errors
/// When start-up fails (buckets or stream missing, a token unreadable, the consumer refused).
pub async fn run(
    config: Arc<Config>,
    nats: async_nats::Client,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let js = jetstream::new(nats.clone());
    let (applier, locations) = open_locations(&config, &js, &metrics).await?;
    let ids = config.locations.iter().map(|l| l.id.clone()).collect();
    let ownership = Ownership::open(&js, &config.cluster, ids, metrics.clone()).await?;
    let shared = Arc::new(Shared {
        config: config.clone(),
        locations,
        verifiers: RwLock::new(HashMap::new()),
        ownership: ownership.clone(),
        client: nats,
        publisher: applier.publisher().clone(),
        js: js.clone(),
        metrics: metrics.clone(),
        shutdown: shutdown.clone(),
    });
    let mut background = JoinSet::new();
    background.spawn(checks(shared.clone(), shutdown.clone()));
    if config.intents.enabled {
        background.spawn(crate::intents::reply::run(
            js.clone(),
            config.locations.iter().map(|l| l.id.clone()).collect(),
            shutdown.clone(),
        ));
    }
    // Each owned location's verifier, sync schedule and converger start on acquisition.
    let starter = shared.clone();
    let leases = tokio::spawn(ownership.run(
        move |id, token| owner::start(&starter, id, token),
        shutdown.clone(),
    ));
    let stream = js.get_stream(NOTIFICATIONS_STREAM).await.with_context(|| {
        format!("stream {NOTIFICATIONS_STREAM} is missing; run `vppbridge nats setup`")
    })?;
    let w = &config.worker;
    let consumer: consumer::PullConsumer = stream
        .get_or_create_consumer(
            &w.durable_name,
            consumer::pull::Config {
                durable_name: Some(w.durable_name.clone()),
                description: Some("vppbridge reconciling worker".into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(w.ack_wait_secs),
                max_deliver: w.max_deliver,
                backoff: w
                    .backoff_secs
                    .iter()
                    .map(|s| Duration::from_secs(*s))
                    .collect(),
                max_ack_pending: i64::try_from(w.batch_size).unwrap_or(1024),
                filter_subject: crate::nats::NOTIFICATIONS_SUBJECTS.into(),
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("cannot create the durable consumer {}", w.durable_name))?;
    background.spawn(lag(consumer.clone(), metrics.clone(), shutdown.clone()));
    let mut tasks = JoinSet::new();
    let mut messages = None;
    loop {
        if messages.is_none() {
            match consumer
                .stream()
                .max_messages_per_batch(w.batch_size.max(1))
                .heartbeat(Duration::from_secs(5))
                .messages()
                .await
            {
                Ok(m) => messages = Some(m),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot pull notifications; trying again");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            }
        }
        let Some(stream) = messages.as_mut() else {
            continue;
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            m = stream.next() => match m {
                Some(Ok(msg)) => {
                    tasks.spawn(process(shared.clone(), msg));
                }
                Some(Err(e)) => tracing::warn!(error = %e, "pulling notifications"),
                None => messages = None,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(messages);
    // Finish what is in flight (their verifiers answer at once on shutdown), then stop.
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight notifications did not finish within 10 s; JetStream will redeliver them"
        );
    }
    background.shutdown().await;
    // The leases are deleted on shutdown, so another worker takes over at once.
    if tokio::time::timeout(Duration::from_secs(5), leases)
        .await
        .is_err()
    {
        tracing::warn!(
            "the location leases were not released within 5 s; they expire with the lease TTL"
        );
    }
    Ok(())
}

/// How often a running reconciliation tells JetStream it is still working: a third of the
/// shortest redelivery delay (`ack_wait`, or the first backoff step, which the server uses as
/// the ack wait when a backoff is set).
fn progress_interval(config: &Config) -> Duration {
    let w = &config.worker;
    let shortest = w
        .backoff_secs
        .first()
        .copied()
        .unwrap_or(w.ack_wait_secs)
        .min(w.ack_wait_secs)
        .max(1);
    Duration::from_millis(shortest * 1000 / 3)
}

/// The location token of a subject `vpp.notifications.<location>.<type>`.
fn location_of(subject: &str) -> String {
    subject.split('.').nth(2).unwrap_or("unknown").to_owned()
}

async fn process(shared: Arc<Shared>, msg: Message) {
    let started = Instant::now();
    let mut report = handle::Report {
        location: location_of(&msg.subject),
        kind: msg
            .subject
            .split('.')
            .nth(3)
            .unwrap_or("unknown")
            .to_owned(),
        ..Default::default()
    };
    let every = progress_interval(&shared.config);
    let limit = Duration::from_secs(shared.config.worker.max_processing_secs.max(1));
    let verdict = {
        let location = report.location.clone();
        let work = owner::route(&shared, &location, &msg.payload, &mut report);
        tokio::pin!(work);
        let give_up = tokio::time::sleep(limit);
        tokio::pin!(give_up);
        loop {
            tokio::select! {
                v = &mut work => break v,
                // In-progress acks are bounded: past the limit the work is dropped and the
                // message naked, so one stall cannot hold it (and its verifier) forever.
                _ = &mut give_up => break verdict::Verdict::Retry {
                    reason: format!(
                        "not finished within worker.max_processing_secs ({} s); given up for a redelivery",
                        limit.as_secs()
                    ),
                    after: None,
                },
                _ = tokio::time::sleep(every) => {
                    if let Err(e) = msg.ack_with(AckKind::Progress).await {
                        tracing::debug!(error = %e, "in-progress ack");
                    }
                }
            }
        }
    };
    // Work cut short by shutdown goes back at once and never counts as a last failure.
    if shared.shutdown.is_cancelled() && matches!(verdict, verdict::Verdict::Retry { .. }) {
        if let Err(e) = msg.ack_with(AckKind::Nak(None)).await {
            tracing::debug!(error = %e, "nak on shutdown");
        }
        return;
    }
    let reason = match &verdict {
        verdict::Verdict::Retry { reason, .. } | verdict::Verdict::Terminate { reason } => {
            Some(reason.clone())
        }
        _ => None,
    };
    let outcome = match verdict::settle(
        &msg,
        verdict,
        &report.location,
        &shared.config.worker,
        &shared.publisher,
        &shared.js,
    )
    .await
    {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(location = %report.location, error = %e, "cannot settle the message; it will be redelivered");
            "retry"
        }
    };
    let duration = started.elapsed();
    shared
        .metrics
        .reconciliations
        .get_or_create(&LocTypeOutcome {
            location: report.location.clone(),
            r#type: report.kind.clone(),
            outcome: outcome.to_owned(),
        })
        .inc();
    shared
        .metrics
        .reconcile_duration
        .observe(duration.as_secs_f64());
    let adam_id = report
        .adam_ids
        .iter()
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    tracing::info!(
        location = %report.location,
        notification_id = %report.notification_id,
        kind = %report.kind,
        adam_id = %adam_id,
        apple_calls = report.apple_calls,
        changes = report.changes,
        outcome,
        error = reason.as_deref().unwrap_or(""),
        duration_ms = duration.as_millis() as u64,
        "reconciliation"
    );
}

/// Token-file and guard checks: every `token_check_interval_ms`, and on SIGHUP.
async fn checks(shared: Arc<Shared>, shutdown: CancellationToken) {
    let every = Duration::from_millis(shared.config.worker.token_check_interval_ms.max(50));
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
            _ = hangup => tracing::info!("SIGHUP: re-reading token files"),
        }
        for loc in shared.locations.values() {
            loc.check().await;
        }
    }
}

/// Consumer lag gauges, every few seconds.
async fn lag(mut consumer: consumer::PullConsumer, metrics: Metrics, shutdown: CancellationToken) {
    loop {
        if let Ok(info) = consumer.info().await {
            metrics
                .consumer_pending
                .set(i64::try_from(info.num_pending).unwrap_or(i64::MAX));
            metrics
                .consumer_ack_pending
                .set(i64::try_from(info.num_ack_pending).unwrap_or(i64::MAX));
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}
