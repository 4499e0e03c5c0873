//! The truth of each simulated location: token, client config, assets with their counts,
//! assignments indexed by asset, serial and user, users, and the version history behind
//! `versionId` / `sinceVersionId`.
//!
//! Pure data and its invariants (an assignment is in the asset's set and in the serial or user
//! index, or nowhere). Must not do I/O or know about HTTP.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Utc};

use apple_vpp_types::{AdamId, Asset, Assignment, MdmInfo, ResponseAsset, ResponseUser};

/// Versions remembered for `sinceVersionId`; older ids answer 9721.
pub(crate) const MAX_VERSIONS: usize = 10_000;
/// Assignment changes remembered for `sinceVersionId`; older versions answer 9721.
pub(crate) const MAX_CHANGES: usize = 250_000;

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

/// The version counter behind `versionId`, its recent ids and the assignment change log.
#[derive(Debug)]
pub(crate) struct Versions {
    current: u64,
    ids: HashMap<String, u64>,
    order: VecDeque<(u64, String)>,
    /// (version, assignment touched in that version), oldest first.
    changes: VecDeque<(u64, Assignment)>,
    /// Versions at or below this may have lost changes: `sinceVersionId` below it is refused.
    floor: u64,
    max_versions: usize,
    max_changes: usize,
}

impl Versions {
    /// A history keeping at most `max_versions` ids and `max_changes` changes.
    pub(crate) fn new(max_versions: usize, max_changes: usize) -> Self {
        let mut v = Versions {
            current: 0,
            ids: HashMap::new(),
            order: VecDeque::new(),
            changes: VecDeque::new(),
            floor: 0,
            max_versions: max_versions.max(1),
            max_changes: max_changes.max(1),
        };
        v.name_current();
        v
    }

    fn name_current(&mut self) {
        let id = uuid::Uuid::new_v4().to_string();
        self.ids.insert(id.clone(), self.current);
        self.order.push_back((self.current, id));
        while self.order.len() > self.max_versions {
            if let Some((version, id)) = self.order.pop_front() {
                self.ids.remove(&id);
                self.floor = self.floor.max(version + 1);
            }
        }
    }

    /// The current version number.
    pub(crate) fn current(&self) -> u64 {
        self.current
    }

    /// The current `versionId`.
    pub(crate) fn current_id(&self) -> String {
        self.order
            .back()
            .map(|(_, id)| id.clone())
            .unwrap_or_default()
    }

    /// Starts a new version (one per mutation, however many records it touches).
    pub(crate) fn bump(&mut self) -> u64 {
        self.current += 1;
        self.name_current();
        self.current
    }

    /// Records that `assignment` was added or removed in the current version.
    pub(crate) fn touch(&mut self, assignment: Assignment) {
        self.changes.push_back((self.current, assignment));
        while self.changes.len() > self.max_changes {
            if let Some((version, _)) = self.changes.pop_front() {
                self.floor = self.floor.max(version);
            }
        }
    }

    /// The version a `sinceVersionId` names, if it is still answerable.
    pub(crate) fn resolve(&self, id: &str) -> Option<u64> {
        self.ids.get(id).copied().filter(|v| *v >= self.floor)
    }

    /// The assignments touched after version `since`, each once, sorted.
    pub(crate) fn touched_since(&self, since: u64) -> BTreeSet<Assignment> {
        let start = self.changes.partition_point(|(v, _)| *v <= since);
        self.changes
            .range(start..)
            .map(|(_, a)| a.clone())
            .collect()
    }
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
    pub versions: Versions,
}

impl Location {
    /// Starts the version history afresh (after seeding: nobody has seen a version yet, and the
    /// seeded assignments would only fill the change log).
    pub(crate) fn reset_versions(&mut self) {
        self.versions = Versions::new(MAX_VERSIONS, MAX_CHANGES);
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
            versions: Versions::new(MAX_VERSIONS, MAX_CHANGES),
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
        self.versions.touch(target.assignment(asset));
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
        self.versions.touch(target.assignment(asset));
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

    #[test]
    fn versions_forget_old_ids_and_refuse_versions_whose_changes_were_trimmed() {
        let mut v = Versions::new(3, 2);
        let first = v.current_id();
        assert_eq!(v.resolve(&first), Some(0));
        v.bump();
        v.touch(Target::Serial("a".into()).assignment(&asset("1")));
        let second = v.current_id();
        v.bump();
        v.touch(Target::Serial("b".into()).assignment(&asset("1")));
        v.touch(Target::Serial("c".into()).assignment(&asset("1")));
        assert_eq!(
            v.resolve(&first),
            None,
            "a change after version 0 was trimmed"
        );
        assert_eq!(v.resolve(&second), Some(1));
        assert_eq!(v.touched_since(1).len(), 2);
        v.bump();
        v.bump();
        assert_eq!(v.resolve(&second), None, "only three ids are kept");
        assert_eq!(v.resolve("not-a-version"), None);
    }
}
