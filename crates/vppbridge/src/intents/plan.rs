//! Pure decisions: desired vs actual → what to record and what to send ([`decide`]), and how to
//! send it in as few requests as Apple's limits allow ([`batch`]).
//!
//! One associate or disassociate applies to every asset × every target it names, so a batch
//! must be a "rectangle" of wanted pairs: [`batch`] groups targets by the exact set of assets
//! they need (and, the other way round, assets by the exact set of targets), keeps the grouping
//! with fewer requests, and cuts each group by `maxAssets` × `maxSerialNumbers` (or
//! `maxClientUserIds`). No request ever carries a pair nobody asked for.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::{Action, Pair, Target};
use crate::events::intents::{Desired, DesiredValue, IntentOutcome, IntentRecord, IntentState};
use apple_vpp::Limits;
use apple_vpp::types::{AdamId, Asset, ManageAssetsRequest};

/// Apple's error for a Book sent to a serial number.
pub const BOOK_TO_DEVICE: i32 = 9707;

/// What the view knows of an asset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssetFacts {
    /// Whether it can go to a device (Books cannot).
    pub device_assignable: bool,
    /// Licenses available.
    pub available_count: i64,
    /// The view's revision of the asset (0 when unknown).
    pub revision: u64,
}

/// One desired key as read from `vpp-desired`.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredEntry {
    /// The pair the key names.
    pub pair: Pair,
    /// The value.
    pub value: DesiredValue,
    /// The key's revision.
    pub revision: u64,
}

/// Everything [`decide`] looks at, for one location.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Managed keys.
    pub desired: BTreeMap<String, DesiredEntry>,
    /// Tracking records by key.
    pub records: BTreeMap<String, IntentRecord>,
    /// Keys the view holds as assigned.
    pub actual: BTreeSet<String>,
    /// Assets by (adamId, pricingParam).
    pub assets: BTreeMap<(String, String), AssetFacts>,
    /// Keys carried by a request still in flight.
    pub in_flight: BTreeSet<String>,
    /// When the snapshot was taken.
    pub now: DateTime<Utc>,
    /// How long a pair whose request failed transiently waits before it is sent again.
    pub retry: RetryDelay,
}

/// Exponential delay between attempts after a transient failure, from the record's
/// `updated_at`: `base` × 2^(attempts − 1), at most `max`. The default (zero) does not wait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryDelay {
    /// The first delay.
    pub base: std::time::Duration,
    /// The longest.
    pub max: std::time::Duration,
}

impl From<&crate::config::IntentsConfig> for RetryDelay {
    fn from(c: &crate::config::IntentsConfig) -> Self {
        RetryDelay {
            base: std::time::Duration::from_secs(c.retry_base_delay_secs),
            max: std::time::Duration::from_secs(c.retry_max_delay_secs),
        }
    }
}

impl RetryDelay {
    /// The delay after `attempts` requests.
    pub fn after(&self, attempts: u32) -> std::time::Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// Whether a record that failed transiently at `updated_at` after `attempts` requests may
    /// be sent again at `now`.
    pub fn due(&self, attempts: u32, updated_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let wait =
            chrono::TimeDelta::from_std(self.after(attempts)).unwrap_or(chrono::TimeDelta::MAX);
        now - updated_at >= wait
    }
}

/// An outcome to record now, without a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settle {
    /// The key.
    pub key: String,
    /// The outcome.
    pub outcome: IntentOutcome,
    /// Apple's (or vppbridge's) error, for `failed`.
    pub error: Option<(i32, String)>,
}

/// What one pass should do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Outcomes to record.
    pub settle: Vec<Settle>,
    /// Pairs to send, by action, with their keys.
    pub send: BTreeMap<Action, Vec<(String, Pair)>>,
}

/// Whether the view agrees with `desired` for `key`.
fn satisfied(snap: &Snapshot, key: &str, desired: Desired) -> bool {
    snap.actual.contains(key) == (desired == Desired::Assigned)
}

/// The record of `key` if it is about the current desired value (or about the same desired
/// value at an older revision: rewriting an identical value changes nothing).
fn current<'a>(snap: &'a Snapshot, key: &str, e: &DesiredEntry) -> Option<&'a IntentRecord> {
    snap.records.get(key).filter(|r| {
        r.desired_revision == e.revision
            || (r.desired == e.value.desired && r.state == IntentState::Applied)
    })
}

/// Managed keys by state (a key with no record about its current desired value is
/// `pending`); every state is present.
pub fn states(snap: &Snapshot) -> BTreeMap<IntentState, i64> {
    let mut out: BTreeMap<IntentState, i64> = IntentState::ALL.iter().map(|s| (*s, 0)).collect();
    for (key, e) in &snap.desired {
        let state = current(snap, key, e).map_or(IntentState::Pending, |r| r.state);
        *out.entry(state).or_default() += 1;
    }
    out
}

/// A waiting pair: since when, its key, the pair.
type Queued = (DateTime<Utc>, String, Pair);

/// Desired vs actual: which keys are now `applied` (or `failed` without asking Apple), and which
/// pairs need a request. Never a pair in flight, never one already `applied`, `failed` or
/// `submitted` for its desired value, never a Book to a serial number; `waiting` pairs only as
/// many per asset as it has licenses available beyond the pending ones, oldest first.
pub fn decide(snap: &Snapshot) -> Decision {
    let mut d = Decision::default();
    let mut waiting: BTreeMap<(String, String), Vec<Queued>> = BTreeMap::new();
    let mut pending_per_asset: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (key, e) in &snap.desired {
        if snap.in_flight.contains(key) {
            continue;
        }
        let rec = current(snap, key, e);
        let state = rec.map(|r| r.state);
        let asset = (e.pair.adam_id.clone(), e.pair.pricing_param.clone());
        if satisfied(snap, key, e.value.desired) {
            if state != Some(IntentState::Applied) {
                d.settle.push(Settle {
                    key: key.clone(),
                    outcome: IntentOutcome::Applied,
                    error: None,
                });
            }
            continue;
        }
        match state {
            // Applied stays applied until the desired value changes (the view may lag behind
            // Apple when notifications are lost); failed is not retried until it changes.
            Some(IntentState::Applied | IntentState::Failed) => continue,
            Some(IntentState::Waiting) => {
                // Apple found no license: ask again only once the asset has changed since.
                let seen = rec.and_then(|r| r.asset_revision).unwrap_or(0);
                if snap.assets.get(&asset).is_none_or(|a| a.revision <= seen) {
                    continue;
                }
                let since = rec.map(|r| r.updated_at).unwrap_or_default();
                waiting
                    .entry(asset)
                    .or_default()
                    .push((since, key.clone(), e.pair.clone()));
                continue;
            }
            // A transient failure: sent again once its delay has passed (so a 5xx storm does
            // not resend at every pass).
            Some(IntentState::Pending)
                if rec.is_some_and(|r| {
                    r.error_number.is_some() && !snap.retry.due(r.attempts, r.updated_at, snap.now)
                }) =>
            {
                continue;
            }
            // Submitted without a request in flight: the request was resolved without this
            // key (or lost): send it again.
            Some(IntentState::Submitted | IntentState::Pending) | None => {}
        }
        let action = match e.value.desired {
            Desired::Assigned => Action::Associate,
            Desired::Unassigned => Action::Disassociate,
        };
        let book_to_device = matches!(e.pair.target, Target::Serial(_))
            && action == Action::Associate
            && snap
                .assets
                .get(&asset)
                .is_some_and(|a| !a.device_assignable);
        if book_to_device {
            if state != Some(IntentState::Failed) {
                d.settle.push(Settle {
                    key: key.clone(),
                    outcome: IntentOutcome::Failed,
                    error: Some((
                        BOOK_TO_DEVICE,
                        "this asset cannot be assigned to a device (a Book): assign it to a user (clientUserId) instead".to_owned(),
                    )),
                });
            }
            continue;
        }
        if action == Action::Associate {
            *pending_per_asset.entry(asset).or_default() += 1;
        }
        d.send
            .entry(action)
            .or_default()
            .push((key.clone(), e.pair.clone()));
    }
    for (asset, mut list) in waiting {
        let available = snap.assets.get(&asset).map_or(0, |a| a.available_count);
        let room = available - pending_per_asset.get(&asset).copied().unwrap_or(0);
        let room = usize::try_from(room.max(0)).unwrap_or(0);
        list.sort();
        for (_, key, pair) in list.into_iter().take(room) {
            d.send
                .entry(Action::Associate)
                .or_default()
                .push((key, pair));
        }
    }
    d
}

/// Groups of a rectangle: a set of assets × a set of ids.
type Groups = Vec<(Vec<Asset>, Vec<String>)>;

fn asset(p: &Pair) -> Asset {
    Asset {
        adam_id: AdamId(p.adam_id.clone()),
        pricing_param: p.pricing_param.clone(),
    }
}

/// Requests needed for `groups` with at most `max_assets` × `max_ids` per request.
fn cost(groups: &Groups, max_assets: usize, max_ids: usize) -> usize {
    groups
        .iter()
        .map(|(a, t)| a.len().div_ceil(max_assets) * t.len().div_ceil(max_ids))
        .sum()
}

/// Rectangles of (assets × ids) covering exactly `pairs` (all of one target kind).
fn rectangles(pairs: &[(Asset, String)], max_assets: usize, max_ids: usize) -> Groups {
    let mut by_id: BTreeMap<&str, BTreeSet<&Asset>> = BTreeMap::new();
    let mut by_asset: BTreeMap<&Asset, BTreeSet<&str>> = BTreeMap::new();
    for (a, id) in pairs {
        by_id.entry(id).or_default().insert(a);
        by_asset.entry(a).or_default().insert(id);
    }
    let mut ids_per_set: BTreeMap<Vec<&Asset>, Vec<String>> = BTreeMap::new();
    for (id, assets) in by_id {
        ids_per_set
            .entry(assets.into_iter().collect())
            .or_default()
            .push(id.to_owned());
    }
    let by_target: Groups = ids_per_set
        .into_iter()
        .map(|(a, ids)| (a.into_iter().cloned().collect(), ids))
        .collect();
    let mut assets_per_set: BTreeMap<Vec<&str>, Vec<Asset>> = BTreeMap::new();
    for (a, ids) in by_asset {
        assets_per_set
            .entry(ids.into_iter().collect())
            .or_default()
            .push(a.clone());
    }
    let by_asset: Groups = assets_per_set
        .into_iter()
        .map(|(ids, a)| (a, ids.into_iter().map(str::to_owned).collect()))
        .collect();
    if cost(&by_asset, max_assets, max_ids) < cost(&by_target, max_assets, max_ids) {
        by_asset
    } else {
        by_target
    }
}

/// The requests that carry exactly `pairs`, as few as `limits` allow.
pub fn batch(pairs: &[Pair], limits: &Limits) -> Vec<ManageAssetsRequest> {
    let max_assets = limits.max_assets().max(1);
    let mut serials = Vec::new();
    let mut users = Vec::new();
    for p in pairs {
        match &p.target {
            Target::Serial(s) => serials.push((asset(p), s.clone())),
            Target::User(u) => users.push((asset(p), u.clone())),
        }
    }
    let mut out = Vec::new();
    for (list, max_ids, is_serial) in [
        (serials, limits.max_serial_numbers().max(1), true),
        (users, limits.max_client_user_ids().max(1), false),
    ] {
        for (assets, ids) in rectangles(&list, max_assets, max_ids) {
            for a in assets.chunks(max_assets) {
                for t in ids.chunks(max_ids) {
                    let (serial_numbers, client_user_ids) = if is_serial {
                        (t.to_vec(), Vec::new())
                    } else {
                        (Vec::new(), t.to_vec())
                    };
                    out.push(ManageAssetsRequest {
                        assets: a.to_vec(),
                        client_user_ids,
                        serial_numbers,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
