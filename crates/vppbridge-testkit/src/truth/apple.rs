//! Apple's side: a location's state as the simulator's admin API reports it, and the
//! [`Snapshot`] the view should equal, built from Apple's records alone.

use std::collections::BTreeMap;

use serde::Deserialize;

use apple_vpp_types::{Assignment, ResponseAsset, ResponseUser};

use super::TruthError;
use super::compare::{Counts, Difference, Snapshot, target};

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

/// Whether a user's status is one a view of active users only leaves out.
pub(super) fn inactive(status: &str) -> bool {
    matches!(status, "Retired" | "Deleted")
}

impl SimState {
    /// What the view should hold: everything, except retired and deleted users when the view
    /// keeps only active ones (`sync.users_active_only`). An assignment Apple lists with
    /// neither a serial number nor a user is kept as a problem: no view can equal it.
    pub fn snapshot(&self, users_active_only: bool) -> Snapshot {
        let mut snap = Snapshot::default();
        for a in &self.assets {
            let id = (a.adam_id.0.clone(), a.pricing_param.clone());
            snap.assets.insert(id, Counts::from(a));
        }
        for a in &self.assignments {
            let id = (a.adam_id.0.clone(), a.pricing_param.clone());
            match target(a.serial_number.as_ref(), a.client_user_id.as_ref()) {
                Some(t) => {
                    snap.assignments.insert((id, t));
                }
                None => snap.problems.push(Difference::AppleUntargeted(id)),
            }
        }
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
        snap.users = users;
        snap
    }
}
