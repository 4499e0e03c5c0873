//! `vppbridge assign|unassign` (write `vpp-desired`), `vppbridge intents` (list the tracking
//! state) and `vppbridge plan` (the Apple requests a pass would send now, sending nothing).
//! Each command is a thin wrapper over a library function the tests call directly.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use async_nats::jetstream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::plan::{self, Snapshot};
use super::store::Store;
use super::{Action, Pair, Target};
use crate::events::intents::{Desired, DesiredValue, IntentState};
use apple_vpp::Limits;
use apple_vpp::types::ManageAssetsRequest;

/// Largest intent file read.
pub const MAX_INTENT_FILE_BYTES: u64 = super::lines::MAX_FILE_BYTES;

/// Arguments of `vppbridge assign` and `vppbridge unassign`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["file", "adam_id"])))]
pub struct DesireArgs {
    /// The location.
    #[arg(long)]
    pub location: String,
    /// JSON lines: `{"adamId": "...", "pricingParam": "STDQ", "serialNumber": "..."}` (or
    /// `"clientUserId"`), optionally with `"metadata"`.
    #[arg(long, conflicts_with_all = ["adam_id", "serial", "user"])]
    pub file: Option<PathBuf>,
    /// The asset, for the single-asset form.
    #[arg(long, requires = "targets")]
    pub adam_id: Option<String>,
    /// `STDQ` or `PLUS`.
    #[arg(long, default_value = "STDQ")]
    pub pricing_param: String,
    /// Device serial numbers (repeatable).
    #[arg(long, group = "targets")]
    pub serial: Vec<String>,
    /// Client user ids (repeatable).
    #[arg(long, group = "targets")]
    pub user: Vec<String>,
    /// JSON echoed back in the intent events (every pair of the single-asset form).
    #[arg(long)]
    pub metadata: Option<String>,
}

/// Arguments of `vppbridge intents`.
#[derive(Debug, Clone, clap::Args)]
pub struct IntentsArgs {
    /// The location.
    #[arg(long)]
    pub location: String,
    /// Only intents in this state (pending, submitted, applied, waiting, failed).
    #[arg(long)]
    pub state: Option<IntentState>,
    /// One JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `vppbridge plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// The location.
    #[arg(long)]
    pub location: String,
    /// One JSON document.
    #[arg(long)]
    pub json: bool,
}

/// One line of an intent file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Line {
    adam_id: apple_vpp::types::AdamId,
    #[serde(default = "apple_vpp::types::default_pricing_param")]
    pricing_param: String,
    #[serde(default)]
    serial_number: Option<String>,
    #[serde(default)]
    client_user_id: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// Parses an intent file: every line a pair (blank lines skipped). Every bad line is reported
/// with its number; one bad line refuses the whole file.
///
/// # Errors
/// The problems, one per bad line.
pub fn parse_lines(
    location: &str,
    text: &str,
    desired: Desired,
) -> Result<Vec<(Pair, DesiredValue)>, Vec<String>> {
    super::lines::parse(
        text,
        "{\"adamId\": \"...\", \"pricingParam\": \"STDQ\", \"serialNumber\": \"...\"} or with \"clientUserId\"",
        |line: Line| {
            let target = match (line.serial_number, line.client_user_id) {
                (Some(s), None) if !s.is_empty() => Target::Serial(s),
                (None, Some(u)) if !u.is_empty() => Target::User(u),
                _ => {
                    return Err(
                        "give exactly one non-empty \"serialNumber\" or \"clientUserId\"".into(),
                    );
                }
            };
            let pair = Pair {
                adam_id: line.adam_id.0,
                pricing_param: line.pricing_param,
                target,
            };
            pair.key(location).map_err(|e| e.to_string())?;
            Ok((
                pair,
                DesiredValue {
                    desired,
                    metadata: line.metadata,
                },
            ))
        },
    )
}

/// The pairs of the single-asset form.
///
/// # Errors
/// When the metadata is not JSON or a part cannot be a key.
pub fn single_pairs(
    args: &DesireArgs,
    desired: Desired,
) -> anyhow::Result<Vec<(Pair, DesiredValue)>> {
    let metadata = match &args.metadata {
        Some(m) => Some(serde_json::from_str::<Value>(m).context("--metadata is not JSON")?),
        None => None,
    };
    let adam_id = args.adam_id.clone().unwrap_or_default();
    let targets = args
        .serial
        .iter()
        .map(|s| Target::Serial(s.clone()))
        .chain(args.user.iter().map(|u| Target::User(u.clone())));
    let mut out = Vec::new();
    for target in targets {
        let pair = Pair {
            adam_id: adam_id.clone(),
            pricing_param: args.pricing_param.clone(),
            target,
        };
        pair.key(&args.location)?;
        out.push((
            pair,
            DesiredValue {
                desired,
                metadata: metadata.clone(),
            },
        ));
    }
    Ok(out)
}

pub(crate) fn known_location(config: &crate::config::Config, location: &str) -> anyhow::Result<()> {
    if config.locations.iter().any(|l| l.id == location) {
        Ok(())
    } else {
        anyhow::bail!(
            "location {location:?} is not in the configuration; configured: {}",
            config
                .locations
                .iter()
                .map(|l| l.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

pub(crate) async fn open(config: &crate::config::Config) -> anyhow::Result<Store> {
    Ok(
        Store::open(&jetstream::new(crate::nats::connect(&config.nats).await?))
            .await?
            .with_retry(plan::RetryDelay::from(&config.intents)),
    )
}

/// `vppbridge assign` (`Desired::Assigned`) and `vppbridge unassign`.
///
/// # Errors
/// When the file cannot be read or has bad lines (nothing is written then), or NATS fails.
pub async fn desire_command(
    config: Option<&Path>,
    args: DesireArgs,
    desired: Desired,
) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    known_location(&config, &args.location)?;
    let entries = match &args.file {
        Some(path) => super::lines::read(path, |text| parse_lines(&args.location, text, desired))?,
        None => single_pairs(&args, desired)?,
    };
    let store = open(&config).await?;
    let written = store.write_desired(&args.location, &entries).await?;
    println!(
        "{} pair(s) {} for location {}: {} key(s) written to vpp-desired, {} already so",
        entries.len(),
        desired.as_str(),
        args.location,
        written.len(),
        entries.len() - written.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// One row of `vppbridge intents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntentRow {
    /// The key.
    pub key: String,
    /// Product id.
    pub adam_id: String,
    /// `STDQ` or `PLUS`.
    pub pricing_param: String,
    /// The device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// The user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_user_id: Option<String>,
    /// `assigned` or `unassigned`.
    pub desired: Desired,
    /// Where it stands.
    pub state: IntentState,
    /// Apple's `eventId`, when submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Apple's error number, when waiting or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_number: Option<i32>,
    /// Apple's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// Every managed key of `location` with its state (`pending` when no record is about its
/// current desired value), optionally only those in `state`.
///
/// # Errors
/// When NATS fails.
pub async fn list(
    store: &Store,
    location: &str,
    state: Option<IntentState>,
) -> anyhow::Result<Vec<IntentRow>> {
    let desired = store.desired(location).await?;
    let records = store.records(location).await?;
    let mut rows = Vec::new();
    for (key, d) in desired {
        let rec = records.get(&key).filter(|r| {
            r.desired_revision == d.revision
                || (r.desired == d.value.desired && r.state == IntentState::Applied)
        });
        let a = d.pair.assignment();
        let row = IntentRow {
            key,
            adam_id: a.adam_id,
            pricing_param: a.pricing_param,
            serial_number: a.serial_number,
            client_user_id: a.client_user_id,
            desired: d.value.desired,
            state: rec.map_or(IntentState::Pending, |r| r.state),
            event_id: rec.and_then(|r| r.event_id.clone()),
            error_number: rec.and_then(|r| r.error_number),
            error_message: rec.and_then(|r| r.error_message.clone()),
        };
        if state.is_none_or(|s| s == row.state) {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// `vppbridge intents`.
///
/// # Errors
/// When NATS fails.
pub async fn intents_command(config: Option<&Path>, args: IntentsArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    let store = open(&config).await?;
    let rows = list(&store, &args.location, args.state).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("ADAM_ID\tPRICING\tTARGET\tDESIRED\tSTATE\tEVENT_ID\tERROR");
    for r in &rows {
        let target = match (&r.serial_number, &r.client_user_id) {
            (Some(s), _) => format!("serial:{s}"),
            (_, Some(u)) => format!("user:{u}"),
            _ => String::new(),
        };
        let error = match (r.error_number, &r.error_message) {
            (Some(n), Some(m)) => format!("{n} {m}"),
            _ => String::new(),
        };
        println!(
            "{}\t{}\t{target}\t{}\t{}\t{}\t{error}",
            r.adam_id,
            r.pricing_param,
            r.desired.as_str(),
            r.state.as_str(),
            r.event_id.as_deref().unwrap_or("")
        );
    }
    eprintln!("{} intent(s)", rows.len());
    Ok(ExitCode::SUCCESS)
}

/// The requests a pass would send now for `location` with `limits` (nothing is sent, nothing
/// recorded; outcomes a pass would record without Apple are not shown).
///
/// # Errors
/// When NATS fails.
pub async fn plan_requests(
    store: &Store,
    location: &str,
    limits: &Limits,
) -> anyhow::Result<Vec<(Action, ManageAssetsRequest)>> {
    let requests = store.requests(location).await?;
    let snap: Snapshot = store.snapshot(location, &requests).await?;
    let decision = plan::decide(&snap);
    Ok(decision
        .send
        .into_iter()
        .flat_map(|(action, list)| {
            let pairs: Vec<Pair> = list.into_iter().map(|(_, p)| p).collect();
            plan::batch(&pairs, limits)
                .into_iter()
                .map(move |r| (action, r))
        })
        .collect())
}

/// `vppbridge plan`: reads Apple's limits from Service Config (a read; Apple's documented
/// defaults when it cannot be reached) and prints the requests.
///
/// # Errors
/// When NATS fails or the location's token cannot be read.
pub async fn plan_command(config: Option<&Path>, args: PlanArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    known_location(&config, &args.location)?;
    let lc = config
        .locations
        .iter()
        .find(|l| l.id == args.location)
        .context("location vanished")?;
    let token = apple_vpp::token::ContentToken::from_file(&lc.token_file)
        .map_err(|e| anyhow::anyhow!("location {}: {e}", lc.id))?;
    let client = apple_vpp::AppleClient::new(&config.apple.client_settings(), token, None)
        .map_err(|e| anyhow::anyhow!("location {}: {e}", lc.id))?;
    let limits = match client.refresh_limits().await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "warning: cannot read Apple's limits ({e}); planning with Apple's documented defaults"
            );
            client.limits()
        }
    };
    let store = open(&config).await?;
    let reqs = plan_requests(&store, &args.location, &limits).await?;
    if args.json {
        let doc: Vec<Value> = reqs
            .iter()
            .map(|(a, r)| serde_json::json!({"action": a.as_str(), "request": r}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    let pairs: usize = reqs
        .iter()
        .map(|(_, r)| r.assets.len() * (r.serial_numbers.len() + r.client_user_ids.len()))
        .sum();
    for (a, r) in &reqs {
        println!(
            "POST assets/{}: {} asset(s) × {} serial number(s) + {} user(s)",
            a.as_str(),
            r.assets.len(),
            r.serial_numbers.len(),
            r.client_user_ids.len()
        );
    }
    println!(
        "{} request(s), {pairs} pair(s) (limits: maxAssets {}, maxSerialNumbers {}, maxClientUserIds {}); nothing was sent",
        reqs.len(),
        limits.max_assets(),
        limits.max_serial_numbers(),
        limits.max_client_user_ids()
    );
    Ok(ExitCode::SUCCESS)
}
