//! NATS: the connection ([`connect`]) and the JetStream set-up ([`setup`]): every stream and
//! key-value bucket the project uses, created or updated idempotently, with their names as
//! constants so no other module spells them. [`state`] holds the small per-location facts kept
//! in the `vpp-state` bucket (the location's `uId`, the MDM instance id).
//!
//! Must not know about HTTP or Apple.

pub mod state;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, kv, stream};

use crate::config::NatsConfig;

/// The receiver's notification events (`vpp.notifications.>`).
pub const NOTIFICATIONS_STREAM: &str = "VPP_NOTIFICATIONS";
/// The worker's change events (`vpp.changes.>`).
pub const CHANGES_STREAM: &str = "VPP_CHANGES";
/// Alerts (`vpp.alerts.>`).
pub const ALERTS_STREAM: &str = "VPP_ALERTS";
/// Dead letters (`vpp.dlq.>`).
pub const DLQ_STREAM: &str = "VPP_DLQ";
/// Intent events (`vpp.intents.>`).
pub const INTENTS_STREAM: &str = "VPP_INTENTS";
/// Assets by location and (adamId, pricingParam).
pub const ASSETS_BUCKET: &str = "vpp-assets";
/// Assignments by location, asset and target.
pub const ASSIGNMENTS_BUCKET: &str = "vpp-assignments";
/// Users by location and clientUserId.
pub const USERS_BUCKET: &str = "vpp-users";
/// Per-location state (`<location>.uid`, sync versions, pause flags, ...).
pub const STATE_BUCKET: &str = "vpp-state";
/// Desired assignments, written by the MDM (same keys as [`ASSIGNMENTS_BUCKET`]).
pub const DESIRED_BUCKET: &str = "vpp-desired";
/// vppbridge's tracking record of each desired key (same keys as [`DESIRED_BUCKET`]).
pub const INTENTS_BUCKET: &str = "vpp-intents";
/// Apple write requests sent for intents, by `<location>.<request id>`, until their outcome.
pub const INTENT_REQUESTS_BUCKET: &str = "vpp-intent-requests";
/// Desired managed users, written by the MDM (same keys as [`USERS_BUCKET`]).
pub const DESIRED_USERS_BUCKET: &str = "vpp-desired-users";
/// vppbridge's tracking record of each desired user (same keys as [`DESIRED_USERS_BUCKET`]).
pub const USER_INTENTS_BUCKET: &str = "vpp-user-intents";

/// Location leases and live workers (`<location>`, `_workers.<id>`), with the lease TTL as
/// max age: created by [`setup`] apart from [`BUCKETS`] because of that age.
pub const LEASES_BUCKET: &str = "vpp-leases";

/// Subjects of [`NOTIFICATIONS_STREAM`].
pub const NOTIFICATIONS_SUBJECTS: &str = "vpp.notifications.>";
/// Subjects of [`CHANGES_STREAM`].
pub const CHANGES_SUBJECTS: &str = "vpp.changes.>";
/// Subjects of [`ALERTS_STREAM`].
pub const ALERTS_SUBJECTS: &str = "vpp.alerts.>";
/// Subjects of [`DLQ_STREAM`].
pub const DLQ_SUBJECTS: &str = "vpp.dlq.>";
/// Subjects of [`INTENTS_STREAM`].
pub const INTENTS_SUBJECTS: &str = "vpp.intents.>";

/// Every stream [`setup`] creates.
pub const STREAMS: [&str; 5] = [
    NOTIFICATIONS_STREAM,
    CHANGES_STREAM,
    ALERTS_STREAM,
    DLQ_STREAM,
    INTENTS_STREAM,
];
/// Every key-value bucket [`setup`] creates.
pub const BUCKETS: [&str; 9] = [
    ASSETS_BUCKET,
    ASSIGNMENTS_BUCKET,
    USERS_BUCKET,
    STATE_BUCKET,
    DESIRED_BUCKET,
    INTENTS_BUCKET,
    INTENT_REQUESTS_BUCKET,
    DESIRED_USERS_BUCKET,
    USER_INTENTS_BUCKET,
];

/// The shortest duplicate window accepted: Apple's repeats come within minutes.
pub const MIN_DUPLICATE_WINDOW: Duration = Duration::from_secs(20 * 60);

/// Why the JetStream set-up failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The server answers but JetStream is off (or the account has none).
    #[error(
        "the NATS server has no JetStream for this account ({0}); start nats-server with `-js` (or a `jetstream {{}}` block) and give the account JetStream limits"
    )]
    NoJetStream(String),
    /// A stream could not be created or updated.
    #[error(
        "cannot create or update stream {name}: {detail}; with replicas > 1 the server must be part of a JetStream cluster of at least that many nodes, and a stream's storage type cannot be changed in place"
    )]
    Stream {
        /// The stream.
        name: String,
        /// The server's answer.
        detail: String,
    },
    /// A key-value bucket could not be created or updated.
    #[error("cannot create or update key-value bucket {name}: {detail}")]
    Bucket {
        /// The bucket.
        name: String,
        /// The server's answer.
        detail: String,
    },
}

/// How often the client PINGs the server. async-nats drops a connection (and reconnects) once
/// more than two PINGs are unanswered, so a connection that stalls without closing (seen once
/// on loopback under a 100,000-key load: both ends retransmitting, nothing delivered) is
/// replaced within about 30 s instead of the default 3 minutes, during which every request
/// of the process times out.
pub const PING_INTERVAL: Duration = Duration::from_secs(10);

/// Connects to NATS as configured: server list (comma-separated), credentials file or token
/// file, TLS, connection name `vppbridge`, reconnecting forever with capped backoff. Connection
/// changes are logged.
///
/// # Errors
/// When a file cannot be read, a URL is malformed, or no server answers within 10 s.
pub async fn connect(cfg: &NatsConfig) -> anyhow::Result<async_nats::Client> {
    let mut opts = async_nats::ConnectOptions::new()
        .name("vppbridge")
        .connection_timeout(Duration::from_secs(10))
        .ping_interval(PING_INTERVAL)
        .max_reconnects(None)
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Connected => tracing::info!("NATS connected"),
                async_nats::Event::Disconnected => {
                    tracing::warn!("NATS disconnected; reconnecting")
                }
                other => tracing::info!(event = %other, "NATS event"),
            }
        });
    if let Some(path) = &cfg.credentials_file {
        opts = opts
            .credentials_file(path)
            .await
            .with_context(|| format!("cannot read the NATS credentials file {}", path.display()))?;
    }
    if let Some(path) = &cfg.token_file {
        let token = crate::files::read_text(path)
            .with_context(|| format!("cannot read the NATS token file {}", path.display()))?;
        opts = opts.token(token.trim().to_owned());
    }
    if cfg.tls_required {
        opts = opts.require_tls(true);
    }
    if let Some(ca) = &cfg.tls_ca_file {
        opts = opts.add_root_certificates(ca.clone());
    }
    let addrs = cfg
        .url
        .split(',')
        .map(|u| u.trim().parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| {
            format!(
                "nats.url {:?} is not a list of NATS URLs",
                crate::files::redact_url(&cfg.url)
            )
        })?;
    opts.connect(addrs).await.with_context(|| {
        format!(
            "cannot connect to NATS at {}",
            crate::files::redact_url(&cfg.url)
        )
    })
}

/// Creates or updates every stream and key-value bucket vppbridge uses, the lease bucket with
/// the default lease TTL (see [`setup_with_leases`]). Idempotent: running it again with the
/// same configuration changes nothing; with new limits it updates them.
///
/// # Errors
/// [`SetupError::NoJetStream`] when JetStream is off; otherwise the first stream or bucket the
/// server refused.
pub async fn setup(js: &jetstream::Context, cfg: &NatsConfig) -> Result<(), SetupError> {
    let ttl = Duration::from_secs(crate::config::ClusterConfig::default().lease_ttl_secs);
    setup_with_leases(js, cfg, ttl).await
}

/// [`setup`] with the lease bucket's max age set to `lease_ttl` (`cluster.lease_ttl_secs`): a
/// lease nobody renews disappears by itself after that long.
///
/// # Errors
/// As [`setup`].
pub async fn setup_with_leases(
    js: &jetstream::Context,
    cfg: &NatsConfig,
    lease_ttl: Duration,
) -> Result<(), SetupError> {
    js.query_account()
        .await
        .map_err(|e| SetupError::NoJetStream(e.to_string()))?;
    let replicas = cfg.replicas.max(1);
    let duplicate_window = Duration::from_secs(cfg.duplicate_window_secs).max(MIN_DUPLICATE_WINDOW);
    let day = Duration::from_secs(24 * 60 * 60);
    let streams = [
        (
            NOTIFICATIONS_STREAM,
            NOTIFICATIONS_SUBJECTS,
            day * u32::try_from(cfg.max_age_days.min(crate::config::MAX_AGE_DAYS))
                .unwrap_or(u32::MAX),
            duplicate_window,
        ),
        (
            CHANGES_STREAM,
            CHANGES_SUBJECTS,
            day * 30,
            MIN_DUPLICATE_WINDOW,
        ),
        (
            ALERTS_STREAM,
            ALERTS_SUBJECTS,
            day * 30,
            MIN_DUPLICATE_WINDOW,
        ),
        (DLQ_STREAM, DLQ_SUBJECTS, day * 30, MIN_DUPLICATE_WINDOW),
        (
            INTENTS_STREAM,
            INTENTS_SUBJECTS,
            day * 30,
            MIN_DUPLICATE_WINDOW,
        ),
    ];
    for (name, subjects, max_age, duplicate_window) in streams {
        js.create_or_update_stream(stream::Config {
            name: name.to_owned(),
            subjects: vec![subjects.to_owned()],
            storage: stream::StorageType::File,
            num_replicas: replicas,
            max_age,
            duplicate_window,
            ..Default::default()
        })
        .await
        .map_err(|e| SetupError::Stream {
            name: name.to_owned(),
            detail: e.to_string(),
        })?;
    }
    for name in BUCKETS {
        js.create_or_update_key_value(kv::Config {
            bucket: name.to_owned(),
            history: 1,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| SetupError::Bucket {
            name: name.to_owned(),
            detail: e.to_string(),
        })?;
    }
    js.create_or_update_key_value(kv::Config {
        bucket: LEASES_BUCKET.to_owned(),
        description: "vppbridge location leases and live workers".to_owned(),
        history: 1,
        max_age: lease_ttl.max(Duration::from_secs(1)),
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .map_err(|e| SetupError::Bucket {
        name: LEASES_BUCKET.to_owned(),
        detail: e.to_string(),
    })?;
    Ok(())
}

/// `vppbridge nats setup`.
///
/// # Errors
/// When NATS cannot be reached or has no JetStream, or a stream or bucket is refused.
pub async fn setup_command(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    let client = connect(&config.nats).await?;
    let js = jetstream::new(client.clone());
    let ttl = Duration::from_secs(config.cluster.lease_ttl_secs);
    setup_with_leases(&js, &config.nats, ttl).await?;
    client.flush().await.ok();
    println!(
        "NATS set up at {}: streams {} and key-value buckets {}, {LEASES_BUCKET} (lease TTL {} s) (replicas {})",
        crate::files::redact_url(&config.nats.url),
        STREAMS.join(", "),
        BUCKETS.join(", "),
        ttl.as_secs(),
        config.nats.replicas.max(1)
    );
    Ok(ExitCode::SUCCESS)
}
