//! What the reconciliation and convergence benchmarks start the same way: nats-server, the
//! simulator at Apple's rate, `vppbridge serve` (receiver and worker) as a child process, the
//! receiver registered with the simulator as an MDM would, and the first full sync done.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;

use super::child::{VppChild, poll_until};
use super::setup::{BenchLocation, base_config, free_addr, write_config};
use super::world::{Logged, World};
use apple_vpp::AppleClient;
use apple_vpp::token::ContentToken;
use apple_vpp::types::{ClientConfigRequest, MdmInfo, notification_type};
use vppbridge::config::Config;
use vppbridge::view::View;
use vppbridge::view::state::SyncState;
use vppbridge_sim::{SeedSpec, SimConfig};
use vppbridge_testkit::natsproc::NatsServer;

/// The location id.
pub const LOCATION: &str = "bench";
/// How often a scenario polls for its end.
pub const POLL: Duration = Duration::from_millis(100);

/// A running scenario, ready for the MDM's first call.
pub struct Scenario {
    /// The nats-server child (kept alive with the scenario).
    pub nats: NatsServer,
    /// The simulated Apple.
    pub world: World,
    /// `vppbridge serve`.
    pub serve: VppChild,
    /// The configuration `serve` runs with.
    pub config: Config,
    /// Its file, for one-off `vppbridge` commands.
    pub config_path: PathBuf,
    /// The MDM's own client of the location (registration, direct writes).
    pub apple: AppleClient,
    /// JetStream, to read the view.
    pub js: jetstream::Context,
    /// Apple calls before the scenario: the registration, `serve`'s start-up and first sync.
    pub calls_before: Vec<Logged>,
    /// The temporary folder holding the configuration, tokens, secrets and logs.
    pub dir: tempfile::TempDir,
}

impl Scenario {
    /// Starts everything with the simulator seeded by `seed` at `rate` requests/s and `serve`
    /// on the production defaults. Returns once the first full sync is recorded, with the
    /// simulator's request log cleared.
    ///
    /// # Errors
    /// When a part cannot start or the first sync does not end within a minute.
    pub async fn start(seed: SeedSpec, rate: u32) -> anyhow::Result<Self> {
        let nats = NatsServer::start().await?;
        let world = World::start(SimConfig {
            allow_http_notifications: true,
            max_requests_per_second: rate,
            seed,
            ..SimConfig::default()
        })
        .await?;
        let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
        let listen = free_addr()?;
        let secret = uuid::Uuid::new_v4().simple().to_string();
        let mut config = base_config(&nats.url(), listen);
        config.apple.base_url = world.sim.base_url();
        config.apple.max_requests_per_second = rate;
        let location = BenchLocation {
            id: LOCATION.to_owned(),
            token_text: world.token_text.clone(),
            secret: secret.clone(),
        };
        let config_path = write_config(dir.path(), config.clone(), &[location])?;
        let mut serve = serve_ready(&config_path, dir.path(), listen).await?;

        // The MDM's side: register the receiver.
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
        let js = jetstream::new(async_nats::connect(nats.url()).await?);
        first_full_sync(&mut serve, &js).await?;
        let calls_before = world.requests().await?;
        world.clear_requests().await?;
        Ok(Scenario {
            nats,
            world,
            serve,
            config,
            config_path,
            apple,
            js,
            calls_before,
            dir,
        })
    }
}

/// Starts `vppbridge serve` with the configuration at `config_path` (its log in `dir`) and
/// waits until `/readyz` on `listen` answers 200.
///
/// # Errors
/// When it cannot start or is not ready within 30 s.
pub async fn serve_ready(
    config_path: &std::path::Path,
    dir: &std::path::Path,
    listen: SocketAddr,
) -> anyhow::Result<VppChild> {
    let config_arg = config_path.to_string_lossy().into_owned();
    let mut serve = VppChild::spawn(&["--config", &config_arg, "serve"], &dir.join("serve.log"))?;
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
    Ok(serve)
}

/// Waits until `serve`'s first full sync of [`LOCATION`] is recorded in the view.
///
/// # Errors
/// When `serve` exits first or the sync does not end within a minute.
pub async fn first_full_sync(serve: &mut VppChild, js: &jetstream::Context) -> anyhow::Result<()> {
    let view = View::open(js).await?;
    let sync_key = format!("{LOCATION}.sync");
    poll_until(
        serve,
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
    .await
}
