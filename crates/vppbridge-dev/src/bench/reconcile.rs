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

use super::child::{VppChild, peak_rss_bytes, poll_until};
use super::setup::{BenchLocation, base_config, free_addr, write_config};
use super::world::{World, compare, rate_limited};
use apple_vpp::AppleClient;
use apple_vpp::token::ContentToken;
use apple_vpp::types::{
    Asset, ClientConfigRequest, ManageAssetsRequest, MdmInfo, notification_type,
};
use vppbridge::view::View;
use vppbridge::view::state::SyncState;
use vppbridge_sim::{SeedSpec, SimConfig};
use vppbridge_testkit::natsproc::NatsServer;

/// The location id.
const LOCATION: &str = "bench";
/// Assets associated in the scenario.
pub const ASSETS: usize = 25;
/// Devices each asset is associated with.
pub const DEVICES: usize = 1000;
/// Apple's rate limit, in requests per second.
pub const RATE: u32 = 15;
/// Assignments per `ASSET_MANAGEMENT` notification (the simulator's batch, as Apple's).
const PER_NOTIFICATION: usize = 100;
/// How often the view is compared with the truth.
const POLL: Duration = Duration::from_millis(100);

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
    let nats = NatsServer::start().await?;
    let world = World::start(SimConfig {
        allow_http_notifications: true,
        max_requests_per_second: RATE,
        seed: SeedSpec {
            locations: 1,
            // Every fifth seeded asset is a Book (not device-assignable): 32 give 26 Apps.
            assets: 32,
            devices: DEVICES,
            users: 10,
            assigned: 0.0,
            seed: 25,
            licenses_per_asset: None,
        },
        ..SimConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let listen = free_addr()?;
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let mut config = base_config(&nats.url(), listen);
    config.apple.base_url = world.sim.base_url();
    config.apple.max_requests_per_second = RATE;
    let location = BenchLocation {
        id: LOCATION.to_owned(),
        token_text: world.token_text.clone(),
        secret: secret.clone(),
    };
    let config_path = write_config(dir.path(), config.clone(), &[location])?;
    let config_arg = config_path.to_string_lossy().into_owned();
    let mut serve = VppChild::spawn(
        &["--config", &config_arg, "serve"],
        &dir.path().join("serve.log"),
    )?;
    let http = reqwest::Client::new();
    let ready_url = format!("http://{listen}/readyz");
    poll_until(
        &mut serve,
        Duration::from_secs(30),
        Duration::from_millis(50),
        "readiness",
        || {
            let (http, url) = (http.clone(), ready_url.clone());
            async move { (http.get(url).send().await.ok()?.status() == 200).then_some(()) }
        },
    )
    .await?;

    // The MDM's side: register the receiver, then (after the first sync) associate.
    let token = ContentToken::parse(&world.token_text).context("the simulator's token")?;
    let apple = AppleClient::new(&config.apple.client_settings(), token, None)?;
    apple
        .set_client_config(&ClientConfigRequest {
            mdm_info: Some(MdmInfo {
                id: config.mdm.id.clone(),
                name: "vppbridge".into(),
                metadata: "bench".into(),
            }),
            notification_url: Some(format!("http://{listen}/notifications/{LOCATION}")),
            notification_auth_token: Some(secret),
            notification_types: Some(
                notification_type::SUBSCRIBABLE
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
            ),
        })
        .await
        .context("registering the receiver with the simulator")?;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
    let view = View::open(&js).await?;
    let sync_key = format!("{LOCATION}.sync");
    poll_until(
        &mut serve,
        Duration::from_secs(60),
        POLL,
        "the first full sync",
        || {
            let (view, key) = (&view, &sync_key);
            async move {
                let s: SyncState = view.state(key).await.ok().flatten()?;
                s.last_full_sync.map(|_| ())
            }
        },
    )
    .await?;
    let sync_log = world.requests().await?;
    world.clear_requests().await?;

    let truth = world.truth().await?;
    let mut apps: Vec<Asset> = truth
        .assets
        .iter()
        .filter(|a| a.device_assignable)
        .map(|a| Asset {
            adam_id: a.adam_id.clone(),
            pricing_param: a.pricing_param.clone(),
        })
        .collect();
    apps.sort();
    anyhow::ensure!(
        apps.len() >= ASSETS,
        "the simulator seeded only {} Apps",
        apps.len()
    );
    apps.truncate(ASSETS);
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
