//! End-to-end latency: the time from a notification posted to the receiver to the change event
//! for it on `vpp.changes.>`, what an MDM backend feels; and the worker's throughput ceiling.
//!
//! `vppbridge serve` (receiver and worker, a child process, default settings but the coalescing
//! window) against the simulator in this process. For each window:
//!
//! 1. **Steady rate**: [`RATE`] notifications a second for [`SECONDS`] s, spread round-robin over
//!    [`ASSETS`] Apps, each an `ASSET_MANAGEMENT` `ASSOCIATE` `SUCCESS` for
//!    [`PER_NOTIFICATION`] fresh devices. Just before each post, the bench makes the same
//!    associate call to the simulator, so Apple's truth holds what the notification says (the
//!    simulator has no notification URL registered: it delivers nothing itself). The latency
//!    of an assignment is from the start of its notification's POST to the arrival of its
//!    `vppbridge.assignment.added.v1` event (core NATS subscription in this process), whatever
//!    caused the event (the notification's delta or a verification that found the license).
//! 2. **Ceiling**: [`CEILING_NOTIFICATIONS`] more notifications (their licenses associated
//!    first) posted as fast as 32 connections allow; the rate is the count over the time from
//!    the first post to the worker's consumer having nothing pending or unacknowledged. The
//!    simulator answers at once; vppbridge keeps its own Apple budget (15 requests/s).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream;
use futures::StreamExt as _;
use serde::Serialize;

use super::child::{VppChild, poll_until};
use super::load::run_fixed;
use super::scenario::{first_full_sync, serve_ready};
use super::setup::{BenchLocation, base_config, free_addr, write_config};
use super::stats::percentile_ms;
use super::world::World;
use apple_vpp::AppleClient;
use apple_vpp::token::ContentToken;
use apple_vpp::types::{Asset, ClientConfigRequest, ManageAssetsRequest, MdmInfo};
use vppbridge_sim::{SeedSpec, SimConfig};
use vppbridge_testkit::natsproc::NatsServer;

/// The location id.
const LOCATION: &str = "bench";
/// Notifications per second in the steady phase.
pub const RATE: u32 = 200;
/// Seconds of the steady phase.
pub const SECONDS: u64 = 10;
/// Apps the notifications are spread over.
pub const ASSETS: usize = 25;
/// Devices per notification.
pub const PER_NOTIFICATION: usize = 3;
/// Notifications of the ceiling phase.
pub const CEILING_NOTIFICATIONS: usize = 1000;
/// The windows measured: the default and 200 ms.
pub const WINDOWS_MS: [u64; 2] = [2000, 200];
/// How long to wait for the last change events or the drained consumer.
const DRAIN_DEADLINE: Duration = Duration::from_secs(90);

/// One window's figures.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRun {
    /// `worker.coalesce_window_ms`.
    pub coalesce_window_ms: u64,
    /// Notifications posted in the steady phase (answered 200).
    pub notifications: usize,
    /// Posts not answered 200.
    pub post_errors: usize,
    /// Assignment-added events expected (one per device per notification).
    pub expected_events: usize,
    /// Of which received within the deadline.
    pub received_events: usize,
    /// Latency percentiles over the received events, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Notifications a second the worker reconciled (acknowledged) in the ceiling phase.
    pub ceiling_per_second: f64,
}

/// The end-to-end latency results.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyResults {
    /// How the parts ran.
    pub setup: String,
    /// Notifications per second in the steady phase.
    pub rate: u32,
    /// Seconds of the steady phase.
    pub seconds: u64,
    /// Apps the notifications are spread over.
    pub assets: usize,
    /// Notifications in the ceiling phase.
    pub ceiling_notifications: usize,
    /// One run per window.
    pub runs: Vec<LatencyRun>,
}

/// Runs the end-to-end latency benchmark at each window of [`WINDOWS_MS`].
///
/// # Errors
/// When a part cannot start.
pub async fn run() -> anyhow::Result<LatencyResults> {
    let mut runs = Vec::new();
    for window in WINDOWS_MS {
        runs.push(one_window(window).await.with_context(|| {
            format!("the end-to-end latency with a {window} ms coalescing window")
        })?);
    }
    Ok(LatencyResults {
        setup: "vppbridge serve (receiver + worker, default settings but \
                worker.coalesce_window_ms) as a child process; simulator in the bench process \
                answering at once (vppbridge's own budget: 15 requests/s); nats-server child; \
                change events read by a core NATS subscription in the bench process"
            .to_owned(),
        rate: RATE,
        seconds: SECONDS,
        assets: ASSETS,
        ceiling_notifications: CEILING_NOTIFICATIONS,
        runs,
    })
}

/// When each device's notification was posted, and when its added event arrived.
#[derive(Default)]
struct Times {
    posted: HashMap<String, Instant>,
    added: HashMap<String, Instant>,
}

type Shared = Arc<Mutex<Times>>;

fn lock(t: &Shared) -> std::sync::MutexGuard<'_, Times> {
    // A poisoned lock only means a task panicked while recording; the times stay usable.
    t.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn one_window(window_ms: u64) -> anyhow::Result<LatencyRun> {
    let nats = NatsServer::start().await?;
    let world = World::start(SimConfig {
        max_requests_per_second: 100_000,
        event_delay: Duration::ZERO,
        seed: SeedSpec {
            locations: 1,
            // Every fifth seeded asset is a Book (not device-assignable): 32 give 26 Apps.
            assets: 32,
            devices: 10,
            users: 1,
            assigned: 0.0,
            seed: 25,
            licenses_per_asset: Some(1_000_000),
        },
        ..SimConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let listen = free_addr()?;
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let mut config = base_config(&nats.url(), listen);
    config.apple.base_url = world.sim.base_url();
    config.worker.coalesce_window_ms = window_ms;
    let location = BenchLocation {
        id: LOCATION.to_owned(),
        token_text: world.token_text.clone(),
        secret: secret.clone(),
    };
    let config_path = write_config(dir.path(), config.clone(), &[location])?;
    let mut serve = serve_ready(&config_path, dir.path(), listen).await?;

    // The MDM's side, with a budget of its own so it never slows vppbridge's.
    let token = ContentToken::parse(&world.token_text).context("the simulator's token")?;
    let mut settings = config.apple.client_settings();
    settings.max_requests_per_second = 10_000;
    let apple = Arc::new(AppleClient::new(&settings, token, None)?);
    apple
        .set_client_config(&ClientConfigRequest {
            mdm_info: Some(MdmInfo {
                id: config.mdm.id.clone(),
                name: "vppbridge".into(),
                metadata: "bench".into(),
            }),
            notification_url: None,
            notification_auth_token: None,
            notification_types: None,
        })
        .await
        .context("recording the MDM with the simulator")?;
    let client = async_nats::connect(nats.url()).await?;
    let js = jetstream::new(client.clone());
    first_full_sync(&mut serve, &js).await?;
    let apps = world.apps(ASSETS).await?;

    let times: Shared = Arc::default();
    let mut changes = client
        .subscribe(format!("vpp.changes.{LOCATION}.>"))
        .await
        .context("cannot subscribe to the change events")?;
    let collector = {
        let times = Arc::clone(&times);
        tokio::spawn(async move {
            while let Some(msg) = changes.next().await {
                let at = Instant::now();
                if let Some(serial) = added_serial(&msg.payload) {
                    lock(&times).added.entry(serial).or_insert(at);
                }
            }
        })
    };
    let post = Poster {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()
            .context("cannot build the HTTP client")?,
        url: Arc::new(format!("http://{listen}/notifications/{LOCATION}")),
        secret: Arc::new(secret),
        u_id: Arc::new(world.u_id.clone()),
        apps: Arc::new(apps),
        times: Arc::clone(&times),
    };

    // 1. Steady rate.
    let count = (u64::from(RATE) * SECONDS) as usize;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / RATE);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        tick.tick().await;
        let (post, apple) = (post.clone(), Arc::clone(&apple));
        tasks.spawn(async move {
            let (asset, serials) = post.notification(i, "S");
            apple
                .associate(&ManageAssetsRequest {
                    assets: vec![asset.clone()],
                    client_user_ids: vec![],
                    serial_numbers: serials.clone(),
                })
                .await?;
            post.send(&asset, &serials).await
        });
    }
    let mut post_errors = 0;
    while let Some(joined) = tasks.join_next().await {
        if !matches!(joined, Ok(Ok(()))) {
            post_errors += 1;
        }
    }
    let expected_events = count * PER_NOTIFICATION;
    let deadline = Instant::now() + DRAIN_DEADLINE;
    let latencies = loop {
        let (got, latencies) = {
            let t = lock(&times);
            let l: Vec<Duration> = t
                .posted
                .iter()
                .filter_map(|(s, p)| t.added.get(s).map(|a| a.saturating_duration_since(*p)))
                .collect();
            (t.posted.len(), l)
        };
        if latencies.len() >= got || Instant::now() >= deadline {
            break latencies;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // 2. Ceiling.
    let ceiling_per_second =
        ceiling(&post, &apple, &js, &config.worker.durable_name, &mut serve).await?;
    collector.abort();
    serve.stop().await;
    let mut sorted = latencies;
    sorted.sort_unstable();
    Ok(LatencyRun {
        coalesce_window_ms: window_ms,
        notifications: count - post_errors,
        post_errors,
        expected_events,
        received_events: sorted.len(),
        p50_ms: percentile_ms(&sorted, 0.50),
        p99_ms: percentile_ms(&sorted, 0.99),
        p999_ms: percentile_ms(&sorted, 0.999),
        max_ms: sorted.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        ceiling_per_second,
    })
}

/// Associates the ceiling phase's devices at once, posts its notifications with 32 in flight,
/// and returns notifications per second until the worker's consumer is drained.
async fn ceiling(
    post: &Poster,
    apple: &AppleClient,
    js: &jetstream::Context,
    durable: &str,
    serve: &mut VppChild,
) -> anyhow::Result<f64> {
    let planned: Vec<(Asset, Vec<String>)> = (0..CEILING_NOTIFICATIONS)
        .map(|i| post.notification(i, "C"))
        .collect();
    for asset in post.apps.iter() {
        let serial_numbers: Vec<String> = planned
            .iter()
            .filter(|(a, _)| a == asset)
            .flat_map(|(_, s)| s.iter().cloned())
            .collect();
        apple
            .associate(&ManageAssetsRequest {
                assets: vec![asset.clone()],
                client_user_ids: vec![],
                serial_numbers,
            })
            .await
            .context("associating the ceiling phase's devices")?;
    }
    let planned = Arc::new(planned);
    let started = Instant::now();
    let stats = {
        let post = post.clone();
        run_fixed(32, CEILING_NOTIFICATIONS, move |i| {
            let (post, planned) = (post.clone(), Arc::clone(&planned));
            async move {
                let (asset, serials) = &planned[i];
                post.send(asset, serials).await
            }
        })
        .await
    };
    anyhow::ensure!(stats.errors == 0, "{} ceiling posts failed", stats.errors);
    let consumer = js
        .get_stream(vppbridge::nats::NOTIFICATIONS_STREAM)
        .await?
        .get_consumer::<jetstream::consumer::pull::Config>(durable)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the worker's consumer {durable}: {e}"))?;
    poll_until(
        serve,
        DRAIN_DEADLINE,
        Duration::from_millis(20),
        "a drained consumer",
        || {
            let consumer = &consumer;
            async move {
                let info = consumer.get_info().await.ok()?;
                (info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
            }
        },
    )
    .await?;
    Ok(CEILING_NOTIFICATIONS as f64 / started.elapsed().as_secs_f64())
}

/// Posts notifications as Apple would.
#[derive(Clone)]
struct Poster {
    http: reqwest::Client,
    url: Arc<String>,
    secret: Arc<String>,
    u_id: Arc<String>,
    apps: Arc<Vec<Asset>>,
    times: Shared,
}

impl Poster {
    /// The asset and fresh devices of notification `i` of a phase (`tag` keeps phases apart).
    fn notification(&self, i: usize, tag: &str) -> (Asset, Vec<String>) {
        let asset = self.apps[i % self.apps.len()].clone();
        let serials = (0..PER_NOTIFICATION)
            .map(|k| format!("{tag}{:010}", i * PER_NOTIFICATION + k))
            .collect();
        (asset, serials)
    }

    /// Posts the notification that `serials` were associated with `asset`.
    async fn send(&self, asset: &Asset, serials: &[String]) -> anyhow::Result<()> {
        let body = serde_json::json!({
            "notification": {
                "assignments": serials.iter().map(|s| serde_json::json!({
                    "adamId": asset.adam_id,
                    "pricingParam": asset.pricing_param,
                    "serialNumber": s,
                })).collect::<Vec<_>>(),
                "eventId": uuid::Uuid::new_v4().to_string(),
                "result": "SUCCESS",
                "type": "ASSOCIATE",
            },
            "notificationId": uuid::Uuid::new_v4().to_string(),
            "notificationType": "ASSET_MANAGEMENT",
            "uId": self.u_id.as_str(),
        });
        let at = Instant::now();
        {
            let mut t = lock(&self.times);
            for s in serials {
                t.posted.insert(s.clone(), at);
            }
        }
        let response = self
            .http
            .post(self.url.as_str())
            .bearer_auth(self.secret.as_str())
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let _ = response.bytes().await?;
        anyhow::ensure!(status == 200, "the receiver answered {status}");
        Ok(())
    }
}

/// The device serial number of a `vppbridge.assignment.added.v1` event.
fn added_serial(payload: &[u8]) -> Option<String> {
    let event: serde_json::Value = serde_json::from_slice(payload).ok()?;
    if event.get("type")?.as_str()? != "vppbridge.assignment.added.v1" {
        return None;
    }
    Some(
        event
            .pointer("/data/new/serialNumber")?
            .as_str()?
            .to_owned(),
    )
}
