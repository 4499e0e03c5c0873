//! One sync run's traversals: assets, assignments and users, page by page, each compared with
//! the view and repaired through the applier.

use std::collections::BTreeMap;

use crate::apple::AppleError;
use crate::apple::types::{AssetsQuery, AssignmentsQuery, Common, PageInfo, UsersQuery};
use crate::events::changes::{AssetValue, Cause};
use crate::events::notification::{AssignmentRef, UserRef};
use crate::reconcile::{diff, user_value};
use crate::view::keys::{asset_key, assignment_key, user_key};
use crate::view::{Bucket, Current};
use crate::worker::location::Location;
use crate::worker::verify::normalise;

use super::{Progress, SyncError};

pub(super) struct Run<'a> {
    pub(super) loc: &'a Location,
    pub(super) cause: Cause,
    pub(super) progress: &'a Progress,
    pub(super) records: u64,
    pub(super) calls: u64,
    pub(super) differences: u64,
}

impl Run<'_> {
    fn check_paused(&self) -> Result<(), SyncError> {
        match self.loc.paused() {
            Some(k) => Err(SyncError::Paused {
                location: self.loc.id.clone(),
                reason: k.as_str(),
            }),
            None => Ok(()),
        }
    }

    async fn apple<T>(&self, r: Result<T, AppleError>) -> Result<T, SyncError> {
        match r {
            Ok(t) => Ok(t),
            Err(e) => {
                self.loc.classify(&e).await;
                Err(SyncError::Apple {
                    location: self.loc.id.clone(),
                    source: Box::new(e),
                })
            }
        }
    }

    async fn seen(&mut self, what: &str, page: &PageInfo, common: &Common, n: usize) {
        self.calls += 1;
        self.records += n as u64;
        self.loc.note_common(common).await;
        self.progress.page(&self.loc.id, what, page, self.records);
    }

    /// Applies `truth` over the view's slice of this location in `bucket`, starting from the
    /// slice's revisions (no per-key reads).
    async fn replace<T>(
        &mut self,
        bucket: Bucket,
        truth: BTreeMap<String, T>,
    ) -> Result<(), SyncError>
    where
        T: serde::Serialize
            + serde::de::DeserializeOwned
            + PartialEq
            + Clone
            + Send
            + Sync
            + 'static,
    {
        let slice = self.loc.applier.view().slice(bucket, &self.loc.id).await?;
        let current = decode_live(&slice);
        let writes = diff(&current, &truth);
        let n = self
            .loc
            .applier
            .apply_many_from(&self.loc.id, bucket, writes, Some(&slice), &self.cause)
            .await?;
        self.differences += n as u64;
        Ok(())
    }

    async fn apply<T>(
        &mut self,
        bucket: Bucket,
        writes: Vec<(String, Option<T>)>,
    ) -> Result<(), SyncError>
    where
        T: serde::Serialize
            + serde::de::DeserializeOwned
            + PartialEq
            + Clone
            + Send
            + Sync
            + 'static,
    {
        let n = self
            .loc
            .applier
            .apply_many(&self.loc.id, bucket, writes, &self.cause)
            .await?;
        self.differences += n as u64;
        Ok(())
    }

    pub(super) async fn assets(&mut self) -> Result<(), SyncError> {
        let client = self.loc.client();
        let mut truth = BTreeMap::new();
        let mut index = None;
        loop {
            self.check_paused()?;
            let r = client
                .assets_page(&AssetsQuery {
                    page_index: index,
                    ..Default::default()
                })
                .await;
            let r = self.apple(r).await?;
            self.seen("assets", &r.page, &r.common, r.assets.len())
                .await;
            for a in &r.assets {
                truth.insert(
                    asset_key(&self.loc.id, a.adam_id.as_str(), &a.pricing_param)?,
                    AssetValue::from(a),
                );
            }
            match r.page.next_page_index {
                Some(n) => index = Some(n),
                None => break,
            }
        }
        self.loc.note_known_assets(truth.len());
        self.replace(Bucket::Assets, truth).await
    }

    /// Reads assignments (all, or since `since`); returns the first page's version.
    pub(super) async fn assignments(
        &mut self,
        since: Option<String>,
    ) -> Result<Option<String>, SyncError> {
        let client = self.loc.client();
        let incremental = since.is_some();
        let mut truth = BTreeMap::new();
        let mut removed = Vec::new();
        let mut version = None;
        let mut index = None;
        let mut pages = 0u32;
        loop {
            self.check_paused()?;
            let r = client
                .assignments_page(&AssignmentsQuery {
                    page_index: index,
                    since_version_id: since.clone(),
                    ..Default::default()
                })
                .await;
            let r = self.apple(r).await?;
            pages += 1;
            self.seen("assignments", &r.page, &r.common, r.assignments.len())
                .await;
            if version.is_none() {
                version = r.page.version_id.clone();
            }
            for a in &r.assignments {
                let a = normalise(a);
                truth.insert(assignment_key(&self.loc.id, &a)?, a);
            }
            for a in r.removed_assignments.iter().flatten() {
                removed.push(assignment_key(&self.loc.id, &normalise(a))?);
            }
            match r.page.next_page_index {
                Some(n) => index = Some(n),
                None => break,
            }
        }
        self.loc.note_pages(truth.len(), pages);
        if incremental {
            let mut writes: Vec<(String, Option<AssignmentRef>)> =
                removed.into_iter().map(|k| (k, None)).collect();
            writes.extend(truth.into_iter().map(|(k, v)| (k, Some(v))));
            self.apply(Bucket::Assignments, writes).await?;
        } else {
            self.replace(Bucket::Assignments, truth).await?;
        }
        Ok(version)
    }

    pub(super) async fn users(
        &mut self,
        since: Option<String>,
    ) -> Result<Option<String>, SyncError> {
        let client = self.loc.client();
        let incremental = since.is_some();
        let active_only = self.loc.users_active_only;
        let mut truth: BTreeMap<String, Option<UserRef>> = BTreeMap::new();
        let mut version = None;
        let mut index = None;
        loop {
            self.check_paused()?;
            let r = client
                .users_page(&UsersQuery {
                    page_index: index,
                    active_only: (active_only && !incremental).then_some(true),
                    since_version_id: since.clone(),
                    ..Default::default()
                })
                .await;
            let r = self.apple(r).await?;
            self.seen("users", &r.page, &r.common, r.users.len()).await;
            if version.is_none() {
                version = r.page.version_id.clone();
            }
            for u in &r.users {
                let u = UserRef {
                    client_user_id: u.client_user_id.clone(),
                    email: u.email.clone(),
                    id_hash: u.id_hash.clone(),
                    invite_code: u.invite_code.clone(),
                    status: u.status.clone(),
                };
                let key = user_key(&self.loc.id, &u.client_user_id)?;
                let v = user_value(&u, active_only);
                // Apple may list a retired entry beside the active one: the active one wins.
                if v.is_some() || !truth.contains_key(&key) {
                    truth.insert(key, v);
                }
            }
            match r.page.next_page_index {
                Some(n) => index = Some(n),
                None => break,
            }
        }
        if incremental {
            self.apply(Bucket::Users, truth.into_iter().collect())
                .await?;
        } else {
            let truth = truth
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
            self.replace(Bucket::Users, truth).await?;
        }
        Ok(version)
    }
}

/// The live values of a slice that decode as `T`. An undecodable value is left out, so it
/// differs from any truth (or, absent from the truth, is not touched: it is not vppbridge's).
pub(crate) fn decode_live<T: serde::de::DeserializeOwned>(
    slice: &BTreeMap<String, Current>,
) -> BTreeMap<String, T> {
    slice
        .iter()
        .filter_map(|(k, c)| {
            let v = c.value.as_ref()?;
            serde_json::from_slice(v).ok().map(|v| (k.clone(), v))
        })
        .collect()
}
