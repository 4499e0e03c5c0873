//! Reading every page of a paginated endpoint (`assets`, `assignments`, `users`).
//!
//! Rules (apple-api.md §7): the first page is read alone; once `totalPages` is known the rest
//! are read in parallel, never more than [`MAX_IN_FLIGHT`] at once, in order; `nextPageIndex`
//! absent is the only stop signal (`totalPages` can change under us, so the traversal follows the
//! last page's `nextPageIndex` past the first page's `totalPages`). The first page's `versionId`
//! is kept. When a later page reports another `versionId`, the dataset changed while we read: the
//! traversal restarts, at most [`MAX_RESTARTS`] times; after that it goes on with what it reads
//! and keeps the first page's `versionId` of the last traversal, which is safe because a later
//! `sinceVersionId` read from that (older) version returns every change made since.
//! Must not send anything itself: it calls the page fetcher it is given.

use std::future::Future;

use futures::StreamExt;

use super::client::Paged;
use super::error::AppleError;
use super::types::{
    Assignment, Common, GetAssetsResponse, GetAssignmentsResponse, GetUsersResponse, PageInfo,
    ResponseAsset, ResponseUser,
};

/// Page requests in flight at once at most (Apple's documented limit).
pub const MAX_IN_FLIGHT: usize = 5;

/// Restarts of a traversal whose `versionId` changed before going on regardless.
pub const MAX_RESTARTS: u32 = 3;

/// One page split into what pagination needs.
pub struct Parts<T> {
    /// Records on the page.
    pub items: Vec<T>,
    /// Removed records (simulator extension on `sinceVersionId` reads).
    pub removed: Vec<T>,
    /// Page fields.
    pub page: PageInfo,
    /// Common fields.
    pub common: Common,
}

/// A paginated response type.
pub trait Page {
    /// The record type.
    type Item;
    /// Splits the page.
    fn into_parts(self) -> Parts<Self::Item>;
}

impl Page for GetAssetsResponse {
    type Item = ResponseAsset;
    fn into_parts(self) -> Parts<ResponseAsset> {
        Parts {
            items: self.assets,
            removed: Vec::new(),
            page: self.page,
            common: self.common,
        }
    }
}

impl Page for GetAssignmentsResponse {
    type Item = Assignment;
    fn into_parts(self) -> Parts<Assignment> {
        Parts {
            items: self.assignments,
            removed: self.removed_assignments.unwrap_or_default(),
            page: self.page,
            common: self.common,
        }
    }
}

impl Page for GetUsersResponse {
    type Item = ResponseUser;
    fn into_parts(self) -> Parts<ResponseUser> {
        Parts {
            items: self.users,
            removed: Vec::new(),
            page: self.page,
            common: self.common,
        }
    }
}

/// What one traversal ended with.
enum Traversal<T> {
    Done(Paged<T>),
    Changed { pages: u32 },
}

/// Reads every page through `fetch(page_index)` (`None` for the first page).
///
/// # Errors
/// The first error a page read ends with (after the client's own retries), or
/// [`AppleError::Unexpected`] when `nextPageIndex` goes backwards.
pub async fn collect<P, F, Fut>(endpoint: &str, fetch: F) -> Result<Paged<P::Item>, AppleError>
where
    P: Page,
    F: Fn(Option<u32>) -> Fut,
    Fut: Future<Output = Result<P, AppleError>>,
{
    let mut pages_before = 0;
    let mut restarts = 0;
    loop {
        let may_restart = restarts < MAX_RESTARTS;
        match traverse(&fetch, may_restart).await? {
            Traversal::Done(mut paged) => {
                paged.pages += pages_before;
                return Ok(paged);
            }
            Traversal::Changed { pages } => {
                restarts += 1;
                pages_before += pages;
                tracing::warn!(
                    endpoint,
                    restart = restarts,
                    "versionId changed during pagination; reading again from the first page"
                );
            }
        }
    }
}

async fn traverse<P, F, Fut>(fetch: &F, may_restart: bool) -> Result<Traversal<P::Item>, AppleError>
where
    P: Page,
    F: Fn(Option<u32>) -> Fut,
    Fut: Future<Output = Result<P, AppleError>>,
{
    let first = fetch(None).await?.into_parts();
    let mut paged = Paged {
        items: first.items,
        removed: first.removed,
        version_id: first.page.version_id.clone(),
        pages: 1,
        common: first.common,
    };
    let mut last_index = first.page.current_page_index;
    let mut next = first.page.next_page_index;
    let Some(start) = next else {
        return Ok(Traversal::Done(paged));
    };

    // Parallel phase: the pages the first page announced.
    let end = first.page.total_pages.max(start + 1);
    let mut pages = futures::stream::iter(start..end)
        .map(|i| fetch(Some(i)))
        .buffered(MAX_IN_FLIGHT);
    while let Some(page) = pages.next().await {
        let page = page?.into_parts();
        paged.pages += 1;
        if page.page.version_id != paged.version_id && may_restart {
            return Ok(Traversal::Changed { pages: paged.pages });
        }
        last_index = page.page.current_page_index;
        next = page.page.next_page_index;
        absorb(&mut paged, page);
        if next.is_none() {
            // The dataset shrank: this is the real last page; later pages are not wanted.
            return Ok(Traversal::Done(paged));
        }
    }
    drop(pages);

    // Sequential phase: the dataset grew past the first page's `totalPages`.
    while let Some(i) = next {
        if i <= last_index {
            return Err(AppleError::Unexpected {
                status: 200,
                body_excerpt: format!(
                    "nextPageIndex {i} does not move past page {last_index}; stopping the traversal"
                ),
            });
        }
        let page = fetch(Some(i)).await?.into_parts();
        paged.pages += 1;
        if page.page.version_id != paged.version_id && may_restart {
            return Ok(Traversal::Changed { pages: paged.pages });
        }
        last_index = page.page.current_page_index.max(i);
        next = page.page.next_page_index;
        absorb(&mut paged, page);
    }
    Ok(Traversal::Done(paged))
}

fn absorb<T>(paged: &mut Paged<T>, page: Parts<T>) {
    paged.items.extend(page.items);
    paged.removed.extend(page.removed);
    paged.common = page.common;
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn page(index: u32, total: u32, version: &str, users: &[&str]) -> GetUsersResponse {
        GetUsersResponse {
            users: users
                .iter()
                .map(|u| ResponseUser {
                    client_user_id: (*u).into(),
                    ..Default::default()
                })
                .collect(),
            page: PageInfo {
                current_page_index: index,
                next_page_index: (index + 1 < total).then_some(index + 1),
                size: users.len() as u32,
                total_pages: total,
                version_id: Some(version.into()),
            },
            common: Common::default(),
        }
    }

    #[tokio::test]
    async fn pages_are_read_in_order_with_at_most_five_in_flight() {
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let got = collect("users", |i: Option<u32>| {
            let (in_flight, peak) = (&in_flight, &peak);
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                let i = i.unwrap_or(0);
                Ok(page(i, 12, "v1", &[&format!("u{i}")]))
            }
        })
        .await
        .unwrap();
        let ids: Vec<String> = got.items.iter().map(|u| u.client_user_id.clone()).collect();
        assert_eq!(ids, (0..12).map(|i| format!("u{i}")).collect::<Vec<_>>());
        assert_eq!(got.pages, 12);
        assert!(peak.load(Ordering::SeqCst) <= MAX_IN_FLIGHT);
    }

    #[tokio::test]
    async fn a_dataset_that_keeps_changing_is_read_after_bounded_restarts() {
        let calls = Mutex::new(0u32);
        let got = collect("users", |i: Option<u32>| {
            let n = {
                let mut c = calls.lock().unwrap();
                *c += 1;
                *c
            };
            async move {
                let i = i.unwrap_or(0);
                // Every read sees a new version: the data never holds still.
                Ok(page(i, 2, &format!("v{n}"), &["x"]))
            }
        })
        .await
        .unwrap();
        // Three restarts of two pages each, then one last traversal of two pages.
        assert_eq!(got.pages, 8);
        assert_eq!(got.items.len(), 2);
        assert_eq!(got.version_id.as_deref(), Some("v7"));
    }

    #[tokio::test]
    async fn a_growing_dataset_is_followed_past_the_first_total() {
        let got = collect("users", |i: Option<u32>| async move {
            let i = i.unwrap_or(0);
            // The first page says 2 pages; later pages say 4.
            let total = if i == 0 { 2 } else { 4 };
            Ok(page(i, total, "v", &["x"]))
        })
        .await
        .unwrap();
        assert_eq!(got.pages, 4);
    }
}
