//! Configuration: defaults in the binary, then the TOML file (`--config` / `VPPBRIDGE_CONFIG`),
//! then environment overrides (`VPPBRIDGE_NATS_URL`, `VPPBRIDGE_LISTEN`; `RUST_LOG` for logging).
//!
//! Every field is documented here and mirrored in `deploy/vppbridge.example.toml`. Unknown keys
//! are refused; [`validate()`] reports every problem at once, each naming the key and the fix.
//! Relative file paths are read relative to the configuration file's folder. Secrets are never
//! held here: only the paths of the files that hold them.
//!
//! - [`load()`], [`load_checked`], [`load_report`]: defaults + file + environment → [`Config`].
//! - [`files`]: bounded reads of the files it names, URL redaction, world-readable secrets.
//! - [`validate()`]: every problem at once, as [`Problem`]s; [`check_command`] is
//!   `vppbridge config check`.

mod keys;
mod load;
pub mod permissions;
mod validate;

pub use load::{load, load_checked, load_report};
pub use validate::{MAX_AGE_DAYS, Problem, Severity, check_command, validate};

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The HTTP receiver.
    pub http: HttpConfig,
    /// The NATS connection and JetStream set-up.
    pub nats: NatsConfig,
    /// Apple's service.
    pub apple: AppleConfig,
    /// How vppbridge identifies itself to Apple as the managing MDM (`mdmInfo`).
    pub mdm: MdmConfig,
    /// The reconciling worker.
    pub worker: WorkerConfig,
    /// Periodic sync against Apple.
    pub sync: SyncConfig,
    /// Declarative licensing: converging `vpp-desired` with Apple.
    pub intents: IntentsConfig,
    /// Location ownership across worker processes (leases in `vpp-leases`).
    pub cluster: ClusterConfig,
    /// The locations (one content token each).
    pub locations: Vec<LocationConfig>,
}

/// `[http]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address the receiver listens on.
    pub listen: SocketAddr,
    /// The public HTTPS base URL Apple reaches the receiver at (notification URLs are this plus
    /// `/notifications/<location>`).
    pub public_url: String,
    /// Largest notification body accepted, in bytes (larger: 413).
    pub max_body_bytes: usize,
    /// Notification requests handled at once (more: 503 with `Retry-After`).
    pub max_concurrent_requests: usize,
    /// Seconds to wait for the JetStream acknowledgement before answering 503.
    pub publish_timeout_secs: u64,
    /// Seconds suggested to Apple in `Retry-After` on 503.
    pub retry_after_secs: u64,
    /// Seconds a client has to send a whole request head; also the longest idle time of a
    /// kept-alive connection between two requests. Then the connection is closed.
    pub header_read_timeout_secs: u64,
    /// Seconds an authenticated client has to send the whole body (408 after that). Taken
    /// before a request permit, so slow bodies never hold one.
    pub body_timeout_secs: u64,
    /// Connections open at once; one more is closed as soon as it is accepted. Lowered at
    /// start to the descriptor limit (`ulimit -n`) less 256.
    pub max_connections: usize,
    /// Log lines a second about unauthenticated requests (401); the rest are only counted in
    /// `vppbridge_notifications_total{outcome="unauthorized"}`.
    pub unauthorized_log_lines_per_sec: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "https://vppbridge.example.com".to_owned(),
            max_body_bytes: 1024 * 1024,
            max_concurrent_requests: 256,
            publish_timeout_secs: 5,
            retry_after_secs: 5,
            header_read_timeout_secs: 10,
            body_timeout_secs: 10,
            max_connections: 4096,
            unauthorized_log_lines_per_sec: 5,
        }
    }
}

/// `[nats]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated.
    pub url: String,
    /// A `.creds` file (JWT + NKey), optional.
    pub credentials_file: Option<PathBuf>,
    /// A file holding a token for token authentication, optional.
    pub token_file: Option<PathBuf>,
    /// Require TLS to the server.
    pub tls_required: bool,
    /// Extra root CA (PEM) to trust for the server's certificate, optional.
    pub tls_ca_file: Option<PathBuf>,
    /// Replicas of every stream and bucket (1 on a single server, 3 on a cluster).
    pub replicas: usize,
    /// How long notification events are kept, in days.
    pub max_age_days: u64,
    /// Stream duplicate window in seconds (at least 1200: Apple's repeats come within minutes).
    pub duplicate_window_secs: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://127.0.0.1:4222".to_owned(),
            credentials_file: None,
            token_file: None,
            tls_required: false,
            tls_ca_file: None,
            replicas: 1,
            max_age_days: 7,
            duplicate_window_secs: 20 * 60,
        }
    }
}

/// `[apple]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppleConfig {
    /// Base URL of the App and Book Management API (v2), ending in `/`.
    pub base_url: String,
    /// Timeout of one HTTP request, in seconds.
    pub request_timeout_secs: u64,
    /// Attempts per call for rate-limited and transient errors (first try included).
    pub max_attempts: u32,
    /// First retry delay in milliseconds (doubles each attempt, with jitter).
    pub retry_base_delay_ms: u64,
    /// Longest single retry delay in seconds (a larger `Retry-After` is clamped to this).
    pub retry_max_delay_secs: u64,
    /// Requests per second per location until service config says otherwise.
    pub max_requests_per_second: u32,
}

impl Default for AppleConfig {
    fn default() -> Self {
        AppleConfig {
            base_url: apple_vpp::settings::APPLE_BASE_URL.to_owned(),
            request_timeout_secs: 30,
            max_attempts: 5,
            retry_base_delay_ms: 500,
            retry_max_delay_secs: 120,
            max_requests_per_second: 15,
        }
    }
}

impl AppleConfig {
    /// The Apple client's settings these keys describe.
    pub fn client_settings(&self) -> apple_vpp::ClientSettings {
        apple_vpp::ClientSettings {
            base_url: self.base_url.clone(),
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs),
            max_attempts: self.max_attempts,
            retry_base_delay: std::time::Duration::from_millis(self.retry_base_delay_ms),
            retry_max_delay: std::time::Duration::from_secs(self.retry_max_delay_secs),
            max_requests_per_second: self.max_requests_per_second,
            max_response_bytes: apple_vpp::settings::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// `[mdm]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MdmConfig {
    /// This installation's stable id, sent as `mdmInfo.id`; any other id in Apple's responses
    /// means another MDM took the location over. Set it once (`uuidgen`) and keep it.
    pub id: String,
    /// Sent as `mdmInfo.name`.
    pub name: String,
}

impl Default for MdmConfig {
    fn default() -> Self {
        MdmConfig {
            id: String::new(),
            name: "vppbridge".to_owned(),
        }
    }
}

/// `[worker]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Durable consumer name shared by all worker processes.
    pub durable_name: String,
    /// Seconds JetStream waits for an ack before redelivering (in-progress acks extend it).
    /// Used only while `backoff_secs` is empty: with a backoff, nats-server takes its first
    /// step as the ack wait, and the worker paces its in-progress acks by that.
    pub ack_wait_secs: u64,
    /// Deliveries before a message goes to the dead-letter stream.
    pub max_deliver: i64,
    /// Redelivery delays in seconds, one per delivery (the last repeats).
    pub backoff_secs: Vec<u64>,
    /// Window in milliseconds in which notifications about one asset share one verification.
    pub coalesce_window_ms: u64,
    /// Messages fetched and worked on at once.
    pub batch_size: usize,
    /// Milliseconds a message of a paused location waits before it is offered again.
    pub hold_delay_ms: u64,
    /// Seconds one message may be worked on (its delta and the verification it waits for)
    /// before the worker stops sending in-progress acks, gives up and naks it for redelivery.
    pub max_processing_secs: u64,
    /// Seconds each NATS call of the view may take (for a listing: the longest wait for its
    /// next key) before it fails.
    pub nats_deadline_secs: u64,
    /// Milliseconds between checks of each token file (replaced: reload and resume) and of a
    /// paused location's state (`vppbridge resume` from another process).
    pub token_check_interval_ms: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            durable_name: "vppbridge-worker".to_owned(),
            ack_wait_secs: 60,
            max_deliver: 8,
            backoff_secs: vec![1, 5, 30, 120, 600],
            coalesce_window_ms: 2000,
            batch_size: 256,
            hold_delay_ms: 30_000,
            max_processing_secs: 600,
            nats_deadline_secs: 30,
            token_check_interval_ms: 30_000,
        }
    }
}

/// `[sync]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Seconds between incremental syncs inside `serve` (0: off).
    pub incremental_interval_secs: u64,
    /// Seconds between full syncs inside `serve` (0: off).
    pub full_interval_secs: u64,
    /// Import only active users on a full sync.
    pub users_active_only: bool,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            incremental_interval_secs: 15 * 60,
            full_interval_secs: 24 * 60 * 60,
            users_active_only: true,
        }
    }
}

/// `[intents]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntentsConfig {
    /// Run the converger of `vpp-desired` in the worker.
    pub enabled: bool,
    /// Milliseconds between two passes of a location's converger when nothing wakes it (a
    /// change of `vpp-desired` does at once).
    pub interval_ms: u64,
    /// Seconds after a request was accepted before its Event Status is polled when no
    /// notification settled it (Apple: 5 minutes).
    pub status_poll_after_secs: u64,
    /// Seconds between two Event Status polls of one request (Apple: at least 30).
    pub status_poll_interval_secs: u64,
    /// Seconds a request may stay PENDING before it is sent again, once (Apple: 10 minutes).
    pub resend_after_secs: u64,
    /// Requests sent for one desired value before a transient failure becomes `failed`.
    pub max_attempts: u32,
    /// Seconds before a pair whose request failed transiently (9603, 9610, 5xx, 9646 after the
    /// client's retries) is sent again; doubled at each further attempt.
    pub retry_base_delay_secs: u64,
    /// The longest of those delays.
    pub retry_max_delay_secs: u64,
}

impl Default for IntentsConfig {
    fn default() -> Self {
        IntentsConfig {
            enabled: true,
            interval_ms: 5000,
            status_poll_after_secs: 300,
            status_poll_interval_secs: 30,
            resend_after_secs: 600,
            max_attempts: 5,
            retry_base_delay_secs: 30,
            retry_max_delay_secs: 900,
        }
    }
}

/// `[cluster]`: each location is owned by one worker process at a time, through a lease in
/// the `vpp-leases` bucket (see `crate::ownership`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Seconds a lease (and a worker's presence) lives without renewal: the bucket's max age,
    /// and so the longest hand-over after a worker dies without stopping. `vppbridge nats
    /// setup` applies it to the bucket.
    pub lease_ttl_secs: u64,
    /// Seconds between two renewals of this worker's leases and of its fair-share balancing.
    pub heartbeat_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            lease_ttl_secs: 10,
            heartbeat_secs: 2,
        }
    }
}

/// One `[[locations]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationConfig {
    /// Slug naming the location in URLs, subjects and keys: `[a-z0-9_-]{1,64}`.
    pub id: String,
    /// The location's content token (`.vpptoken`).
    pub token_file: PathBuf,
    /// The shared secret Apple sends back as `Authorization: Bearer`.
    pub notification_secret_file: PathBuf,
    /// The secret being rotated out, still accepted while set.
    #[serde(default)]
    pub previous_notification_secret_file: Option<PathBuf>,
    /// Types to subscribe to (default: all that Apple's service config lists).
    #[serde(default)]
    pub notification_types: Option<Vec<String>>,
}
