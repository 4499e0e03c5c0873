//! `vppbridge resume` and `assignments`: read (and, for resume, clear the pause in) the view.
//! Each command is a thin wrapper over a library function the tests call directly. `vppbridge
//! status` is [`crate::status`].

use std::path::Path;
use std::process::ExitCode;

use async_nats::jetstream;

use super::keys::{asset_key, state_key};
use super::state::GuardState;
use super::{Bucket, View};
use crate::events::notification::AssignmentRef;

/// Arguments of `vppbridge resume`.
#[derive(Debug, Clone, clap::Args)]
pub struct ResumeArgs {
    /// The location to resume.
    #[arg(long)]
    pub location: String,
}

/// Arguments of `vppbridge assignments`.
#[derive(Debug, Clone, clap::Args)]
pub struct AssignmentsArgs {
    /// The location.
    #[arg(long)]
    pub location: String,
    /// Only this asset.
    #[arg(long)]
    pub adam_id: Option<String>,
    /// Only this device.
    #[arg(long)]
    pub serial: Option<String>,
    /// Only this user.
    #[arg(long)]
    pub user: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

pub(crate) async fn connect(config: &crate::config::Config) -> anyhow::Result<jetstream::Context> {
    Ok(jetstream::new(crate::nats::connect(&config.nats).await?))
}

/// Clears a location's pause in `vpp-state`; running workers pick it up at their next check.
/// Returns the guard as it was.
///
/// # Errors
/// When the state cannot be read or written.
pub async fn resume_location(view: &View, location: &str) -> anyhow::Result<GuardState> {
    let key = state_key(location, "guard")?;
    let before: GuardState = view.state(&key).await?.unwrap_or_default();
    let after = GuardState {
        paused: false,
        reason: None,
        message: None,
        since: None,
        ..before.clone()
    };
    view.set_state(&key, &after).await?;
    Ok(before)
}

/// `vppbridge resume`.
///
/// # Errors
/// When the state cannot be updated.
pub async fn resume(config: Option<&Path>, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    let view = View::open(&connect(&config).await?).await?;
    let before = resume_location(&view, &args.location).await?;
    match before.reason {
        Some(r) if before.paused => println!(
            "location {} resumed (it was paused: {r}); workers pick this up within worker.token_check_interval_ms",
            args.location
        ),
        _ => println!("location {} was not paused", args.location),
    }
    Ok(ExitCode::SUCCESS)
}

/// Which assignments to list.
#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    /// Only this asset.
    pub adam_id: Option<String>,
    /// Only this device.
    pub serial: Option<String>,
    /// Only this user.
    pub user: Option<String>,
}

/// The view's assignments of a location, filtered, in key order.
///
/// # Errors
/// When the view cannot be read or the location id is not a slug.
pub async fn list_assignments(
    view: &View,
    location: &str,
    filter: &AssignmentFilter,
) -> anyhow::Result<Vec<AssignmentRef>> {
    let prefix = match &filter.adam_id {
        // Any pricingParam: `<location>.<adamId>` prefixes both (the call validates the parts).
        Some(a) => {
            asset_key(location, a, "STDQ")?;
            format!("{location}.{a}")
        }
        None => {
            state_key(location, "sync")?;
            location.to_owned()
        }
    };
    let live = view.live(Bucket::Assignments, &prefix).await?;
    Ok(live
        .values()
        .filter_map(|v| serde_json::from_slice::<AssignmentRef>(v).ok())
        .filter(|a| filter.serial.is_none() || a.serial_number == filter.serial)
        .filter(|a| filter.user.is_none() || a.client_user_id == filter.user)
        .collect())
}

/// `vppbridge assignments`.
///
/// # Errors
/// When the view cannot be read.
pub async fn assignments(config: Option<&Path>, args: AssignmentsArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    let view = View::open(&connect(&config).await?).await?;
    let filter = AssignmentFilter {
        adam_id: args.adam_id,
        serial: args.serial,
        user: args.user,
    };
    let list = list_assignments(&view, &args.location, &filter).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        println!("{:<12} {:<6} {:<7} TARGET", "ADAM ID", "PRICE", "KIND");
        for a in &list {
            let (kind, target) = match (&a.serial_number, &a.client_user_id) {
                (Some(s), _) => ("device", s.as_str()),
                (None, Some(u)) => ("user", u.as_str()),
                (None, None) => ("?", ""),
            };
            println!(
                "{:<12} {:<6} {:<7} {target}",
                a.adam_id, a.pricing_param, kind
            );
        }
        println!("{} assignment(s)", list.len());
    }
    Ok(ExitCode::SUCCESS)
}
