//! Pure decisions: what a notification changes in the view, which Apple reads verify it, how a
//! slice of the view differs from Apple's truth, and which query is cheaper. No I/O, no clocks
//! of its own (time is passed in), so every rule here is unit-tested directly.
//!
//! - [`plan`]: notification → [`Plan`] (delta, failures, users, verifications).
//! - [`diff`]: current slice vs truth → the writes that make them equal.
//! - [`coalesce`]: gathers verifications per (location, asset) inside a time window.
//! - [`choose`]: by-asset or by-target reads, one `GET assets` or one per asset.

pub mod choose;
pub mod coalesce;

use std::collections::{BTreeMap, BTreeSet};

use crate::events::changes::AssetValue;
use crate::events::notification::{
    Action, AssignmentRef, EventError, Notification, Outcome, UserRef,
};

/// An asset of one location: the pair (adamId, pricingParam).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssetId {
    /// Product id.
    pub adam_id: String,
    /// `STDQ` or `PLUS`.
    pub pricing_param: String,
}

/// The target of an assignment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// A device serial number.
    Device(String),
    /// A client user id.
    User(String),
}

impl Target {
    /// The target of an assignment, when it names one.
    pub fn of(a: &AssignmentRef) -> Option<Target> {
        match (&a.serial_number, &a.client_user_id) {
            (Some(s), _) => Some(Target::Device(s.clone())),
            (None, Some(u)) => Some(Target::User(u.clone())),
            (None, None) => None,
        }
    }

    /// The assignment of `asset` to this target.
    pub fn assignment(&self, asset: &AssetId) -> AssignmentRef {
        let (serial_number, client_user_id) = match self {
            Target::Device(s) => (Some(s.clone()), None),
            Target::User(u) => (None, Some(u.clone())),
        };
        AssignmentRef {
            adam_id: asset.adam_id.clone(),
            pricing_param: asset.pricing_param.clone(),
            serial_number,
            client_user_id,
        }
    }
}

/// What one asset's verification must read from Apple.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyRequest {
    /// Read the asset's assignments.
    pub assignments: bool,
    /// Read the asset's counts.
    pub counts: bool,
    /// The targets the notifications named (a hint for the cheaper query).
    pub targets: BTreeSet<Target>,
}

impl VerifyRequest {
    /// Folds another request for the same asset into this one.
    pub fn merge(&mut self, other: VerifyRequest) {
        self.assignments |= other.assignments;
        self.counts |= other.counts;
        self.targets.extend(other.targets);
    }
}

/// A failure Apple reported for one (asset, target) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The pair.
    pub assignment: AssignmentRef,
    /// What was attempted.
    pub action: Action,
    /// The originating request.
    pub event_id: String,
    /// Apple's error.
    pub error: EventError,
}

/// What a notification asks of the view and of Apple.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Assignments to set (`true`) or remove (`false`) at once.
    pub assignments: Vec<(AssignmentRef, bool)>,
    /// A change of an asset's total and available counts.
    pub count_delta: Option<(AssetId, i64)>,
    /// Users to upsert (or remove, for retired users when only active users are kept).
    pub users: Vec<UserRef>,
    /// Failures to report.
    pub failures: Vec<Failure>,
    /// Verifications to schedule, per asset.
    pub verify: BTreeMap<AssetId, VerifyRequest>,
    /// Why nothing is done, for notifications that are only acknowledged and logged.
    pub ignored: Option<&'static str>,
}

/// Decides what a notification changes.
pub fn plan(n: &Notification) -> Plan {
    let mut p = Plan::default();
    match n {
        Notification::AssetManagement(d) => {
            let present = d.action == Action::Associate;
            for a in &d.assignments {
                let asset = AssetId {
                    adam_id: a.adam_id.clone(),
                    pricing_param: a.pricing_param.clone(),
                };
                let v = p.verify.entry(asset).or_default();
                v.assignments = true;
                v.counts = true;
                v.targets.extend(Target::of(a));
                match (d.result, &d.error) {
                    (Outcome::Success, _) => p.assignments.push((a.clone(), present)),
                    (Outcome::Failure, error) => p.failures.push(Failure {
                        assignment: a.clone(),
                        action: d.action,
                        event_id: d.event_id.clone(),
                        error: error.clone().unwrap_or(EventError {
                            error_number: 0,
                            error_message: "Apple reported a failure without an error".into(),
                        }),
                    }),
                }
            }
        }
        Notification::AssetCount(d) => {
            let asset = AssetId {
                adam_id: d.adam_id.clone(),
                pricing_param: d.pricing_param.clone(),
            };
            p.count_delta = Some((asset.clone(), d.count_delta));
            p.verify.entry(asset).or_default().counts = true;
        }
        Notification::UserManagement(d) => match d.result {
            Outcome::Success => p.users = d.users.clone(),
            Outcome::Failure => p.ignored = Some("user management failure: nothing changed"),
        },
        Notification::UserAssociated(d) => p.users = d.users.clone(),
        Notification::Test(_) => p.ignored = Some("test notification"),
        Notification::SubscriptionManagement(_) | Notification::SubscriptionCount(_) => {
            p.ignored = Some("subscriptions are not part of the view")
        }
        Notification::Unknown(_) => p.ignored = Some("unknown notification type"),
    }
    p
}

/// The view's value for a user, or `None` when the view does not keep it (retired or deleted
/// users when only active users are kept).
pub fn user_value(u: &UserRef, active_only: bool) -> Option<UserRef> {
    let inactive = matches!(u.status.as_str(), "Retired" | "Deleted");
    (!(active_only && inactive)).then(|| u.clone())
}

/// An asset's counts after `countDelta` (Apple's delta is on the total; the licenses added or
/// removed are unassigned ones, so the available count moves with it). `None` when a count
/// would leave `0..=i64::MAX` (the view and the delta disagree: the verification decides).
pub fn apply_count_delta(v: &AssetValue, delta: i64) -> Option<AssetValue> {
    let total_count = v.total_count.checked_add(delta).filter(|c| *c >= 0)?;
    let available_count = v.available_count.checked_add(delta).filter(|c| *c >= 0)?;
    Some(AssetValue {
        total_count,
        available_count,
        ..v.clone()
    })
}

/// The writes that turn `current` into `truth`: `(key, Some(value))` to set, `(key, None)` to
/// remove. Keys whose values are equal are left alone, so applying the result twice writes
/// nothing the second time.
pub fn diff<T: PartialEq + Clone>(
    current: &BTreeMap<String, T>,
    truth: &BTreeMap<String, T>,
) -> Vec<(String, Option<T>)> {
    let mut out = Vec::new();
    for (k, v) in truth {
        if current.get(k) != Some(v) {
            out.push((k.clone(), Some(v.clone())));
        }
    }
    for k in current.keys() {
        if !truth.contains_key(k) {
            out.push((k.clone(), None));
        }
    }
    out
}

#[cfg(test)]
mod tests;
