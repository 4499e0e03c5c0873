//! One sync run's traversals: assets, assignments and users, page by page, each compared with
//! the view and repaired through the applier.

use std::collections::BTreeMap;

use apple_vpp::AppleError;
use futures::StreamExt;

use crate::events::changes::{AssetValue, Cause};
use crate::events::notification::{AssignmentRef, UserRef};
use crate::location::Location;
use crate::reconcile::{diff, user_value};
use crate::view::keys::{asset_key, assignment_key, user_key};
use crate::view::{Bucket, Current};
use apple_vpp::types::{
    AssetsQuery, AssignmentsQuery, Common, GetAssetsResponse, GetAssignmentsResponse,
    GetUsersResponse, PageInfo, UsersQuery,
};

use super::{Progress, SyncError};

/// Page requests in flight at once during a traversal (Apple allows five).
const PARALLEL_PAGES: usize = 4;

/// What a traversal needs from one page of any paginated read.
trait PageOf {
    fn page(&self) -> &PageInfo;
    fn common(&self) -> &Common;
    fn records(&self) -> usize;
}

impl PageOf for GetAssetsResponse {
    fn page(&self) -> &PageInfo {
        &self.page
    }
    fn common(&self) -> &Common {
        &self.common
    }
    fn records(&self) -> usize {
        self.assets.len()
    }
}

impl PageOf for GetAssignmentsResponse {
    fn page(&self) -> &PageInfo {
        &self.page
    }
    fn common(&self) -> &Common {
        &self.common
    }
    fn records(&self) -> usize {
        self.assignments.len()
    }
}

impl PageOf for GetUsersResponse {
    fn page(&self) -> &PageInfo {
        &self.page
    }
    fn common(&self) -> &Common {
        &self.common
    }
    fn records(&self) -> usize {
        self.users.len()
    }
}

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

    /// Reads every page: the first, then the others up to its `totalPages` a few at once (in
    /// order; the client's limiter paces them), then on while the last one says more remain
    /// (`totalPages` may grow during a traversal). `each` sees every page in order.
    async fn traverse<R, F, Fut>(
        &mut self,
        what: &str,
        fetch: F,
        mut each: impl FnMut(R) -> Result<(), SyncError>,
    ) -> Result<u32, SyncError>
    where
        R: PageOf,
        F: Fn(Option<u32>) -> Fut,
        Fut: std::future::Future<Output = Result<R, AppleError>>,
    {
        self.check_paused()?;
        let first = fetch(None).await;
        let first = self.apple(first).await?;
        let total = first.page().total_pages;
        let mut next = first.page().next_page_index;
        let mut pages = 1;
        self.seen(what, first.page(), first.common(), first.records())
            .await;
        each(first)?;
        if let Some(start) = next {
            let mut rest = futures::stream::iter(start..total.max(start))
                .map(|i| fetch(Some(i)))
                .buffered(PARALLEL_PAGES);
            while let Some(r) = rest.next().await {
                self.check_paused()?;
                let r = self.apple(r).await?;
                pages += 1;
                next = r.page().next_page_index;
                self.seen(what, r.page(), r.common(), r.records()).await;
                each(r)?;
            }
        }
        while let Some(i) = next {
            self.check_paused()?;
            let r = fetch(Some(i)).await;
            let r = self.apple(r).await?;
            pages += 1;
            next = r.page().next_page_index;
            self.seen(what, r.page(), r.common(), r.records()).await;
            each(r)?;
        }
        Ok(pages)
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
        self.replace_from(bucket, truth, slice).await
    }

    /// [`replace`](Self::replace) with the slice already read.
    async fn replace_from<T>(
        &mut self,
        bucket: Bucket,
        truth: BTreeMap<String, T>,
        slice: BTreeMap<String, Current>,
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
        let current = decode_live(&slice);
        let writes = diff(&current, &truth);
        drop(current);
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
        let location = self.loc.id.clone();
        let mut truth = BTreeMap::new();
        let fetch = |page_index| {
            let client = &client;
            async move {
                client
                    .assets_page(&AssetsQuery {
                        page_index,
                        ..Default::default()
                    })
                    .await
            }
        };
        self.traverse("assets", fetch, |r: GetAssetsResponse| {
            for a in &r.assets {
                truth.insert(
                    asset_key(&location, a.adam_id.as_str(), &a.pricing_param)?,
                    AssetValue::from(a),
                );
            }
            Ok(())
        })
        .await?;
        self.loc.note_known_assets(truth.len());
        self.replace(Bucket::Assets, truth).await
    }

    /// Reads assignments (all, or since `since`); returns the first page's version.
    pub(super) async fn assignments(
        &mut self,
        since: Option<String>,
    ) -> Result<Option<String>, SyncError> {
        let client = self.loc.client();
        let location = self.loc.id.clone();
        let incremental = since.is_some();
        let mut truth = BTreeMap::new();
        let mut removed = Vec::new();
        let mut version = None;
        let fetch = |page_index| {
            let (client, since) = (&client, since.clone());
            async move {
                client
                    .assignments_page(&AssignmentsQuery {
                        page_index,
                        since_version_id: since,
                        ..Default::default()
                    })
                    .await
            }
        };
        if !incremental {
            return self.assignments_full(fetch).await;
        }
        let pages = self
            .traverse("assignments", fetch, |r: GetAssignmentsResponse| {
                if version.is_none() {
                    version = r.page.version_id.clone();
                }
                for a in &r.assignments {
                    let a = AssignmentRef::from(a);
                    truth.insert(assignment_key(&location, &a)?, a);
                }
                for a in r.removed_assignments.iter().flatten() {
                    removed.push(assignment_key(&location, &AssignmentRef::from(a))?);
                }
                Ok(())
            })
            .await?;
        self.loc.note_pages(truth.len(), pages);
        let mut writes: Vec<(String, Option<AssignmentRef>)> =
            removed.into_iter().map(|k| (k, None)).collect();
        writes.extend(truth.into_iter().map(|(k, v)| (k, Some(v))));
        self.apply(Bucket::Assignments, writes).await?;
        Ok(version)
    }

    /// A full read of every assignment. Each page's adds and changes are written (against the
    /// view's slice, read while the first pages wait on the rate limit) while later pages are
    /// still being fetched; what the slice holds and no page listed is removed at the end.
    /// Returns the first page's version.
    async fn assignments_full<F, Fut>(&mut self, fetch: F) -> Result<Option<String>, SyncError>
    where
        F: Fn(Option<u32>) -> Fut,
        Fut: std::future::Future<Output = Result<GetAssignmentsResponse, AppleError>>,
    {
        let loc = self.loc;
        let location = loc.id.clone();
        let cause = self.cause.clone();
        let mut version = None;
        // Unbounded because a traversal callback cannot wait; the pages queued are never more
        // than the whole truth, which the sync held in memory before it overlapped the writes.
        let (pages_tx, mut pages_rx) =
            tokio::sync::mpsc::unbounded_channel::<BTreeMap<String, AssignmentRef>>();
        let writer = async {
            let slice = loc
                .applier
                .view()
                .slice(Bucket::Assignments, &location)
                .await?;
            let current: BTreeMap<String, AssignmentRef> = decode_live(&slice);
            // Everything listed so far, to remove the rest at the end and to spot a key listed
            // again (Apple's pages can shift during a traversal): the last listing wins.
            let mut truth: BTreeMap<String, AssignmentRef> = BTreeMap::new();
            let mut changed = 0;
            while let Some(page) = pages_rx.recv().await {
                let mut fresh = Vec::new();
                let mut again = Vec::new();
                for (k, v) in page {
                    match truth.insert(k.clone(), v.clone()) {
                        None if current.get(&k) != Some(&v) => fresh.push((k, Some(v))),
                        Some(prev) if prev != v => again.push((k, Some(v))),
                        _ => {}
                    }
                }
                changed += loc
                    .applier
                    .apply_many_from(&location, Bucket::Assignments, fresh, Some(&slice), &cause)
                    .await?;
                if !again.is_empty() {
                    // The slice no longer tells this key's state: read it.
                    changed += loc
                        .applier
                        .apply_many(&location, Bucket::Assignments, again, &cause)
                        .await?;
                }
            }
            let gone: Vec<(String, Option<AssignmentRef>)> = current
                .into_keys()
                .filter(|k| !truth.contains_key(k))
                .map(|k| (k, None))
                .collect();
            changed += loc
                .applier
                .apply_many_from(&location, Bucket::Assignments, gone, Some(&slice), &cause)
                .await?;
            Ok::<_, SyncError>((changed, truth.len()))
        };
        let reader = async {
            let pages = self
                .traverse("assignments", fetch, |r: GetAssignmentsResponse| {
                    if version.is_none() {
                        version = r.page.version_id.clone();
                    }
                    let mut page = BTreeMap::new();
                    for a in &r.assignments {
                        let a = AssignmentRef::from(a);
                        page.insert(assignment_key(&location, &a)?, a);
                    }
                    // A closed channel means the writer failed; its error ends the join below.
                    let _ = pages_tx.send(page);
                    Ok(())
                })
                .await;
            // The last page is sent: closing the channel lets the writer remove what is gone.
            drop(pages_tx);
            pages
        };
        let (pages, (changed, listed)) = tokio::try_join!(reader, writer)?;
        self.differences += changed as u64;
        self.loc.note_pages(listed, pages);
        Ok(version)
    }

    pub(super) async fn users(
        &mut self,
        since: Option<String>,
    ) -> Result<Option<String>, SyncError> {
        let client = self.loc.client();
        let location = self.loc.id.clone();
        let incremental = since.is_some();
        let active_only = self.loc.users_active_only;
        let mut truth: BTreeMap<String, Option<UserRef>> = BTreeMap::new();
        let mut version = None;
        let fetch = |page_index| {
            let (client, since) = (&client, since.clone());
            async move {
                client
                    .users_page(&UsersQuery {
                        page_index,
                        active_only: (active_only && !incremental).then_some(true),
                        since_version_id: since,
                        ..Default::default()
                    })
                    .await
            }
        };
        self.traverse("users", fetch, |r: GetUsersResponse| {
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
                let key = user_key(&location, &u.client_user_id)?;
                let v = user_value(&u, active_only);
                // Apple may list a retired entry beside the active one: the active one wins.
                if v.is_some() || !truth.contains_key(&key) {
                    truth.insert(key, v);
                }
            }
            Ok(())
        })
        .await?;
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
