//! Pure decisions of the users converger: desired users vs the view's users → the keys already
//! so (recorded `applied` without Apple) and the users to send, per write, in batches of
//! `maxUsers`.

use std::collections::BTreeMap;

use apple_vpp::types::{ManageUsersRequest, RequestUser};

use crate::events::intents::IntentState;
use crate::events::notification::UserRef;
use crate::events::user_intents::{DesiredUserValue, UserDesired, UserIntentRecord, UserOp};

/// One managed user as read from `vpp-desired-users`.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredUser {
    /// The MDM's id of the user (decoded from the key).
    pub client_user_id: String,
    /// The value.
    pub value: DesiredUserValue,
    /// The key's revision.
    pub revision: u64,
}

/// Everything a pass decides on.
#[derive(Debug, Clone, Default)]
pub struct UserSnapshot {
    /// `vpp-desired-users`, by key.
    pub desired: BTreeMap<String, DesiredUser>,
    /// `vpp-user-intents`, by key.
    pub records: BTreeMap<String, UserIntentRecord>,
    /// The view's users (`vpp-users`), by key.
    pub actual: BTreeMap<String, UserRef>,
}

impl UserSnapshot {
    /// The record of `key` when it is about the current desired value.
    pub fn current(&self, key: &str) -> Option<&UserIntentRecord> {
        let d = self.desired.get(key)?;
        self.records
            .get(key)
            .filter(|r| r.desired_revision == d.revision)
    }
}

/// What a pass does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserDecision {
    /// Keys whose user Apple already has as desired: recorded `applied`.
    pub settle: Vec<String>,
    /// Users to send, per write, with their keys.
    pub send: BTreeMap<UserOp, Vec<(String, RequestUser)>>,
}

fn inactive(u: &UserRef) -> bool {
    matches!(u.status.as_str(), "Retired" | "Deleted")
}

/// The write `d` needs given the view's user and the last record of the key (any revision: it
/// remembers the `managedAppleId` Apple accepted, which the view does not show). `None`: Apple
/// already agrees.
pub fn need(
    d: &DesiredUserValue,
    actual: Option<&UserRef>,
    record: Option<&UserIntentRecord>,
) -> Option<UserOp> {
    let active = actual.filter(|u| !inactive(u));
    // The view has not heard of a user this converger created (its notification was lost):
    // what Apple holds besides its existence is unknown, so a managed field is sent again.
    if active.is_none() && actual.is_none() && record.and_then(|r| r.apple_active) == Some(true) {
        return match d.desired {
            UserDesired::Retired => Some(UserOp::Retire),
            UserDesired::Active => {
                (d.email.is_some() || d.managed_apple_id.is_some()).then_some(UserOp::Update)
            }
        };
    }
    match (d.desired, active) {
        (UserDesired::Retired, Some(_)) => Some(UserOp::Retire),
        (UserDesired::Retired, None) => None,
        (UserDesired::Active, None) => Some(UserOp::Create),
        (UserDesired::Active, Some(u)) => {
            let email_differs = d.email.is_some() && d.email != u.email;
            let apple_id_differs = d.managed_apple_id.is_some()
                && (u.status != "Associated"
                    || record.and_then(|r| r.managed_apple_id.as_ref())
                        != d.managed_apple_id.as_ref());
            (email_differs || apple_id_differs).then_some(UserOp::Update)
        }
    }
}

/// The body of `op` for one user (retire carries the id only).
pub fn request_user(op: UserOp, client_user_id: &str, d: &DesiredUserValue) -> RequestUser {
    match op {
        UserOp::Retire => RequestUser {
            client_user_id: client_user_id.to_owned(),
            ..RequestUser::default()
        },
        UserOp::Create | UserOp::Update => RequestUser {
            client_user_id: client_user_id.to_owned(),
            email: d.email.clone(),
            managed_apple_id: d.managed_apple_id.clone(),
        },
    }
}

/// Whether the view shows what a write of `op` did (an update cannot be told from the view).
pub fn carried_done(op: Option<UserOp>, actual: Option<&UserRef>) -> bool {
    // (The record's `appleActive` is not consulted: it describes writes already confirmed.)
    let active = actual.is_some_and(|u| !inactive(u));
    match op {
        Some(UserOp::Create) => active,
        Some(UserOp::Retire) => !active,
        Some(UserOp::Update) | None => false,
    }
}

/// Decides a pass. A key is left alone while a request carries it (`submitted`), once it has
/// `failed` (until the desired value changes), and once `applied` for its current revision (a
/// create Apple confirmed is not sent again because the view has not caught up yet).
pub fn decide(snap: &UserSnapshot) -> UserDecision {
    let mut out = UserDecision::default();
    for (key, d) in &snap.desired {
        // A request in flight for an older desired value is resolved first: sending the new
        // one beside it could, say, create a user its create is still creating (9716).
        if snap
            .records
            .get(key)
            .is_some_and(|r| r.state == IntentState::Submitted)
        {
            continue;
        }
        let current = snap.current(key);
        if current.is_some_and(|r| {
            matches!(
                r.state,
                IntentState::Submitted | IntentState::Failed | IntentState::Applied
            )
        }) {
            continue;
        }
        match need(&d.value, snap.actual.get(key), snap.records.get(key)) {
            None => out.settle.push(key.clone()),
            Some(op) => out
                .send
                .entry(op)
                .or_default()
                .push((key.clone(), request_user(op, &d.client_user_id, &d.value))),
        }
    }
    out
}

/// Splits users into requests of at most `max_users` (at least one per request).
pub fn batch(
    users: Vec<(String, RequestUser)>,
    max_users: usize,
) -> Vec<(Vec<String>, ManageUsersRequest)> {
    let max = max_users.max(1);
    let mut out = Vec::new();
    let mut it = users.into_iter().peekable();
    while it.peek().is_some() {
        let (keys, users): (Vec<String>, Vec<RequestUser>) = it.by_ref().take(max).unzip();
        out.push((keys, ManageUsersRequest { users }));
    }
    out
}

#[cfg(test)]
mod tests;
