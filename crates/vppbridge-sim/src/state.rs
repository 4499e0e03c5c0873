//! The truth of each simulated location: token, client config, assets with their counts,
//! assignments indexed by asset, serial and user, users, and the version history behind
//! `versionId` / `sinceVersionId`.
//!
//! The version counters live in `versions`: one per endpoint (assets, assignments, users).
//!
//! Pure data and its invariants (an assignment is in the asset's set and in the serial or user
//! index, or nowhere). Must not do I/O or know about HTTP.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use apple_vpp_types::{AdamId, Asset, Assignment, MdmInfo, ResponseAsset, ResponseUser};

pub(crate) use super::versions::{MAX_CHANGES, MAX_VERSIONS, Versions};

/// The target of an assignment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Target {
    /// A device.
    Serial(String),
    /// A user.
    User(String),
}

impl Target {
    /// The assignment of `asset` to this target, in Apple's wire shape.
    pub(crate) fn assignment(&self, asset: &Asset) -> Assignment {
        let (serial_number, client_user_id) = match self {
            Target::Serial(s) => (Some(s.clone()), None),
            Target::User(u) => (None, Some(u.clone())),
        };
        Assignment {
            adam_id: asset.adam_id.clone(),
            pricing_param: asset.pricing_param.clone(),
            serial_number,
            client_user_id,
            id_hash: None,
            user_status: None,
        }
    }
}

/// One asset of a location with its licenses and assignees.
#[derive(Debug, Clone, Default)]
pub(crate) struct AssetState {
    pub product_type: String,
    pub device_assignable: bool,
    pub revocable: bool,
    pub total: i64,
    pub retired: i64,
    pub serials: BTreeSet<String>,
    pub users: BTreeSet<String>,
}

impl AssetState {
    /// Licenses in use.
    pub(crate) fn assigned(&self) -> i64 {
        (self.serials.len() + self.users.len()) as i64
    }

    /// Licenses free to assign.
    pub(crate) fn available(&self) -> i64 {
        self.total - self.retired - self.assigned()
    }

    /// The asset as Get Assets reports it.
    pub(crate) fn response(&self, asset: &Asset) -> ResponseAsset {
        ResponseAsset {
            adam_id: asset.adam_id.clone(),
            pricing_param: asset.pricing_param.clone(),
            product_type: self.product_type.clone(),
            assigned_count: self.assigned(),
            available_count: self.available(),
            retired_count: self.retired,
            total_count: self.total,
            device_assignable: self.device_assignable,
            revocable: self.revocable,
            supported_platforms: if self.product_type == "Book" {
                vec!["iOS".into(), "macOS".into()]
            } else {
                vec!["iOS".into()]
            },
        }
    }
}

/// A user record with the version that last changed it.
#[derive(Debug, Clone)]
pub(crate) struct UserRec {
    pub user: ResponseUser,
    pub changed: u64,
}

/// One simulated location (library).
#[derive(Debug)]
pub(crate) struct Location {
    pub u_id: String,
    pub name: String,
    pub country: String,
    pub token_text: String,
    pub token_expires: DateTime<Utc>,
    pub revoked: bool,
    pub token_mode: super::modes::TokenMode,
    pub mdm_info: Option<MdmInfo>,
    pub notification_url: Option<String>,
    pub notification_auth_token: Option<String>,
    pub subscribed: Vec<String>,
    pub assets: BTreeMap<Asset, AssetState>,
    pub by_serial: HashMap<String, BTreeSet<Asset>>,
    pub by_user: HashMap<String, BTreeSet<Asset>>,
    pub assignment_count: usize,
    pub users: BTreeMap<String, UserRec>,
    pub retired_users: Vec<UserRec>,
    /// `versionId` of Get Assets: moves when an asset's counts or the set of assets change.
    pub asset_versions: Versions,
    /// `versionId` of Get Assignments, with the change log behind its `sinceVersionId`.
    pub versions: Versions,
    /// `versionId` of Get Users: moves when a user record changes.
    pub user_versions: Versions,
}

impl Location {
    /// Starts the version history afresh (after seeding: nobody has seen a version yet, and the
    /// seeded assignments would only fill the change log).
    pub(crate) fn reset_versions(&mut self) {
        self.asset_versions = Versions::new(MAX_VERSIONS, 1);
        self.versions = Versions::new(MAX_VERSIONS, MAX_CHANGES);
        self.user_versions = Versions::new(MAX_VERSIONS, 1);
    }

    /// Starts one mutation (a completed event or an admin action): each endpoint's version
    /// moves at most once in it, and only when a record behind that endpoint changes.
    pub(crate) fn begin(&mut self) {
        self.asset_versions.close();
        self.versions.close();
        self.user_versions.close();
    }

    /// Records that `assignment` was added or removed in the current mutation: the
    /// assignments' version moves, and the assets' (the asset's counts changed).
    fn touch(&mut self, assignment: Assignment) {
        self.asset_versions.mark();
        self.versions.mark();
        self.versions.touch(assignment);
    }

    /// An empty location.
    pub(crate) fn new(
        u_id: String,
        name: String,
        token_text: String,
        expires: DateTime<Utc>,
    ) -> Self {
        Location {
            u_id,
            name,
            country: "US".into(),
            token_text,
            token_expires: expires,
            revoked: false,
            token_mode: super::modes::TokenMode::default(),
            mdm_info: None,
            notification_url: None,
            notification_auth_token: None,
            subscribed: Vec::new(),
            assets: BTreeMap::new(),
            by_serial: HashMap::new(),
            by_user: HashMap::new(),
            assignment_count: 0,
            users: BTreeMap::new(),
            retired_users: Vec::new(),
            asset_versions: Versions::new(MAX_VERSIONS, 1),
            versions: Versions::new(MAX_VERSIONS, MAX_CHANGES),
            user_versions: Versions::new(MAX_VERSIONS, 1),
        }
    }

    /// Whether `asset` is assigned to `target`.
    pub(crate) fn is_assigned(&self, asset: &Asset, target: &Target) -> bool {
        self.assets.get(asset).is_some_and(|s| match target {
            Target::Serial(x) => s.serials.contains(x),
            Target::User(x) => s.users.contains(x),
        })
    }

    /// Assigns `asset` to `target` if a license is free. `Ok(false)`: already assigned.
    /// `Err(9709)`: no license left (or the location does not own the asset).
    pub(crate) fn assign(&mut self, asset: &Asset, target: &Target) -> Result<bool, i32> {
        let Some(state) = self.assets.get_mut(asset) else {
            return Err(9709);
        };
        let present = match target {
            Target::Serial(x) => state.serials.contains(x),
            Target::User(x) => state.users.contains(x),
        };
        if present {
            return Ok(false);
        }
        if state.available() <= 0 {
            return Err(9709);
        }
        let index = match target {
            Target::Serial(x) => {
                state.serials.insert(x.clone());
                self.by_serial.entry(x.clone()).or_default()
            }
            Target::User(x) => {
                state.users.insert(x.clone());
                self.by_user.entry(x.clone()).or_default()
            }
        };
        index.insert(asset.clone());
        self.assignment_count += 1;
        self.touch(target.assignment(asset));
        Ok(true)
    }

    /// Removes the assignment of `asset` to `target`; `false` when there was none.
    pub(crate) fn unassign(&mut self, asset: &Asset, target: &Target) -> bool {
        let Some(state) = self.assets.get_mut(asset) else {
            return false;
        };
        let (removed, index) = match target {
            Target::Serial(x) => (state.serials.remove(x), self.by_serial.get_mut(x)),
            Target::User(x) => (state.users.remove(x), self.by_user.get_mut(x)),
        };
        if !removed {
            return false;
        }
        if let Some(index) = index {
            index.remove(asset);
            if index.is_empty() {
                match target {
                    Target::Serial(x) => self.by_serial.remove(x),
                    Target::User(x) => self.by_user.remove(x),
                };
            }
        }
        self.assignment_count -= 1;
        self.touch(target.assignment(asset));
        true
    }

    /// The assets assigned to `target`.
    pub(crate) fn assets_of(&self, target: &Target) -> Vec<Asset> {
        let index = match target {
            Target::Serial(x) => self.by_serial.get(x),
            Target::User(x) => self.by_user.get(x),
        };
        index
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every assignment, sorted by asset then serial then user.
    pub(crate) fn all_assignments(&self) -> Vec<Assignment> {
        let mut out = Vec::with_capacity(self.assignment_count);
        for (asset, state) in &self.assets {
            out.extend(
                state
                    .serials
                    .iter()
                    .map(|s| Target::Serial(s.clone()).assignment(asset)),
            );
            out.extend(
                state
                    .users
                    .iter()
                    .map(|u| Target::User(u.clone()).assignment(asset)),
            );
        }
        out
    }

    /// Every user record (active and retired), sorted by clientUserId, retired first.
    pub(crate) fn all_users(&self) -> Vec<&UserRec> {
        let mut out: Vec<&UserRec> = self
            .retired_users
            .iter()
            .chain(self.users.values())
            .collect();
        out.sort_by(|a, b| a.user.client_user_id.cmp(&b.user.client_user_id));
        out
    }

    /// The asset `adamId`+`pricingParam`, creating an App when a purchase brings a new one.
    pub(crate) fn asset_or_new(&mut self, adam_id: &str, pricing_param: &str) -> &mut AssetState {
        let key = Asset {
            adam_id: AdamId::from(adam_id),
            pricing_param: pricing_param.to_owned(),
        };
        self.assets.entry(key).or_insert_with(|| AssetState {
            product_type: "App".into(),
            device_assignable: true,
            revocable: true,
            ..AssetState::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(id: &str) -> Asset {
        Asset {
            adam_id: id.into(),
            pricing_param: "STDQ".into(),
        }
    }

    #[test]
    fn assign_and_unassign_keep_every_index_and_count_in_step() {
        let mut loc = Location::new("1".into(), "L".into(), "t".into(), Utc::now());
        loc.asset_or_new("1", "STDQ").total = 1;
        let serial = Target::Serial("S1".into());
        assert_eq!(loc.assign(&asset("1"), &serial), Ok(true));
        assert_eq!(loc.assign(&asset("1"), &serial), Ok(false));
        assert_eq!(
            loc.assign(&asset("1"), &Target::Serial("S2".into())),
            Err(9709)
        );
        assert_eq!(loc.assets_of(&serial), vec![asset("1")]);
        assert_eq!(loc.assignment_count, 1);
        assert!(loc.unassign(&asset("1"), &serial));
        assert!(!loc.unassign(&asset("1"), &serial));
        assert!(loc.by_serial.is_empty());
        assert_eq!(loc.assets[&asset("1")].available(), 1);
    }
}
