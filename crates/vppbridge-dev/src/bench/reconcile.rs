//! Reconciliation: the 25 × 1,000 scenario. `vppbridge serve` (receiver and worker, a child
//! process) against the simulator at Apple's 15 requests/s: after the first full sync, 25 Apps
//! are associated with 1,000 devices in one call; the simulator posts its 250 `ASSET_MANAGEMENT`
//! notifications to the receiver, and the worker verifies each asset with Apple.
//!
//! Measured: the time from the last notification delivered to the view being exact (polled:
//! the whole view is compared with the simulator's truth every [`POLL`]), the Apple calls
//! vppbridge made for the scenario against the minimum (one verification per asset), and the
//! 9646 (rate limit) answers it received, over the first sync and the scenario.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use super::child::peak_rss_bytes;
use super::scenario::{LOCATION, POLL, Scenario};
use super::world::{compare, rate_limited};
use apple_vpp::types::ManageAssetsRequest;
use vppbridge_sim::SeedSpec;

/// Assets associated in the scenario.
pub const ASSETS: usize = 25;
/// Devices each asset is associated with.
pub const DEVICES: usize = 1000;
/// Apple's rate limit, in requests per second.
pub const RATE: u32 = 15;
/// Assignments per `ASSET_MANAGEMENT` notification (the simulator's batch, as Apple's).
const PER_NOTIFICATION: usize = 100;

/// The reconciliation results.
#[derive(Debug, Clone, Serialize)]
pub struct ReconcileResults {
    /// How the parts ran.
    pub setup: String,
    /// Assets × devices associated.
    pub assets: usize,
    /// Devices per asset.
    pub devices: usize,
    /// `ASSET_MANAGEMENT` notifications delivered (answered 200).
    pub notifications: usize,
    /// From the associate call to the last notification delivered, in seconds.
    pub delivery_seconds: f64,
    /// From the last notification delivered to the view found exact, in seconds (negative:
    /// exact before the last one arrived).
    pub seconds_to_exact_view: f64,
    /// From the associate call to the view found exact, in seconds.
    pub seconds_from_associate: f64,
    /// Whether the view ended exact.
    pub exact: bool,
    /// Apple calls vppbridge made for the scenario (after the first sync).
    pub apple_calls: usize,
    /// Of which verification reads (`GET assets`, `GET assignments`).
    pub verification_reads: usize,
    /// The minimum: one verification per asset.
    pub minimum_calls: usize,
    /// 9646 answers vppbridge received (first sync and scenario).
    pub rate_limited_9646: usize,
    /// Apple calls before the scenario: the bench's registration call, vppbridge's start-up
    /// and first full sync.
    pub calls_before_scenario: usize,
    /// The serve process's peak resident memory, in MiB.
    pub serve_peak_rss_mib: Option<f64>,
}

/// Runs the reconciliation benchmark.
///
/// # Errors
/// When a part cannot start, or the view is not exact within two minutes.
pub async fn run() -> anyhow::Result<ReconcileResults> {
    let seed = SeedSpec {
        locations: 1,
        // Every fifth seeded asset is a Book (not device-assignable): 32 give 26 Apps.
        assets: 32,
        devices: DEVICES,
        users: 10,
        assigned: 0.0,
        seed: 25,
        licenses_per_asset: None,
    };
    let Scenario {
        nats: _nats,
        world,
        mut serve,
        config,
        apple,
        js,
        calls_before: sync_log,
        dir: _dir,
        ..
    } = Scenario::start(seed, RATE).await?;

    let apps = world.apps(ASSETS).await?;
    let before = world.deliveries().await?.len();
    let associated_at = world.now_ms();
    apple
        .associate(&ManageAssetsRequest {
            assets: apps,
            client_user_ids: vec![],
            serial_numbers: (1..=DEVICES).map(|i| format!("SIM{i:09}")).collect(),
        })
        .await
        .context("the associate call")?;

    // Poll from the associate on, so a view exact before the last notification counts too.
    let expected = ASSETS * DEVICES.div_ceil(PER_NOTIFICATION);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut exact_at: Option<f64> = None;
    let mut last_difference = String::from("not compared yet");
    let last_delivery = loop {
        let delivered: Vec<f64> = world.deliveries().await?[before..]
            .iter()
            .filter(|d| d.notification_type == "ASSET_MANAGEMENT" && d.status == Some(200))
            .map(|d| d.at_ms)
            .collect();
        let truth = world.truth().await?;
        if exact_at.is_none() && truth.assignments.len() == ASSETS * DEVICES {
            let comparison = compare(&js, LOCATION, &truth, config.sync.users_active_only).await?;
            if comparison.matches() {
                exact_at = Some(world.now_ms());
            } else {
                last_difference = comparison.to_string();
            }
        }
        if delivered.len() >= expected && exact_at.is_some() {
            break delivered.into_iter().fold(0.0, f64::max);
        }
        if let Some(status) = serve.try_exit()? {
            return Err(serve.failure(&format!("exited ({status}) during the scenario")));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not exact within 120 s: {} of {expected} notifications delivered; {last_difference}",
            delivered.len()
        );
        tokio::time::sleep(POLL).await;
    };
    let exact_at = exact_at.unwrap_or_default();

    // Let stragglers (a verification already queued) finish before counting calls.
    let settle = Duration::from_millis(config.worker.coalesce_window_ms) * 2;
    tokio::time::sleep(settle).await;
    let log = world.requests().await?;
    let mine = log
        .iter()
        .filter(|r| !(r.method == "POST" && r.path.ends_with("/assets/associate")))
        .count();
    let reads = log
        .iter()
        .filter(|r| {
            r.method == "GET" && (r.path.ends_with("/assets") || r.path.ends_with("/assignments"))
        })
        .count();
    let exact = compare(
        &js,
        LOCATION,
        &world.truth().await?,
        config.sync.users_active_only,
    )
    .await?
    .matches();
    let serve_peak_rss_mib = serve
        .pid()
        .and_then(peak_rss_bytes)
        .map(|b| b as f64 / 1048576.0);
    serve.stop().await;
    Ok(ReconcileResults {
        setup:
            "vppbridge serve (receiver + worker, default [worker] settings) as a child process; \
                simulator in the bench process at 15 requests/s, page size 1,000, notifications \
                over HTTP to the receiver; nats-server child"
                .to_owned(),
        assets: ASSETS,
        devices: DEVICES,
        notifications: expected,
        delivery_seconds: (last_delivery - associated_at) / 1000.0,
        seconds_to_exact_view: (exact_at - last_delivery) / 1000.0,
        seconds_from_associate: (exact_at - associated_at) / 1000.0,
        exact,
        apple_calls: mine,
        verification_reads: reads,
        minimum_calls: ASSETS,
        rate_limited_9646: rate_limited(&sync_log) + rate_limited(&log),
        calls_before_scenario: sync_log.len(),
        serve_peak_rss_mib,
    })
}
