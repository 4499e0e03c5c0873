//! The running simulator: shared state, background tasks, logs, start and shutdown.
//!
//! Owns the one lock around all locations (never held across an `.await`) and the task tracker
//! every background job (event completion, deliveries) runs under, so shutdown stops them all.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;

use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::faults::{Faults, RateLimiter};
use super::state::Location;
use super::{SimConfig, seed};
use apple_vpp_types::{Common, ErrorResponse, EventStatus, EventType, format_apple_date};

/// Request-log entries kept; the oldest go first.
const MAX_REQUEST_LOG: usize = 100_000;

/// Locks `m`, carrying on after a panic elsewhere: the state stays usable for the next request.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An asynchronous write and its outcome.
#[derive(Debug, Clone)]
pub(crate) struct EventRec {
    pub u_id: String,
    pub kind: EventType,
    pub status: EventStatus,
    pub num_requested: i64,
    pub num_completed: i64,
    pub failures: Vec<ErrorResponse>,
}

/// Every location and event.
#[derive(Debug, Default)]
pub(crate) struct World {
    pub locations: BTreeMap<String, Location>,
    pub by_token: HashMap<String, String>,
    pub events: HashMap<String, EventRec>,
}

/// One line of the request log (`GET /_sim/requests`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestRecord {
    pub at_ms: f64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_number: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub u_id: Option<String>,
}

/// One delivery attempt (`GET /_sim/notifications`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeliveryRecord {
    pub at_ms: f64,
    pub notification_id: String,
    pub notification_type: String,
    pub attempt: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub dropped: bool,
}

/// State shared by every handler and background task.
pub(crate) struct Shared {
    pub config: SimConfig,
    pub faults: RwLock<Faults>,
    pub world: Mutex<World>,
    pub started: Instant,
    pub base_url: String,
    pub admin_url: String,
    pub requests: Mutex<VecDeque<RequestRecord>>,
    pub deliveries: Mutex<Vec<DeliveryRecord>>,
    pub limiter: Mutex<RateLimiter>,
    pub http: reqwest::Client,
    /// Bumped after every notification sent; reordered notifications wait for it.
    pub sent: tokio::sync::watch::Sender<u64>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Shared {
    /// Milliseconds since start, with sub-millisecond precision.
    pub(crate) fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// The current fault settings.
    pub(crate) fn faults(&self) -> Faults {
        self.faults
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `fut` in the background until it ends or the simulator shuts down.
    pub(crate) fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = fut => {}
            }
        });
    }

    /// Appends to the request log.
    pub(crate) fn log_request(&self, record: RequestRecord) {
        let mut log = lock(&self.requests);
        if log.len() >= MAX_REQUEST_LOG {
            log.pop_front();
        }
        log.push_back(record);
    }

    /// Appends to the delivery log.
    pub(crate) fn log_delivery(&self, record: DeliveryRecord) {
        lock(&self.deliveries).push(record);
    }
}

/// The common response fields of `loc`.
pub(crate) fn common(loc: &Location) -> Common {
    Common {
        u_id: Some(loc.u_id.clone()),
        token_expiration_date: Some(format_apple_date(loc.token_expires)),
        mdm_info: loc.mdm_info.clone(),
    }
}

/// A seeded location as tests and the CLI see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimLocation {
    /// The location's `uId`.
    pub u_id: String,
    /// The location's name.
    pub name: String,
    /// The `.vpptoken` file text (also the bearer value).
    pub token_text: String,
}

/// Starts simulators.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Seeds the locations and serves Apple's paths and the admin API on `listener`.
    ///
    /// # Errors
    /// When the listener has no local address, the extra root certificates
    /// ([`SimConfig::extra_root_certs`]) cannot be read, or the HTTP client for notifications
    /// cannot be built.
    pub async fn start(config: SimConfig, listener: TcpListener) -> io::Result<SimHandle> {
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let mut http = reqwest::Client::builder().timeout(config.notification_timeout);
        if let Some(path) = &config.extra_root_certs {
            for cert in extra_roots(path)? {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http.build().map_err(io::Error::other)?;
        let expires = chrono::Utc::now() + config.token_lifetime;
        let mut world = World::default();
        for mut loc in seed::locations(&config.seed, expires) {
            loc.token_mode = config.token_mode;
            world
                .by_token
                .insert(loc.token_text.clone(), loc.u_id.clone());
            world.locations.insert(loc.u_id.clone(), loc);
        }
        let shared = Arc::new(Shared {
            faults: RwLock::new(config.faults.clone()),
            config,
            world: Mutex::new(world),
            started: Instant::now(),
            base_url: format!("http://{addr}/mdm/v2/"),
            admin_url: format!("http://{addr}/_sim/"),
            requests: Mutex::new(VecDeque::new()),
            deliveries: Mutex::new(Vec::new()),
            limiter: Mutex::new(RateLimiter::default()),
            http,
            sent: tokio::sync::watch::Sender::new(0),
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
        });
        let app = super::routes::router(shared.clone()).merge(super::admin::router(shared.clone()));
        let cancel = shared.cancel.clone();
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { cancel.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "simulator server stopped");
            }
        });
        Ok(SimHandle { shared, server })
    }
}

/// The certificates of the PEM file `path` (`SSL_CERT_FILE`), to trust besides the built-in
/// roots.
fn extra_roots(path: &std::path::Path) -> io::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot read the extra root certificates {} (SSL_CERT_FILE): {e}; fix the path or unset SSL_CERT_FILE",
                path.display()
            ),
        )
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} (SSL_CERT_FILE) holds no valid PEM certificates: {e}; give a PEM bundle of CA certificates",
                path.display()
            ),
        )
    })?;
    if certs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} (SSL_CERT_FILE) holds no PEM certificate; give a PEM bundle of CA certificates",
                path.display()
            ),
        ));
    }
    Ok(certs)
}

/// A running simulator.
pub struct SimHandle {
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// Apple's base URL on this simulator (`http://127.0.0.1:PORT/mdm/v2/`).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The admin API's base URL (`http://127.0.0.1:PORT/_sim/`).
    pub fn admin_url(&self) -> String {
        self.shared.admin_url.clone()
    }

    /// The locations with their tokens.
    pub fn locations(&self) -> Vec<SimLocation> {
        lock(&self.shared.world)
            .locations
            .values()
            .map(|l| SimLocation {
                u_id: l.u_id.clone(),
                name: l.name.clone(),
                token_text: l.token_text.clone(),
            })
            .collect()
    }

    /// Stops serving and cancels every pending event and delivery.
    pub async fn shutdown(self) {
        self.shared.cancel.cancel();
        self.shared.tasks.close();
        if let Err(e) = self.server.await {
            tracing::warn!(error = %e, "simulator server task ended abnormally");
        }
        self.shared.tasks.wait().await;
    }
}
