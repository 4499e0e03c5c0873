//! The assignments traversal: incremental (every assignment Apple lists as changed since a
//! version, then written; removals are found by `recount`) and full (each page written while later pages are fetched).

use std::collections::BTreeMap;
use std::future::Future;

use apple_vpp::AppleError;
use apple_vpp::paginate::Event;
use apple_vpp::types::{AssignmentsQuery, GetAssignmentsResponse};

use super::{Run, decode_live};
use crate::events::notification::AssignmentRef;
use crate::sync::error::SyncError;
use crate::view::Bucket;
use crate::view::keys::assignment_key;

/// What [`Run::list_assignments`] read.
pub(in crate::sync) struct Listing {
    /// The assignments, by view key.
    pub(in crate::sync) truth: BTreeMap<String, AssignmentRef>,
    /// The first page's `versionId` (of the last traversal).
    pub(in crate::sync) version: Option<String>,
    /// Pages of the last traversal.
    pub(in crate::sync) pages: u32,
}

/// What the full sync's reader hands its writer.
enum Listed {
    /// One page's assignments, by key.
    Page(BTreeMap<String, AssignmentRef>),
    /// The traversal started over: what was listed before belongs to a version that is gone.
    Restart,
}

impl Run<'_> {
    /// Reads assignments (all, or since `since`); returns the first page's version.
    pub(in crate::sync) async fn assignments(
        &mut self,
        since: Option<String>,
    ) -> Result<Option<String>, SyncError> {
        if since.is_none() {
            let client = self.loc.client();
            let fetch = |page_index| {
                let client = &client;
                async move {
                    client
                        .assignments_page(&AssignmentsQuery {
                            page_index,
                            ..Default::default()
                        })
                        .await
                }
            };
            return self.assignments_full(fetch).await;
        }
        // Apple lists no removals here (§13 q6): they are found by `recount`. The simulator's
        // `removedAssignments` extension is not even parsed (`apple-vpp-types` has no field).
        let listed = self
            .list_assignments(AssignmentsQuery {
                since_version_id: since,
                ..Default::default()
            })
            .await?;
        self.loc.note_pages(listed.truth.len(), listed.pages);
        let writes: Vec<(String, Option<AssignmentRef>)> = listed
            .truth
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        self.apply(Bucket::Assignments, writes).await?;
        Ok(listed.version)
    }

    /// Every assignment `query` lists (its `page_index` is set per page), by key, from the last
    /// traversal when the `versionId` changed midway. With an `adam_id` filter, only that
    /// asset's assignments are kept, whatever else a page holds.
    pub(in crate::sync) async fn list_assignments(
        &mut self,
        query: AssignmentsQuery,
    ) -> Result<Listing, SyncError> {
        let client = self.loc.client();
        let location = self.loc.id.clone();
        let only = query.adam_id.clone();
        let mut truth = BTreeMap::new();
        let mut version = None;
        let fetch = |page_index| {
            let (client, query) = (&client, query.clone());
            async move {
                client
                    .assignments_page(&AssignmentsQuery {
                        page_index,
                        ..query
                    })
                    .await
            }
        };
        let pages = self
            .traverse(
                "assignments",
                fetch,
                |event: Event<GetAssignmentsResponse>| {
                    let r = match event {
                        Event::Page(r) => r,
                        // What was listed belongs to a version that is gone.
                        Event::Restart { .. } => {
                            truth.clear();
                            version = None;
                            return Ok(());
                        }
                    };
                    if version.is_none() {
                        version = r.page.version_id.clone();
                    }
                    for a in r
                        .assignments
                        .iter()
                        .filter(|a| only.as_deref().is_none_or(|id| a.adam_id.as_str() == id))
                    {
                        let a = AssignmentRef::from(a);
                        truth.insert(assignment_key(&location, &a)?, a);
                    }
                    Ok(())
                },
            )
            .await?;
        Ok(Listing {
            truth,
            version,
            pages,
        })
    }

    /// A full read of every assignment. Each page's adds and changes are written (against the
    /// view's slice, read while the first pages wait on the rate limit) while later pages are
    /// still being fetched; what the slice holds and the last traversal did not list is
    /// removed at the end. When the traversal restarts (the `versionId` changed), what the
    /// abandoned traversal wrote stays until the new one lists it again or the end removes it.
    /// Returns the first page's version (of the last traversal).
    async fn assignments_full<F, Fut>(&mut self, fetch: F) -> Result<Option<String>, SyncError>
    where
        F: Fn(Option<u32>) -> Fut,
        Fut: Future<Output = Result<GetAssignmentsResponse, AppleError>>,
    {
        let loc = self.loc;
        let location = loc.id.clone();
        let cause = self.cause.clone();
        let mut version = None;
        // Unbounded because a traversal callback cannot wait; the pages queued are never more
        // than the whole truth, which the sync held in memory before it overlapped the writes.
        let (pages_tx, mut pages_rx) = tokio::sync::mpsc::unbounded_channel::<Listed>();
        let writer = async {
            let slice = loc
                .applier
                .view()
                .slice(Bucket::Assignments, &location)
                .await?;
            let current: BTreeMap<String, AssignmentRef> = decode_live(&slice);
            // Everything the current traversal listed, to remove the rest at the end and to spot
            // a key listed again (Apple's pages can shift during a traversal): the last listing
            // wins.
            let mut truth: BTreeMap<String, AssignmentRef> = BTreeMap::new();
            // What abandoned traversals listed and the current one has not (yet): the view holds
            // these values (written, or equal already), at revisions the slice no longer tells.
            let mut earlier: BTreeMap<String, AssignmentRef> = BTreeMap::new();
            let mut changed = 0;
            while let Some(listed) = pages_rx.recv().await {
                let page = match listed {
                    Listed::Page(page) => page,
                    Listed::Restart => {
                        earlier.append(&mut truth);
                        continue;
                    }
                };
                let mut fresh = Vec::new();
                let mut again = Vec::new();
                for (k, v) in page {
                    match truth.insert(k.clone(), v.clone()) {
                        None => match earlier.remove(&k) {
                            Some(before) if before != v => again.push((k, Some(v))),
                            Some(_) => {}
                            None if current.get(&k) != Some(&v) => fresh.push((k, Some(v))),
                            None => {}
                        },
                        Some(prev) if prev != v => again.push((k, Some(v))),
                        Some(_) => {}
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
                .filter(|k| !truth.contains_key(k) && !earlier.contains_key(k))
                .map(|k| (k, None))
                .collect();
            changed += loc
                .applier
                .apply_many_from(&location, Bucket::Assignments, gone, Some(&slice), &cause)
                .await?;
            if !earlier.is_empty() {
                // Listed only by an abandoned traversal: gone, at revisions the slice no longer
                // tells.
                let gone: Vec<(String, Option<AssignmentRef>)> =
                    earlier.into_keys().map(|k| (k, None)).collect();
                changed += loc
                    .applier
                    .apply_many(&location, Bucket::Assignments, gone, &cause)
                    .await?;
            }
            Ok::<_, SyncError>((changed, truth.len()))
        };
        let reader = async {
            let pages = self
                .traverse(
                    "assignments",
                    fetch,
                    |event: Event<GetAssignmentsResponse>| {
                        let r = match event {
                            Event::Page(r) => r,
                            Event::Restart { .. } => {
                                version = None;
                                // A closed channel means the writer failed; its error ends the join.
                                let _ = pages_tx.send(Listed::Restart);
                                return Ok(());
                            }
                        };
                        if version.is_none() {
                            version = r.page.version_id.clone();
                        }
                        let mut page = BTreeMap::new();
                        for a in &r.assignments {
                            let a = AssignmentRef::from(a);
                            page.insert(assignment_key(&location, &a)?, a);
                        }
                        // A closed channel means the writer failed; its error ends the join below.
                        let _ = pages_tx.send(Listed::Page(page));
                        Ok(())
                    },
                )
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
}
