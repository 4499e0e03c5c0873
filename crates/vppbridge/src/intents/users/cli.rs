//! `vppbridge users apply` (write `vpp-desired-users`) and `vppbridge users list` (each managed
//! user and where it stands). Thin wrappers over library functions the tests call directly.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use async_nats::jetstream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::store::UserStore;
use crate::events::intents::IntentState;
use crate::events::user_intents::{DesiredUserValue, UserDesired};
use crate::intents::cli::known_location;
use crate::intents::lines;
use crate::view::keys::user_key;

/// `vppbridge users ...`
#[derive(Debug, clap::Subcommand)]
pub enum UsersCmd {
    /// Declare managed users: write `vpp-desired-users` (the worker creates, updates and retires
    /// them at Apple).
    Apply(ApplyArgs),
    /// Print the managed users of a location and where each stands.
    List(ListArgs),
}

/// Arguments of `vppbridge users apply`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// The location.
    #[arg(long)]
    pub location: String,
    /// JSON lines: `{"clientUserId": "...", "email": "...", "managedAppleId": "...",
    /// "retired": false, "metadata": {...}}` (all but `clientUserId` optional).
    #[arg(long)]
    pub file: PathBuf,
}

/// Arguments of `vppbridge users list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// The location.
    #[arg(long)]
    pub location: String,
    /// One JSON document.
    #[arg(long)]
    pub json: bool,
}

/// One line of a users file (the fields of Apple's `RequestUser`, plus `retired`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Line {
    client_user_id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    managed_apple_id: Option<String>,
    #[serde(default)]
    retired: bool,
    #[serde(default)]
    metadata: Option<Value>,
}

/// Parses a users file: every line a user (blank lines skipped); every bad line reported with
/// its number, and one bad line refuses the whole file. Returns (clientUserId, value).
///
/// # Errors
/// The problems, one per bad line.
pub fn parse_users(
    location: &str,
    text: &str,
) -> Result<Vec<(String, DesiredUserValue)>, Vec<String>> {
    let mut seen = std::collections::BTreeSet::new();
    lines::parse(
        text,
        "{\"clientUserId\": \"...\", \"email\": \"...\", \"managedAppleId\": \"...\", \"retired\": false}",
        |line: Line| {
            user_key(location, &line.client_user_id).map_err(|e| e.to_string())?;
            if !seen.insert(line.client_user_id.clone()) {
                return Err(format!(
                    "clientUserId {:?} is on an earlier line too; give each user once",
                    line.client_user_id
                ));
            }
            if line.retired && (line.email.is_some() || line.managed_apple_id.is_some()) {
                return Err(
                    "a retired user takes no \"email\" or \"managedAppleId\" (Apple's retire carries the id only)"
                        .into(),
                );
            }
            if let Some(e) = &line.email
                && !e.contains('@')
            {
                return Err(format!("\"email\" {e:?} is not an email address"));
            }
            let desired = if line.retired {
                UserDesired::Retired
            } else {
                UserDesired::Active
            };
            Ok((
                line.client_user_id,
                DesiredUserValue {
                    desired,
                    email: line.email,
                    managed_apple_id: line.managed_apple_id,
                    metadata: line.metadata,
                },
            ))
        },
    )
}

async fn open(config: &crate::config::Config) -> anyhow::Result<UserStore> {
    UserStore::open(&jetstream::new(crate::nats::connect(&config.nats).await?)).await
}

/// `vppbridge users apply`.
///
/// # Errors
/// When the file cannot be read or has bad lines (nothing is written then), or NATS fails.
pub async fn apply_command(config: Option<&Path>, args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    known_location(&config, &args.location)?;
    let entries = lines::read(&args.file, |text| parse_users(&args.location, text))?;
    let store = open(&config).await?;
    let written = store.write_desired(&args.location, &entries).await?;
    println!(
        "{} user(s) for location {}: {} key(s) written to vpp-desired-users, {} already so",
        entries.len(),
        args.location,
        written.len(),
        entries.len() - written.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// One row of `vppbridge users list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRow {
    /// The key.
    pub key: String,
    /// The MDM's id of the user.
    pub client_user_id: String,
    /// `active` or `retired`.
    pub desired: UserDesired,
    /// Where it stands.
    pub state: IntentState,
    /// Apple's `eventId`, when submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Apple's error number, when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_number: Option<i32>,
    /// Apple's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// Every managed user of `location` with its state (`pending` when no record is about its
/// current desired value).
///
/// # Errors
/// When NATS fails.
pub async fn list(store: &UserStore, location: &str) -> anyhow::Result<Vec<UserRow>> {
    let desired = store.desired(location).await?;
    let records = store.records(location).await?;
    Ok(desired
        .into_iter()
        .map(|(key, d)| {
            let rec = records
                .get(&key)
                .filter(|r| r.desired_revision == d.revision);
            UserRow {
                client_user_id: d.client_user_id,
                desired: d.value.desired,
                state: rec.map_or(IntentState::Pending, |r| r.state),
                event_id: rec.and_then(|r| r.event_id.clone()),
                error_number: rec.and_then(|r| r.error_number),
                error_message: rec.and_then(|r| r.error_message.clone()),
                key,
            }
        })
        .collect())
}

/// `vppbridge users list`.
///
/// # Errors
/// When NATS fails.
pub async fn list_command(config: Option<&Path>, args: ListArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    let store = open(&config).await?;
    let rows = list(&store, &args.location).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("CLIENT_USER_ID\tDESIRED\tSTATE\tEVENT_ID\tERROR");
    for r in &rows {
        let error = match (r.error_number, &r.error_message) {
            (Some(n), Some(m)) => format!("{n} {m}"),
            _ => String::new(),
        };
        println!(
            "{}\t{}\t{}\t{}\t{error}",
            r.client_user_id,
            r.desired.as_str(),
            r.state.as_str(),
            r.event_id.as_deref().unwrap_or("")
        );
    }
    eprintln!("{} user(s)", rows.len());
    Ok(ExitCode::SUCCESS)
}

/// Runs a `vppbridge users` subcommand.
///
/// # Errors
/// As the subcommand.
pub async fn command(config: Option<&Path>, cmd: UsersCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        UsersCmd::Apply(args) => apply_command(config, args).await,
        UsersCmd::List(args) => list_command(config, args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_file_becomes_desired_values_and_each_bad_line_is_numbered() {
        let ok = "{\"clientUserId\": \"u1\", \"email\": \"u1@x.org\"}\n\n{\"clientUserId\": \"u2\", \"retired\": true}\n";
        let v = parse_users("school", ok).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].1.desired, UserDesired::Active);
        assert_eq!(v[1].1.desired, UserDesired::Retired);
        let bad = "{\"clientUserId\": \"u1\"}\n{\"clientUserId\": \"u1\"}\n{\"clientUserId\": \"\"}\n{\"id\": \"x\"}\n{\"clientUserId\": \"u3\", \"retired\": true, \"email\": \"a@b.c\"}\n";
        let p = parse_users("school", bad).unwrap_err();
        let numbers: Vec<&str> = p.iter().map(|s| s.split(':').next().unwrap()).collect();
        assert_eq!(
            numbers,
            vec!["line 2", "line 3", "line 4", "line 5"],
            "{p:?}"
        );
    }
}
