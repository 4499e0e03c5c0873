//! Sync: `vppbridge sync --full` of 100,000 assignments (100 Apps × 1,000 devices, page size
//! 1,000) against the simulator at 15 requests/s, run as a child process so its time and memory
//! are its own.
//!
//! Measured: wall time from starting the process to its exit against the floor the rate limit
//! sets, (Apple calls made) / rate; the process's peak resident memory, read from `VmHWM` in
//! `/proc/<pid>/status` every [`RSS_POLL`] while it runs (the peak is a high-water mark, so a
//! missed poll can only miss growth in the last interval before exit); and whether the view
//! equals the truth afterwards. Then drift no notification told of (3 Apps × 100 devices
//! disassociated by the bench's own client) and the Apple calls of the incremental
//! `vppbridge sync` that repairs it, against the full sync's.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use super::child::{VppChild, peak_rss_bytes};
use super::setup::{BenchLocation, base_config, free_addr, write_config};
use super::world::{World, compare, rate_limited};
use apple_vpp::AppleClient;
use apple_vpp::token::ContentToken;
use apple_vpp::types::ManageAssetsRequest;
use vppbridge_sim::{SeedSpec, SimConfig};
use vppbridge_testkit::natsproc::NatsServer;

/// The location id.
const LOCATION: &str = "bench";
/// Apps: every fifth seeded asset is a Book, so 125 seeded assets hold 100 Apps.
const SEEDED_ASSETS: usize = 125;
/// Devices, each assigned every App.
pub const DEVICES: usize = 1000;
/// Apple's rate limit, in requests per second.
pub const RATE: u32 = 15;
/// Records per page.
pub const PAGE_SIZE: usize = 1000;
/// How often the child's `VmHWM` is read.
const RSS_POLL: Duration = Duration::from_millis(10);
/// The goal: time within this factor of the floor.
pub const GOAL_FACTOR: f64 = 1.2;
/// The goal: peak memory below this, in MiB.
pub const GOAL_RSS_MIB: f64 = 200.0;

/// The sync results.
#[derive(Debug, Clone, Serialize)]
pub struct SyncResults {
    /// How the parts ran.
    pub setup: String,
    /// Assignments at Apple.
    pub assignments: usize,
    /// Records per page.
    pub page_size: usize,
    /// Requests per second allowed.
    pub rate: u32,
    /// Apple calls the sync made.
    pub apple_calls: usize,
    /// `apple_calls / rate`, in seconds.
    pub floor_seconds: f64,
    /// From starting the process to its exit, in seconds.
    pub seconds: f64,
    /// From the first Apple call to the last, in seconds.
    pub apple_span_seconds: f64,
    /// `seconds / floor_seconds`.
    pub factor: f64,
    /// Peak resident memory of the sync process, in MiB.
    pub peak_rss_mib: f64,
    /// 9646 answers received.
    pub rate_limited_9646: usize,
    /// Whether the view equals the truth afterwards.
    pub exact: bool,
    /// Whether the process exited 0.
    pub exit_ok: bool,
    /// Both goals: factor ≤ `GOAL_FACTOR` and peak < `GOAL_RSS_MIB`.
    pub goal_met: bool,
    /// Then drift no notification told of: assignments removed at Apple (3 Apps × 100 devices).
    pub repair_removed: usize,
    /// Apple calls of the incremental `vppbridge sync` that repaired it.
    pub repair_apple_calls: usize,
    /// Whether the view equals the truth after that incremental sync.
    pub repair_exact: bool,
}

/// Runs the sync benchmark.
///
/// # Errors
/// When a part cannot start or the view cannot be read.
pub async fn run() -> anyhow::Result<SyncResults> {
    let nats = NatsServer::start().await?;
    let world = World::start(SimConfig {
        page_size: PAGE_SIZE,
        max_requests_per_second: RATE,
        seed: SeedSpec {
            locations: 1,
            assets: SEEDED_ASSETS,
            devices: DEVICES,
            users: 10,
            assigned: 1.0,
            seed: 100,
            licenses_per_asset: None,
        },
        ..SimConfig::default()
    })
    .await?;
    let truth = world.truth().await?;
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let mut config = base_config(&nats.url(), free_addr()?);
    config.apple.base_url = world.sim.base_url();
    config.apple.max_requests_per_second = RATE;
    let location = BenchLocation {
        id: LOCATION.to_owned(),
        token_text: world.token_text.clone(),
        secret: uuid::Uuid::new_v4().simple().to_string(),
    };
    let config_path = write_config(dir.path(), config.clone(), &[location])?;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
    vppbridge::nats::setup(&js, &config.nats).await?;
    world.clear_requests().await?;

    let config_arg = config_path.to_string_lossy().into_owned();
    let started = Instant::now();
    let mut child = VppChild::spawn(
        &[
            "--config",
            &config_arg,
            "sync",
            "--location",
            LOCATION,
            "--full",
        ],
        &dir.path().join("sync.log"),
    )?;
    let pid = child.pid().context("the sync process has no pid")?;
    let mut peak = 0u64;
    let status = loop {
        if let Some(b) = peak_rss_bytes(pid) {
            peak = peak.max(b);
        }
        if let Some(status) = child.try_exit()? {
            break status;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the sync did not finish within 10 minutes"
        );
        tokio::time::sleep(RSS_POLL).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        tracing::error!("{}", child.failure(&format!("exited with {status}")));
    }
    let log = world.requests().await?;
    let first = log.iter().map(|r| r.at_ms).fold(f64::INFINITY, f64::min);
    let last = log.iter().map(|r| r.at_ms).fold(0.0, f64::max);
    let floor_seconds = log.len() as f64 / f64::from(RATE);
    let exact = compare(&js, LOCATION, &truth, config.sync.users_active_only)
        .await?
        .matches();
    let peak_rss_mib = peak as f64 / 1048576.0;
    let repair = repair(
        &world,
        truth.assignments.len(),
        &js,
        &config,
        &config_arg,
        dir.path(),
    )
    .await?;
    let factor = if floor_seconds > 0.0 {
        seconds / floor_seconds
    } else {
        0.0
    };
    Ok(SyncResults {
        setup: "vppbridge sync --full as a child process (release build), peak RSS from VmHWM \
                polled every 10 ms; simulator in the bench process; nats-server child"
            .to_owned(),
        assignments: truth.assignments.len(),
        page_size: PAGE_SIZE,
        rate: RATE,
        apple_calls: log.len(),
        floor_seconds,
        seconds,
        apple_span_seconds: if log.is_empty() {
            0.0
        } else {
            (last - first) / 1000.0
        },
        factor,
        peak_rss_mib,
        rate_limited_9646: rate_limited(&log),
        exact,
        exit_ok: status.success(),
        goal_met: status.success() && exact && factor <= GOAL_FACTOR && peak_rss_mib < GOAL_RSS_MIB,
        repair_removed: REPAIR_APPS * REPAIR_DEVICES,
        repair_apple_calls: repair.0,
        repair_exact: repair.1,
    })
}

/// Apps and devices disassociated behind vppbridge's back before the incremental sync.
const REPAIR_APPS: usize = 3;
/// See [`REPAIR_APPS`].
const REPAIR_DEVICES: usize = 100;

/// Disassociates [`REPAIR_APPS`] × [`REPAIR_DEVICES`] with the bench's own client (no
/// notification URL is registered, so nothing tells vppbridge), then runs `vppbridge sync
/// --location bench` (incremental, from documented data only: `assignedCount` against the view
/// and a re-read of the assets that differ). `assignments` is what Apple holds before. Returns
/// its Apple calls and whether the view then equals the truth.
async fn repair(
    world: &World,
    assignments: usize,
    js: &async_nats::jetstream::Context,
    config: &vppbridge::config::Config,
    config_arg: &str,
    dir: &std::path::Path,
) -> anyhow::Result<(usize, bool)> {
    let token = ContentToken::parse(&world.token_text).context("the simulator's token")?;
    let apple = AppleClient::new(&config.apple.client_settings(), token, None)?;
    let apps = world.apps(REPAIR_APPS).await?;
    apple
        .disassociate(&ManageAssetsRequest {
            assets: apps,
            client_user_ids: vec![],
            serial_numbers: (1..=REPAIR_DEVICES).map(|i| format!("SIM{i:09}")).collect(),
        })
        .await
        .context("the disassociate call")?;
    let want = assignments - REPAIR_APPS * REPAIR_DEVICES;
    let deadline = Instant::now() + Duration::from_secs(60);
    let truth = loop {
        let t = world.truth().await?;
        if t.assignments.len() == want {
            break t;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the disassociate did not complete"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    world.clear_requests().await?;
    let child = VppChild::spawn(
        &["--config", config_arg, "sync", "--location", LOCATION],
        &dir.join("repair.log"),
    )?;
    child.succeed().await?;
    let calls = world.requests().await?.len();
    let exact = compare(js, LOCATION, &truth, config.sync.users_active_only)
        .await?
        .matches();
    Ok((calls, exact))
}
