//! The view against Apple's truth: reads a location's key-value view (`vpp-assets`,
//! `vpp-assignments`, `vpp-users`) and the simulator's `GET /_sim/locations/{uId}/state`, and
//! says whether they hold the same assets (with their counts), the same assignments and the same
//! users (with their status).
//!
//! Shared by the demo, the benchmark and the fault suite. The comparison is deliberately
//! independent of the worker's code: it reads the view's JSON values as the event contract
//! documents them (`adamId`, `pricingParam`, the counts, `serialNumber`/`clientUserId`, `status`)
//! rather than re-deriving keys with the worker's own functions, so a bug there cannot hide
//! itself. Must not write anything.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use serde::Deserialize;

use apple_vpp_types::{Assignment, ResponseAsset, ResponseUser};

/// The view's asset bucket.
pub const ASSETS_BUCKET: &str = "vpp-assets";
/// The view's assignment bucket.
pub const ASSIGNMENTS_BUCKET: &str = "vpp-assignments";
/// The view's user bucket.
pub const USERS_BUCKET: &str = "vpp-users";

/// Differences kept as examples in a [`Comparison`] (all are counted).
const MAX_EXAMPLES: usize = 5;

/// Reading the view or the truth failed.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    /// The simulator's admin API did not answer with a location's state.
    #[error("cannot read Apple's truth from the simulator at {url}: {detail}")]
    Simulator {
        /// The admin URL asked.
        url: String,
        /// What happened.
        detail: String,
    },
    /// A view bucket could not be read.
    #[error(
        "cannot read the view's bucket {bucket} for location {location}: {detail} (run `vppbridge nats setup`?)"
    )]
    View {
        /// The bucket.
        bucket: &'static str,
        /// The location.
        location: String,
        /// What NATS said.
        detail: String,
    },
}

/// Apple's truth about one location, as `GET /_sim/locations/{uId}/state` reports it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimState {
    /// The location's `uId`.
    pub u_id: String,
    /// Every asset with its counts.
    #[serde(default)]
    pub assets: Vec<ResponseAsset>,
    /// Every assignment.
    #[serde(default)]
    pub assignments: Vec<Assignment>,
    /// Every user, retired ones included.
    #[serde(default)]
    pub users: Vec<ResponseUser>,
    /// The location's current `versionId`.
    #[serde(default)]
    pub version_id: String,
}

/// Reads Apple's truth about `u_id` from the simulator's admin API (`admin_url` ends in `/_sim/`).
///
/// # Errors
/// [`TruthError::Simulator`] when the simulator does not answer with the state.
pub async fn fetch_truth(
    http: &reqwest::Client,
    admin_url: &str,
    u_id: &str,
) -> Result<SimState, TruthError> {
    let url = format!("{}/locations/{u_id}/state", admin_url.trim_end_matches('/'));
    let err = |detail: String| TruthError::Simulator {
        url: url.clone(),
        detail,
    };
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    if !response.status().is_success() {
        return Err(err(format!("HTTP {}", response.status())));
    }
    response.json().await.map_err(|e| err(e.to_string()))
}

/// An asset's licence counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Licenses assigned.
    pub assigned_count: i64,
    /// Licenses available.
    pub available_count: i64,
    /// Licenses retired.
    pub retired_count: i64,
    /// Licenses in total.
    pub total_count: i64,
}

impl From<&ResponseAsset> for Counts {
    fn from(a: &ResponseAsset) -> Self {
        Counts {
            assigned_count: a.assigned_count,
            available_count: a.available_count,
            retired_count: a.retired_count,
            total_count: a.total_count,
        }
    }
}

/// `(adamId, pricingParam)`.
pub type AssetId = (String, String);

/// Who an assignment is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// A device serial number.
    Device(String),
    /// A client user id.
    User(String),
}

/// One side of the comparison: assets with counts, assignments, users with status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Assets and their counts.
    pub assets: BTreeMap<AssetId, Counts>,
    /// `(asset, target)` pairs.
    pub assignments: BTreeSet<(AssetId, Target)>,
    /// `clientUserId` → status.
    pub users: BTreeMap<String, String>,
}

fn target(serial: Option<&String>, user: Option<&String>) -> Option<Target> {
    match (serial, user) {
        (Some(s), _) if !s.is_empty() => Some(Target::Device(s.clone())),
        (_, Some(u)) if !u.is_empty() => Some(Target::User(u.clone())),
        _ => None,
    }
}

fn inactive(status: &str) -> bool {
    matches!(status, "Retired" | "Deleted")
}

impl SimState {
    /// What the view should hold: everything, except retired and deleted users when the view
    /// keeps only active ones (`sync.users_active_only`).
    pub fn snapshot(&self, users_active_only: bool) -> Snapshot {
        let assets = self
            .assets
            .iter()
            .map(|a| {
                let id = (a.adam_id.0.clone(), a.pricing_param.clone());
                (id, Counts::from(a))
            })
            .collect();
        let assignments = self
            .assignments
            .iter()
            .filter_map(|a| {
                let t = target(a.serial_number.as_ref(), a.client_user_id.as_ref())?;
                Some(((a.adam_id.0.clone(), a.pricing_param.clone()), t))
            })
            .collect();
        let mut users = BTreeMap::new();
        for u in &self.users {
            if users_active_only && inactive(&u.status) {
                continue;
            }
            // Apple may list a retired record beside an active one with the same id: the
            // active one is the user.
            let keep = users
                .get(&u.client_user_id)
                .is_none_or(|s: &String| inactive(s));
            if keep {
                users.insert(u.client_user_id.clone(), u.status.clone());
            }
        }
        Snapshot {
            assets,
            assignments,
            users,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ViewAsset {
    adam_id: String,
    pricing_param: String,
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ViewAssignment {
    adam_id: String,
    pricing_param: String,
    serial_number: Option<String>,
    client_user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ViewUser {
    client_user_id: String,
    status: String,
}

/// Reads `location`'s part of the view. A value that is not what vppbridge writes is counted
/// under [`ViewRead::unreadable`] (it cannot equal any truth).
///
/// # Errors
/// [`TruthError::View`] when a bucket cannot be read.
pub async fn read_view(js: &jetstream::Context, location: &str) -> Result<ViewRead, TruthError> {
    let mut read = ViewRead::default();
    for (key, value) in live_values(js, ASSETS_BUCKET, location).await? {
        match serde_json::from_slice::<ViewAsset>(&value) {
            Ok(a) => {
                read.snapshot
                    .assets
                    .insert((a.adam_id, a.pricing_param), a.counts);
            }
            Err(_) => read.unreadable.push(format!("{ASSETS_BUCKET}/{key}")),
        }
    }
    for (key, value) in live_values(js, ASSIGNMENTS_BUCKET, location).await? {
        let parsed = serde_json::from_slice::<ViewAssignment>(&value)
            .ok()
            .and_then(|a| {
                let t = target(a.serial_number.as_ref(), a.client_user_id.as_ref())?;
                Some(((a.adam_id, a.pricing_param), t))
            });
        match parsed {
            Some(pair) => {
                read.snapshot.assignments.insert(pair);
            }
            None => read.unreadable.push(format!("{ASSIGNMENTS_BUCKET}/{key}")),
        }
    }
    for (key, value) in live_values(js, USERS_BUCKET, location).await? {
        match serde_json::from_slice::<ViewUser>(&value) {
            Ok(u) => {
                read.snapshot.users.insert(u.client_user_id, u.status);
            }
            Err(_) => read.unreadable.push(format!("{USERS_BUCKET}/{key}")),
        }
    }
    Ok(read)
}

/// The view of one location as read.
#[derive(Debug, Clone, Default)]
pub struct ViewRead {
    /// What could be read.
    pub snapshot: Snapshot,
    /// Keys whose values are not vppbridge's JSON.
    pub unreadable: Vec<String>,
}

/// The live keys under `<location>.` in `bucket` with their values: one pass over the bucket's
/// stream (last message per key), not one request per key, so a 100,000-key view reads in one go.
async fn live_values(
    js: &jetstream::Context,
    bucket: &'static str,
    location: &str,
) -> Result<Vec<(String, bytes::Bytes)>, TruthError> {
    let err = |detail: String| TruthError::View {
        bucket,
        location: location.to_owned(),
        detail,
    };
    let store = js
        .get_key_value(bucket)
        .await
        .map_err(|e| err(e.to_string()))?;
    let consumer = store
        .stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: js.client().new_inbox(),
            filter_subject: format!("{}{location}.>", store.prefix),
            deliver_policy: consumer::DeliverPolicy::LastPerSubject,
            replay_policy: consumer::ReplayPolicy::Instant,
            ..Default::default()
        })
        .await
        .map_err(|e| err(e.to_string()))?;
    let mut out = Vec::new();
    if consumer.cached_info().num_pending == 0 {
        return Ok(out);
    }
    let mut messages = consumer.messages().await.map_err(|e| err(e.to_string()))?;
    while let Some(m) = messages.next().await {
        let m = m.map_err(|e| err(e.to_string()))?;
        let pending = m.info().map_err(|e| err(e.to_string()))?.pending;
        // Deletes and purges carry a `KV-Operation` header; puts carry none.
        let deleted = m
            .headers
            .as_ref()
            .and_then(|h| h.get("KV-Operation"))
            .is_some();
        if !deleted && let Some(key) = m.subject.as_str().strip_prefix(store.prefix.as_str()) {
            out.push((key.to_owned(), m.payload.clone()));
        }
        if pending == 0 {
            break;
        }
    }
    Ok(out)
}

/// One way the view differs from the truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// Apple has the asset; the view does not.
    AssetMissing(AssetId),
    /// The view has an asset Apple does not.
    AssetExtra(AssetId),
    /// Both have the asset with other counts.
    AssetCounts {
        /// The asset.
        asset: AssetId,
        /// The view's counts.
        view: Counts,
        /// Apple's counts.
        truth: Counts,
    },
    /// Apple has the assignment; the view does not.
    AssignmentMissing(AssetId, Target),
    /// The view has an assignment Apple does not.
    AssignmentExtra(AssetId, Target),
    /// Apple has the user; the view does not.
    UserMissing(String),
    /// The view has a user Apple does not (or no longer as active).
    UserExtra(String),
    /// Both have the user with another status.
    UserStatus {
        /// The user.
        user: String,
        /// The view's status.
        view: String,
        /// Apple's status.
        truth: String,
    },
    /// A view value that is not vppbridge's JSON.
    Unreadable(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Device(s) => write!(f, "device {s}"),
            Target::User(u) => write!(f, "user {u}"),
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::AssetMissing((a, p)) => write!(f, "asset {a}/{p} missing from the view"),
            Difference::AssetExtra((a, p)) => write!(f, "asset {a}/{p} in the view, not at Apple"),
            Difference::AssetCounts { asset, view, truth } => write!(
                f,
                "asset {}/{}: view assigned/available/total {}/{}/{}, Apple {}/{}/{}",
                asset.0,
                asset.1,
                view.assigned_count,
                view.available_count,
                view.total_count,
                truth.assigned_count,
                truth.available_count,
                truth.total_count
            ),
            Difference::AssignmentMissing((a, _), t) => {
                write!(f, "assignment {a} → {t} missing from the view")
            }
            Difference::AssignmentExtra((a, _), t) => {
                write!(f, "assignment {a} → {t} in the view, not at Apple")
            }
            Difference::UserMissing(u) => write!(f, "user {u} missing from the view"),
            Difference::UserExtra(u) => write!(f, "user {u} in the view, not active at Apple"),
            Difference::UserStatus { user, view, truth } => {
                write!(f, "user {user}: view says {view}, Apple {truth}")
            }
            Difference::Unreadable(k) => write!(f, "{k} is not vppbridge's JSON"),
        }
    }
}

/// The outcome of comparing the view with the truth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Assets, assignments and users in the truth.
    pub truth_sizes: (usize, usize, usize),
    /// Assets, assignments and users in the view.
    pub view_sizes: (usize, usize, usize),
    /// Differences found.
    pub differences: usize,
    /// The first few of them.
    pub examples: Vec<Difference>,
}

impl Comparison {
    /// Whether the view equals the truth.
    pub fn matches(&self) -> bool {
        self.differences == 0
    }

    fn note(&mut self, d: Difference) {
        self.differences += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(d);
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, s, u) = self.truth_sizes;
        if self.matches() {
            return write!(
                f,
                "the view equals Apple's truth ({a} assets, {s} assignments, {u} users)"
            );
        }
        write!(
            f,
            "the view differs from Apple's truth in {} place(s)",
            self.differences
        )?;
        for d in &self.examples {
            write!(f, "; {d}")?;
        }
        if self.differences > self.examples.len() {
            write!(f, "; ...")?;
        }
        Ok(())
    }
}

/// Compares a view with the truth (pure).
pub fn compare(view: &ViewRead, truth: &Snapshot) -> Comparison {
    let v = &view.snapshot;
    let mut c = Comparison {
        truth_sizes: (
            truth.assets.len(),
            truth.assignments.len(),
            truth.users.len(),
        ),
        view_sizes: (v.assets.len(), v.assignments.len(), v.users.len()),
        ..Comparison::default()
    };
    for k in &view.unreadable {
        c.note(Difference::Unreadable(k.clone()));
    }
    for (id, t) in &truth.assets {
        match v.assets.get(id) {
            None => c.note(Difference::AssetMissing(id.clone())),
            Some(mine) if mine != t => c.note(Difference::AssetCounts {
                asset: id.clone(),
                view: *mine,
                truth: *t,
            }),
            Some(_) => {}
        }
    }
    for id in v.assets.keys().filter(|id| !truth.assets.contains_key(*id)) {
        c.note(Difference::AssetExtra(id.clone()));
    }
    for (id, t) in truth.assignments.difference(&v.assignments) {
        c.note(Difference::AssignmentMissing(id.clone(), t.clone()));
    }
    for (id, t) in v.assignments.difference(&truth.assignments) {
        c.note(Difference::AssignmentExtra(id.clone(), t.clone()));
    }
    for (id, status) in &truth.users {
        match v.users.get(id) {
            None => c.note(Difference::UserMissing(id.clone())),
            Some(mine) if mine != status => c.note(Difference::UserStatus {
                user: id.clone(),
                view: mine.clone(),
                truth: status.clone(),
            }),
            Some(_) => {}
        }
    }
    for id in v.users.keys().filter(|id| !truth.users.contains_key(*id)) {
        c.note(Difference::UserExtra(id.clone()));
    }
    c
}

/// Reads `location`'s view and the simulator's truth about `u_id` and compares them.
/// `users_active_only` is the configuration's `sync.users_active_only`.
///
/// # Errors
/// When the view or the truth cannot be read.
pub async fn compare_view(
    js: &jetstream::Context,
    http: &reqwest::Client,
    admin_url: &str,
    location: &str,
    u_id: &str,
    users_active_only: bool,
) -> Result<Comparison, TruthError> {
    let truth = fetch_truth(http, admin_url, u_id).await?;
    let view = read_view(js, location).await?;
    Ok(compare(&view, &truth.snapshot(users_active_only)))
}

#[cfg(test)]
mod tests;
