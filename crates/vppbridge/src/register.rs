//! `vppbridge register --location ID [--take-over]`: registers a location's notifications with
//! Apple through Client Config (issue 4 §5).
//!
//! Order matters because Apple posts a `TEST_NOTIFICATION` while it handles the registration
//! and refuses it (9728) if that delivery fails: read Client Config and refuse a location another
//! MDM holds (unless `--take-over`), check that the receiver answers at the notification URL with this secret, post
//! `mdmInfo`, URL, secret and types, then record the location's `uId` in `vpp-state` for the
//! receiver. Never prints the secret.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use secrecy::{ExposeSecret, SecretString};

use crate::nats::state::{self, StateError};
use apple_vpp::types::{ClientConfigRequest, ClientConfigResponse, MdmInfo};
use apple_vpp::{AppleClient, AppleError};

/// Apple's `maxMdmMetadataLength` in its examples.
const MAX_METADATA_LEN: usize = 255;

/// Arguments of `vppbridge register`.
#[derive(Debug, Clone, clap::Args)]
pub struct RegisterArgs {
    /// The location to register (its `id` in `[[locations]]`).
    #[arg(long)]
    pub location: String,
    /// Take the location over from another MDM (only if that MDM no longer manages it, or the
    /// operator accepts that it stops receiving this location's notifications).
    #[arg(long)]
    pub take_over: bool,
}

/// What to register.
pub struct Registration {
    /// vppbridge's location id.
    pub location: String,
    /// The `mdmInfo` to set (id, name, metadata).
    pub mdm: MdmInfo,
    /// The public base URL (without the `/notifications/...` path).
    pub public_url: String,
    /// The location's current notification secret.
    pub secret: SecretString,
    /// Types to subscribe to; `None`: every type Apple's Service Config lists.
    pub notification_types: Option<Vec<String>>,
    /// Replace another MDM's `mdmInfo`.
    pub take_over: bool,
}

impl Registration {
    /// `<public URL>/notifications/<location>`.
    pub fn notification_url(&self) -> String {
        format!(
            "{}/notifications/{}",
            self.public_url.trim_end_matches('/'),
            self.location
        )
    }
}

/// Why a registration stopped.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Another MDM's `mdmInfo` is on the location.
    #[error("location {location} is managed by another MDM: mdmInfo id {:?}, name {:?}, metadata {:?}; two MDMs on one location make license assignment unpredictable. If that MDM no longer manages it, run again with --take-over", theirs.id, theirs.name, theirs.metadata)]
    ForeignMdm {
        /// The location.
        location: String,
        /// What Apple holds.
        theirs: MdmInfo,
    },
    /// The receiver does not answer at the public URL.
    #[error(
        "the receiver does not answer as expected at {url}: {detail}; Apple sends a test notification while registering, so start `vppbridge serve` with this location and make http.public_url reach it first"
    )]
    ReceiverUnreachable {
        /// The notification URL probed.
        url: String,
        /// What happened.
        detail: String,
    },
    /// 9728: Apple's test notification did not get a 2xx.
    #[error(
        "Apple could not deliver its test notification to {url} (error 9728). Apple needs: a public HTTPS URL with a certificate it trusts, reachable from the internet; `vppbridge serve` running behind it; and the location's notification secret loaded by that receiver (restart it after `vppbridge secret new`)"
    )]
    NotificationUrlUnreachable {
        /// The notification URL.
        url: String,
    },
    /// Any other Apple error.
    #[error("Apple refused the registration: {0}")]
    Apple(#[from] AppleError),
    /// The `uId` could not be recorded.
    #[error("registered with Apple, but the location's uId could not be recorded: {0}")]
    State(#[from] StateError),
}

/// `vppbridge <version> on <host>`, within Apple's metadata limit.
pub fn metadata() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    let mut m = format!("vppbridge {} on {host}", env!("CARGO_PKG_VERSION"));
    m.truncate(MAX_METADATA_LEN);
    m
}

/// Registers one location. The receiver must already serve the secret.
///
/// # Errors
/// See [`RegisterError`].
pub async fn register(
    client: &AppleClient,
    js: &async_nats::jetstream::Context,
    reg: &Registration,
) -> Result<ClientConfigResponse, RegisterError> {
    let current = client.client_config().await?;
    if let Some(theirs) = current.common.mdm_info.as_ref()
        && !theirs.id.is_empty()
        && theirs.id != reg.mdm.id
    {
        if !reg.take_over {
            return Err(RegisterError::ForeignMdm {
                location: reg.location.clone(),
                theirs: theirs.clone(),
            });
        }
        tracing::warn!(location = %reg.location, their_id = %theirs.id, their_name = %theirs.name, "taking the location over from another MDM");
    }

    let url = reg.notification_url();
    check_receiver(&url, &reg.secret).await?;

    let types = match &reg.notification_types {
        Some(t) => t.clone(),
        None => client.service_config().await?.notification_types,
    };
    let request = ClientConfigRequest {
        mdm_info: Some(reg.mdm.clone()),
        notification_url: Some(url.clone()),
        notification_auth_token: Some(reg.secret.expose_secret().to_owned()),
        notification_types: Some(types),
    };
    let response =
        client
            .set_client_config(&request)
            .await
            .map_err(|e| match e.error_number() {
                Some(9728) => RegisterError::NotificationUrlUnreachable { url: url.clone() },
                _ => RegisterError::Apple(e),
            })?;
    let uid = response
        .common
        .u_id
        .clone()
        .or_else(|| current.common.u_id.clone());
    if let Some(uid) = uid {
        state::write_uid(js, &reg.location, &uid).await?;
    } else {
        tracing::warn!(location = %reg.location, "Apple's answer carried no uId; the receiver will accept any uId for this location");
    }
    Ok(response)
}

/// Probes the notification URL the way Apple will reach it: a POST with the secret and an empty
/// JSON object. A vppbridge receiver that holds the secret answers 400 (not an envelope) and
/// publishes nothing; 401 means it does not hold this secret. Only `/notifications/` needs to be
/// public, so the health endpoints are not used.
async fn check_receiver(url: &str, secret: &SecretString) -> Result<(), RegisterError> {
    let unreachable = |detail: String| RegisterError::ReceiverUnreachable {
        url: url.to_owned(),
        detail,
    };
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| unreachable(e.to_string()))?;
    let response = http
        .post(url)
        .bearer_auth(secret.expose_secret())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status().as_u16();
    let problem: serde_json::Value = response.json().await.unwrap_or_default();
    let kind = problem["type"].as_str().unwrap_or_default();
    match (status, kind) {
        (400, "urn:vppbridge:problem:invalid-notification") => Ok(()),
        (401, "urn:vppbridge:problem:unauthorized") => Err(unreachable(
            "the receiver there does not accept this location's secret: add the location to its configuration or restart it after `vppbridge secret new`".to_owned(),
        )),
        _ => Err(unreachable(format!(
            "HTTP {status}, not a vppbridge receiver's answer"
        ))),
    }
}

/// What Apple now holds, for the operator (never the secret).
pub fn describe(location: &str, r: &ClientConfigResponse) -> String {
    let mdm = r
        .common
        .mdm_info
        .as_ref()
        .map(|m| format!("{} ({}, {})", m.id, m.name, m.metadata))
        .unwrap_or_else(|| "none".to_owned());
    format!(
        "location {location} registered with Apple:\n  library:            {} (uId {})\n  mdmInfo:            {mdm}\n  notification URL:   {}\n  subscribed types:   {}\n  token expires:      {}",
        r.location_name,
        r.common.u_id.as_deref().unwrap_or("?"),
        r.notification_url.as_deref().unwrap_or("none"),
        r.subscribed_notification_types.join(", "),
        r.common
            .token_expiration_date
            .as_deref()
            .unwrap_or("not reported"),
    )
}

/// `vppbridge register`.
///
/// # Errors
/// When the configuration, the token, the secret or NATS cannot be used, or registration fails.
pub async fn run(config: Option<&Path>, args: RegisterArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    let location = config
        .locations
        .iter()
        .find(|l| l.id == args.location)
        .with_context(|| {
            let known: Vec<&str> = config.locations.iter().map(|l| l.id.as_str()).collect();
            format!(
                "no location {:?} in [[locations]] (configured: {})",
                args.location,
                known.join(", ")
            )
        })?;
    let token = apple_vpp::token::ContentToken::from_file(&location.token_file)?;
    let client =
        AppleClient::new(&config.apple.client_settings(), token, None)?.with_location(&location.id);
    let secret = crate::secret::read_secret_file(&location.notification_secret_file)?;
    let nats = crate::nats::connect(&config.nats).await?;
    let js = async_nats::jetstream::new(nats.clone());
    let lease_ttl = std::time::Duration::from_secs(config.cluster.lease_ttl_secs);
    crate::nats::setup_with_leases(&js, &config.nats, lease_ttl).await?;
    let mdm_id = state::mdm_id(&js, &config.mdm.id).await?;
    let reg = Registration {
        location: location.id.clone(),
        mdm: MdmInfo {
            id: mdm_id,
            name: config.mdm.name.clone(),
            metadata: metadata(),
        },
        public_url: config.http.public_url.clone(),
        secret,
        notification_types: location.notification_types.clone(),
        take_over: args.take_over,
    };
    let response = register(&client, &js, &reg).await?;
    nats.flush().await.ok();
    println!("{}", describe(&location.id, &response));
    Ok(ExitCode::SUCCESS)
}
