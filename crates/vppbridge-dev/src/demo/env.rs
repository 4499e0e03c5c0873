//! The demo's world: a NATS server (the configured one when it answers, else a child process),
//! the simulator in-process, a temporary configuration with its token and secret files, and
//! `serve` (receiver + worker) in-process on its own listener and shutdown token.
//!
//! Everything is torn down by [`DemoEnv::stop`]; the nats-server child is also killed when
//! dropped, and the temporary folder removed. Must not play the scenario (that is `scenario`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use apple_vpp::AppleClient;
use apple_vpp::token::ContentToken;
use vppbridge::config::{
    AppleConfig, Config, HttpConfig, LocationConfig, MdmConfig, NatsConfig, SyncConfig,
    WorkerConfig,
};
use vppbridge_sim::{Faults, SeedSpec, SimConfig, SimHandle, Simulator};
use vppbridge_testkit::natsproc::NatsServer;

/// The scenario's size: assets, devices and users seeded in the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Assets (every 5th is a Book, assigned to users rather than devices).
    pub assets: usize,
    /// Devices.
    pub devices: usize,
    /// Users.
    pub users: usize,
}

impl Scale {
    /// Issue 6's scenario: 25 assets, 1,000 devices, 50 users.
    pub const FULL: Scale = Scale {
        assets: 25,
        devices: 1000,
        users: 50,
    };
}

/// Apple's rate limit, as the simulator enforces it and the clients keep to it.
const RATE_LIMIT: u32 = 15;

/// How long to wait for a configured NATS to answer before starting a child instead.
const NATS_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The running demo.
pub struct DemoEnv {
    /// The nats-server child, when the demo started one.
    pub nats_child: Option<NatsServer>,
    /// NATS as configured for `serve`.
    pub nats: NatsConfig,
    /// JetStream on the demo's own connection.
    pub js: jetstream::Context,
    /// The simulator (taken by [`DemoEnv::stop`]).
    pub sim: Option<SimHandle>,
    /// Apple's base URL on the simulator.
    pub sim_url: String,
    /// The simulator's admin API.
    pub admin_url: String,
    /// The location's `uId` at the simulator.
    pub u_id: String,
    /// The location's id in vppbridge.
    pub location: String,
    /// The configuration `serve` runs with (also written to [`DemoEnv::config_path`]).
    pub config: Config,
    /// The configuration file.
    pub config_path: PathBuf,
    /// The receiver's base URL.
    pub receiver_url: String,
    /// The demo driver's own Apple client (an MDM's other calls: associate, users, status).
    pub driver: AppleClient,
    /// Plain HTTP for the admin API and `/metrics`.
    pub http: reqwest::Client,
    /// Cancels `serve`.
    pub shutdown: CancellationToken,
    serve: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for DemoEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoEnv")
            .field("location", &self.location)
            .field("receiver_url", &self.receiver_url)
            .field("nats", &self.nats.url)
            .finish_non_exhaustive()
    }
}

/// The simulator's settings: realistic behaviour (rate limit on, asynchronous writes,
/// delivery retries) with delays short enough to watch.
fn sim_config(scale: Scale) -> SimConfig {
    SimConfig {
        page_size: 1000,
        allow_http_notifications: true,
        event_delay: Duration::from_millis(500),
        delivery_retry_delays: vec![Duration::from_secs(1), Duration::from_secs(3)],
        notification_timeout: Duration::from_secs(5),
        max_requests_per_second: RATE_LIMIT,
        faults: Faults::default(),
        seed: SeedSpec {
            locations: 1,
            assets: scale.assets,
            devices: scale.devices,
            users: scale.users,
            assigned: 0.0,
            seed: 6,
            licenses_per_asset: None,
        },
        token_lifetime: chrono::Duration::days(365),
        // The sync must repair from what Apple documents: no simulator extensions.
        ext_removed_assignments: false,
        content_metadata_url: None,
        extra_root_certs: None,
        token_mode: vppbridge_sim::TokenMode::Full,
    }
}

/// Uses the configured NATS when a configuration or `VPPBRIDGE_NATS_URL` names one that
/// answers with JetStream; otherwise starts a child. Returns the child, if any, and the settings.
async fn choose_nats(
    config_path: Option<&Path>,
) -> anyhow::Result<(Option<NatsServer>, NatsConfig)> {
    let named = config_path.is_some() || std::env::var_os("VPPBRIDGE_NATS_URL").is_some();
    if named {
        let configured = vppbridge::config::load(config_path)?.nats;
        let probe = async {
            let client = vppbridge::nats::connect(&configured).await?;
            jetstream::new(client).query_account().await?;
            anyhow::Ok(())
        };
        match tokio::time::timeout(NATS_PROBE_TIMEOUT, probe).await {
            Ok(Ok(())) => return Ok((None, configured)),
            Ok(Err(e)) => eprintln!(
                "NATS at {} does not answer with JetStream ({e:#}); starting a nats-server for the demo",
                configured.url
            ),
            Err(_) => eprintln!(
                "NATS at {} did not answer within {NATS_PROBE_TIMEOUT:?}; starting a nats-server for the demo",
                configured.url
            ),
        }
    }
    let child = NatsServer::start().await?;
    let nats = NatsConfig {
        url: child.url(),
        ..NatsConfig::default()
    };
    Ok((Some(child), nats))
}

impl DemoEnv {
    /// Starts NATS, the simulator and `serve`, writing the configuration into a temporary folder.
    ///
    /// # Errors
    /// When a part cannot start (no nats-server, a port, the configuration files).
    pub async fn start(config_path: Option<&Path>, scale: Scale) -> anyhow::Result<Self> {
        let (nats_child, nats) = choose_nats(config_path).await?;
        // A shared NATS may hold earlier demos' views: a fresh location id keeps them apart.
        let location = match nats_child {
            Some(_) => "demo".to_owned(),
            None => format!("demo-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]),
        };

        let sim_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind a port for the simulator")?;
        let sim = Simulator::start(sim_config(scale), sim_listener)
            .await
            .context("cannot start the simulator")?;
        let sim_location = sim
            .locations()
            .into_iter()
            .next()
            .context("the simulator seeded no location")?;

        let dir = tempfile::Builder::new()
            .prefix("vppbridge-demo-")
            .tempdir()
            .context("cannot create a temporary folder for the demo's configuration")?;
        let token_file = dir.path().join(format!("{location}.vpptoken"));
        std::fs::write(&token_file, &sim_location.token_text)
            .with_context(|| format!("cannot write {}", token_file.display()))?;
        let secret_file = dir.path().join(format!("{location}.secret"));
        vppbridge::secret::write_new(&secret_file, false)?;

        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind a port for the receiver")?;
        let addr = listener.local_addr()?;
        let receiver_url = format!("http://{addr}");
        let config = Config {
            http: HttpConfig {
                listen: addr,
                public_url: receiver_url.clone(),
                ..HttpConfig::default()
            },
            nats: nats.clone(),
            apple: AppleConfig {
                base_url: sim.base_url(),
                request_timeout_secs: 10,
                max_attempts: 5,
                retry_base_delay_ms: 200,
                retry_max_delay_secs: 5,
                max_requests_per_second: RATE_LIMIT,
            },
            mdm: MdmConfig {
                id: uuid::Uuid::new_v4().to_string(),
                name: "vppbridge demo".to_owned(),
            },
            worker: WorkerConfig {
                coalesce_window_ms: 300,
                backoff_secs: vec![1, 2, 5],
                ack_wait_secs: 30,
                ..WorkerConfig::default()
            },
            // The demo triggers its one sync itself, so the repair it shows is the one it ran.
            sync: SyncConfig {
                incremental_interval_secs: 0,
                full_interval_secs: 0,
                users_active_only: true,
            },
            // The associate, drop and shortage steps go through `vppbridge assign|unassign`.
            // Event Status is polled after seconds rather than Apple's 5 minutes (30 s apart),
            // like the simulator's shortened delays: a request whose pairs partly failed (the
            // shortage's 9709) is settled from its status while the audience watches.
            // A pass every 15 s when nothing wakes it (a desired change does at once): each pass
            // reads the location's 20,000 desired keys and their records.
            intents: vppbridge::config::IntentsConfig {
                interval_ms: 15_000,
                status_poll_after_secs: 2,
                status_poll_interval_secs: 2,
                ..vppbridge::config::IntentsConfig::default()
            },
            // A single worker owns the location within one heartbeat of start.
            cluster: vppbridge::config::ClusterConfig::default(),
            locations: vec![LocationConfig {
                id: location.clone(),
                token_file: token_file.clone(),
                notification_secret_file: secret_file,
                previous_notification_secret_file: None,
                notification_types: None,
            }],
        };
        let config_path = dir.path().join("vppbridge.toml");
        let text = toml::to_string_pretty(&config)
            .context("cannot write the demo's configuration as TOML")?;
        std::fs::write(&config_path, text)
            .with_context(|| format!("cannot write {}", config_path.display()))?;

        let client = vppbridge::nats::connect(&nats).await?;
        let js = jetstream::new(client);
        let shutdown = CancellationToken::new();
        let serve = tokio::spawn(vppbridge::app::serve(
            config.clone(),
            vppbridge::app::ServeArgs::default(),
            listener,
            shutdown.clone(),
        ));

        let token = ContentToken::from_file(&token_file)?;
        let driver = AppleClient::new(&config.apple.client_settings(), token, None)?
            .with_location(&location);
        Ok(DemoEnv {
            nats_child,
            nats,
            js,
            sim_url: sim.base_url(),
            admin_url: sim.admin_url(),
            sim: Some(sim),
            u_id: sim_location.u_id,
            location,
            config,
            config_path,
            receiver_url,
            driver,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .context("cannot build an HTTP client")?,
            shutdown,
            serve: Some(serve),
            _dir: dir,
        })
    }

    /// Takes `serve`'s task, to watch it while the scenario plays.
    ///
    /// # Panics
    /// Never: only [`DemoEnv::start`] sets it and only this takes it; a second call would get a
    /// task that is already finished.
    pub fn take_serve(&mut self) -> JoinHandle<anyhow::Result<()>> {
        self.serve
            .take()
            .unwrap_or_else(|| tokio::spawn(async { Ok(()) }))
    }

    /// Stops `serve` (draining it), the simulator and the nats-server child.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        // Closed before the server goes, so the connection does not try to reconnect.
        if let Err(e) = self.js.client().drain().await {
            tracing::debug!(error = %e, "draining the demo's NATS connection");
        }
        if let Some(serve) = self.serve.take() {
            match serve.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %format!("{e:#}"), "serve ended with an error")
                }
                Err(e) => tracing::warn!(error = %e, "serve task ended abnormally"),
            }
        }
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
        if let Some(mut nats) = self.nats_child.take() {
            nats.kill().await;
        }
    }
}
