//! The comparison itself (pure): both sides as a [`Snapshot`], every way they differ as a
//! [`Difference`], and the outcome as a [`Comparison`] that counts them all and keeps a few.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

/// Differences kept as examples in a [`Comparison`] (all are counted).
pub(super) const MAX_EXAMPLES: usize = 5;

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

/// The target an assignment names: its serial number, else its user; `None` when it names
/// neither.
pub(super) fn target(serial: Option<&String>, user: Option<&String>) -> Option<Target> {
    match (serial, user) {
        (Some(s), _) if !s.is_empty() => Some(Target::Device(s.clone())),
        (_, Some(u)) if !u.is_empty() => Some(Target::User(u.clone())),
        _ => None,
    }
}

/// One side of the comparison: assets with counts, assignments, users with status, and what
/// could not be read from that side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Assets and their counts.
    pub assets: BTreeMap<AssetId, Counts>,
    /// `(asset, target)` pairs.
    pub assignments: BTreeSet<(AssetId, Target)>,
    /// `clientUserId` → status.
    pub users: BTreeMap<String, String>,
    /// Records that cannot be compared (a view value that is not vppbridge's JSON or sits
    /// under another key than its own; an assignment of Apple's without a target). Each one is a
    /// difference: a side with problems never matches.
    pub problems: Vec<Difference>,
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
    /// A view value that is not vppbridge's JSON (`<bucket>/<key>`).
    Unreadable(String),
    /// A view value under another key than the one the documented layout gives it.
    Misfiled {
        /// Where it is (`<bucket>/<key>`).
        key: String,
        /// The key its value belongs under.
        expected: String,
    },
    /// Apple lists an assignment of this asset with neither a serial number nor a user.
    AppleUntargeted(AssetId),
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
            Difference::Misfiled { key, expected } => {
                write!(f, "{key} holds the value that belongs under {expected}")
            }
            Difference::AppleUntargeted((a, p)) => write!(
                f,
                "Apple lists an assignment of {a}/{p} with neither serialNumber nor clientUserId"
            ),
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

/// Compares the view with the truth (pure). Every problem of either side counts as a
/// difference.
pub fn compare(view: &Snapshot, truth: &Snapshot) -> Comparison {
    let v = view;
    let mut c = Comparison {
        truth_sizes: (
            truth.assets.len(),
            truth.assignments.len(),
            truth.users.len(),
        ),
        view_sizes: (v.assets.len(), v.assignments.len(), v.users.len()),
        ..Comparison::default()
    };
    for d in truth.problems.iter().chain(&v.problems) {
        c.note(d.clone());
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
