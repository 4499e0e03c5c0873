//! The `serve` process: the receiver and the worker in one process, sharing one NATS
//! connection, one [`Metrics`] and one shutdown token.
//!
//! [`serve`] is the library entry point (tests and the demo call it with their own listener and
//! token); [`serve_command`] adds the configuration file, the listening socket and SIGINT/SIGTERM.
//! On shutdown the receiver stops accepting and finishes in-flight requests (and their
//! publishes), then the NATS client is flushed; whatever has not finished after
//! [`DRAIN_TIMEOUT`] is abandoned.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http::{self, AppState, Limits};
use crate::metrics::Metrics;
use crate::nats::{self, state::KvUidCache};
use crate::publish::JetStreamPublisher;
use crate::secret::LocationSecrets;

/// Longest wait for in-flight work after shutdown starts.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the receiver trusts a `uId` it read from `vpp-state`.
pub const UID_CACHE_TTL: Duration = Duration::from_secs(5);

/// Arguments of `vppbridge serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Run only the receiver.
    #[arg(long, conflicts_with = "no_receiver")]
    pub no_worker: bool,
    /// Run only the worker.
    #[arg(long)]
    pub no_receiver: bool,
}

/// The receiver's state for `config`'s locations on an existing NATS client: the JetStream
/// publisher, the `uId` cache and each location's secrets (read from their files now).
///
/// # Errors
/// When a location's secret file cannot be read.
pub fn receiver_state(
    config: &Config,
    client: async_nats::Client,
    metrics: Metrics,
) -> anyhow::Result<AppState> {
    let locations = load_secrets(config)?;
    if locations.is_empty() {
        tracing::warn!("no [[locations]] configured: every notification will get 401");
    }
    Ok(state_with(config, client, metrics, locations))
}

/// Every location's accepted secrets, read from their files now.
fn load_secrets(config: &Config) -> anyhow::Result<HashMap<String, LocationSecrets>> {
    let mut locations = HashMap::new();
    for loc in &config.locations {
        let secrets = LocationSecrets::load(
            &loc.notification_secret_file,
            loc.previous_notification_secret_file.as_deref(),
        )
        .with_context(|| format!("location {:?}", loc.id))?;
        locations.insert(loc.id.clone(), secrets);
    }
    Ok(locations)
}

/// The HTTP state on an existing NATS client for the given secrets (none: operations only).
fn state_with(
    config: &Config,
    client: async_nats::Client,
    metrics: Metrics,
    locations: HashMap<String, LocationSecrets>,
) -> AppState {
    let timeout = Duration::from_secs(config.http.publish_timeout_secs.max(1));
    let publisher = JetStreamPublisher::new(client.clone(), timeout, &nats::STREAMS);
    let uids = KvUidCache::new(async_nats::jetstream::new(client), UID_CACHE_TTL)
        .with_read_timeout(timeout);
    AppState::new(
        locations,
        Arc::new(publisher),
        Arc::new(uids),
        metrics,
        Limits::from(&config.http),
    )
}

/// Runs the configured parts until `shutdown` is cancelled (or one part fails, which cancels
/// the others): connects to NATS, sets up the streams and buckets, then serves.
///
/// # Errors
/// When NATS cannot be reached or set up, a secret cannot be read, or a part fails.
pub async fn serve(
    config: Config,
    args: ServeArgs,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Zero series for every location, so alerts on increase() see the first event.
    let metrics = Metrics::for_locations(config.locations.iter().map(|l| l.id.as_str()));
    let client = nats::connect(&config.nats).await?;
    let js = async_nats::jetstream::new(client.clone());
    let lease_ttl = Duration::from_secs(config.cluster.lease_ttl_secs);
    nats::setup_with_leases(&js, &config.nats, lease_ttl)
        .await
        .context("setting up JetStream")?;

    let mut parts: JoinSet<anyhow::Result<()>> = JoinSet::new();
    if args.no_receiver {
        // A worker-only process still answers probes and scrapes on the same port.
        let metrics_for_ops = metrics.clone();
        let state = state_with(&config, client.clone(), metrics.clone(), HashMap::new());
        let token = shutdown.clone();
        let limits = state.limits().server;
        parts.spawn(async move {
            let router = http::ops_router(state);
            http::serve_router(listener, router, limits, metrics_for_ops, async move {
                token.cancelled().await
            })
            .await
            .context("the operations endpoints stopped")
        });
    } else {
        let state = receiver_state(&config, client.clone(), metrics.clone())?;
        let token = shutdown.clone();
        parts.spawn(async move {
            http::run(listener, state, async move { token.cancelled().await })
                .await
                .context("the receiver stopped")
        });
    }
    if !args.no_worker {
        let worker_config = Arc::new(config.clone());
        let (client, metrics, token) = (client.clone(), metrics.clone(), shutdown.clone());
        parts.spawn(async move {
            crate::worker::run(worker_config, client, metrics, token)
                .await
                .context("the worker stopped")
        });
    }

    let mut first_error = None;
    let drained = async {
        while let Some(joined) = parts.join_next().await {
            let result = joined.map_err(anyhow::Error::from).and_then(|r| r);
            if let Err(e) = result {
                tracing::error!(error = %format!("{e:#}"), "a part of vppbridge failed; stopping");
                shutdown.cancel();
                first_error.get_or_insert(e);
            }
        }
    };
    tokio::select! {
        () = drained => {}
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => {
            tracing::warn!("in-flight work did not finish within {DRAIN_TIMEOUT:?}; stopping anyway");
        }
    }
    if let Err(e) = client.flush().await {
        tracing::warn!(error = %e, "could not flush the NATS connection");
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `vppbridge serve`.
///
/// # Errors
/// When start-up fails (configuration, listener, NATS) or a part fails.
pub async fn serve_command(config: Option<&Path>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    crate::config::permissions::warn_world_readable(&config);
    let listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?;
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        token.cancel();
    });
    serve(config, args, listener, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// SIGINT or SIGTERM.
async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops vppbridge");
            let _ = ctrl_c.await;
        }
    }
}
