//! The simulated Apple side of the reconciliation and sync benchmarks: the simulator in this
//! process (it stands in for Apple, so its CPU is not vppbridge's), its admin API (the truth,
//! the request and delivery logs), and the comparison of vppbridge's view with the truth (the
//! testkit's [`vppbridge_testkit::truth`], the one the demo and the fault suite use too).

use std::time::Instant;

use anyhow::Context as _;
use async_nats::jetstream;
use serde::Deserialize;

use apple_vpp::types::Asset;
use vppbridge_sim::{SimConfig, SimHandle, Simulator};
use vppbridge_testkit::truth::{self, Comparison, SimState};

/// The simulator and what the benchmark needs from it.
pub struct World {
    /// The running simulator.
    pub sim: SimHandle,
    /// The seeded location's `uId`.
    pub u_id: String,
    /// The seeded location's token text.
    pub token_text: String,
    /// Roughly when the simulator started: its logs' `atMs` count from here.
    pub started: Instant,
    http: reqwest::Client,
}

/// One Apple call in the request log.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Logged {
    /// Milliseconds since the simulator started.
    pub at_ms: f64,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Apple's error number, when one was answered.
    pub error_number: Option<i32>,
}

/// One notification delivery attempt.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Milliseconds since the simulator started.
    pub at_ms: f64,
    /// `ASSET_MANAGEMENT`, ...
    pub notification_type: String,
    /// The receiver's answer, if any.
    pub status: Option<u16>,
}

impl World {
    /// Starts the simulator with `config` on a free port.
    ///
    /// # Errors
    /// When it cannot listen or seeds no location.
    pub async fn start(config: SimConfig) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("the simulator cannot listen")?;
        let started = Instant::now();
        let sim = Simulator::start(config, listener)
            .await
            .context("the simulator did not start")?;
        let loc = sim
            .locations()
            .into_iter()
            .next()
            .context("the simulator seeded no location")?;
        Ok(World {
            sim,
            u_id: loc.u_id,
            token_text: loc.token_text,
            started,
            http: reqwest::Client::new(),
        })
    }

    async fn admin_get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.sim.admin_url());
        let r = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        anyhow::ensure!(r.status().is_success(), "GET {url}: {}", r.status());
        r.json().await.with_context(|| format!("GET {url}: body"))
    }

    /// The simulator's truth for the location (`GET /_sim/locations/{uId}/state`).
    ///
    /// # Errors
    /// When the admin API fails.
    pub async fn truth(&self) -> anyhow::Result<SimState> {
        Ok(truth::fetch_truth(&self.http, &self.sim.admin_url(), &self.u_id).await?)
    }

    /// The request log (every Apple call since the last clear).
    ///
    /// # Errors
    /// When the admin API fails.
    pub async fn requests(&self) -> anyhow::Result<Vec<Logged>> {
        self.admin_get("requests").await
    }

    /// Empties the request log.
    ///
    /// # Errors
    /// When the admin API fails.
    pub async fn clear_requests(&self) -> anyhow::Result<()> {
        let url = format!("{}requests", self.sim.admin_url());
        self.http
            .delete(&url)
            .send()
            .await
            .with_context(|| format!("DELETE {url}"))?;
        Ok(())
    }

    /// Every notification delivery attempt so far.
    ///
    /// # Errors
    /// When the admin API fails.
    pub async fn deliveries(&self) -> anyhow::Result<Vec<Delivery>> {
        self.admin_get("notifications").await
    }

    /// The first `n` device-assignable assets (Apps) of the location, in order.
    ///
    /// # Errors
    /// When the admin API fails or fewer than `n` Apps are seeded.
    pub async fn apps(&self, n: usize) -> anyhow::Result<Vec<Asset>> {
        let truth = self.truth().await?;
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
            apps.len() >= n,
            "the simulator seeded only {} Apps, {n} wanted",
            apps.len()
        );
        apps.truncate(n);
        Ok(apps)
    }

    /// Milliseconds since the simulator started, on its logs' clock.
    pub fn now_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }
}

/// Calls answered with 9646 (rate limit) in `log`.
pub fn rate_limited(log: &[Logged]) -> usize {
    log.iter().filter(|r| r.error_number == Some(9646)).count()
}

/// Compares vppbridge's view of `location` with `truth`: assets with their counts,
/// assignments, and users with their status (`users_active_only` is the configuration's
/// `sync.users_active_only`).
///
/// # Errors
/// When the view cannot be read.
pub async fn compare(
    js: &jetstream::Context,
    location: &str,
    truth: &SimState,
    users_active_only: bool,
) -> anyhow::Result<Comparison> {
    let view = truth::read_view(js, location).await?;
    Ok(truth::compare(&view, &truth.snapshot(users_active_only)))
}
