//! The one pagination engine: every page of a paginated endpoint (`assets`, `assignments`,
//! `users`), as a stream ([`Pages`]) or collected ([`collect`] → [`Paged`]).
//!
//! Rules (apple-api.md §7): the first page is read alone; once `totalPages` is known the rest
//! are read in parallel, never more than [`MAX_IN_FLIGHT`] at once, and yielded in order;
//! `nextPageIndex` absent is the only stop signal (`totalPages` can change under us, so the
//! traversal follows the last page's `nextPageIndex` past the first page's `totalPages`). The
//! first page's `versionId` is kept. When a later page reports another `versionId`, the dataset
//! changed while we read: the traversal restarts from the first page ([`Event::Restart`]), at
//! most [`MAX_RESTARTS`] times; after that it goes on with what it reads and keeps the first
//! page's `versionId` of the last traversal, which is safe because a later `sinceVersionId` read
//! from that (older) version returns every change made since.
//!
//! Must not send anything itself: it calls the page fetcher it is given, so it knows nothing of
//! the client (the client depends on it, never the other way).
//!
//! - [`page`]: [`Page`], what the engine needs from one page of any paginated response.
//! - [`stream`]: [`Pages`], the engine, a stream of [`Event`]s.
//! - this file: [`Paged`] and [`collect`], every page gathered into one answer.

mod page;
mod stream;
#[cfg(test)]
mod tests;

use std::future::Future;

use futures::StreamExt;

use crate::error::AppleError;
use crate::types::Common;

pub use page::{Page, Parts};
pub use stream::{Event, MAX_IN_FLIGHT, MAX_RESTARTS, Pages};

/// Every page of a paginated read, with the `versionId` of the first page.
#[derive(Debug, Clone, Default)]
pub struct Paged<T> {
    /// All records, in page order.
    pub items: Vec<T>,
    /// The first page's `versionId` (for a later `sinceVersionId`).
    pub version_id: Option<String>,
    /// Pages read (restarts included).
    pub pages: u32,
    /// The last page's common fields (`uId`, `mdmInfo`, `tokenExpirationDate`).
    pub common: Common,
}

/// Reads every page through `fetch(page_index)` (`None` for the first page) and gathers them:
/// [`Pages`] with [`MAX_IN_FLIGHT`] requests at once, the pages of a traversal that was
/// restarted dropped.
///
/// # Errors
/// The first error a page read ends with (after the client's own retries), or
/// [`AppleError::Unexpected`] when `nextPageIndex` goes backwards.
pub async fn collect<P, F, Fut>(
    endpoint: &'static str,
    fetch: F,
) -> Result<Paged<P::Item>, AppleError>
where
    P: Page,
    F: Fn(Option<u32>) -> Fut,
    Fut: Future<Output = Result<P, AppleError>>,
{
    let mut pages = Pages::new(endpoint, fetch);
    let mut read = 0;
    let mut paged: Option<Paged<P::Item>> = None;
    while let Some(event) = pages.next().await {
        read += 1;
        match event? {
            Event::Page(page) => {
                let page = page.into_parts();
                match paged.as_mut() {
                    Some(paged) => {
                        paged.items.extend(page.items);
                        paged.common = page.common;
                    }
                    None => {
                        paged = Some(Paged {
                            items: page.items,
                            version_id: page.page.version_id,
                            pages: 0,
                            common: page.common,
                        });
                    }
                }
            }
            // What was gathered belongs to a version that is gone.
            Event::Restart { .. } => paged = None,
        }
    }
    // The stream ends only after a page (or an error), never right after a restart.
    let mut paged = paged.ok_or_else(|| AppleError::Unexpected {
        status: 200,
        body_excerpt: format!("the {endpoint} traversal ended without a page"),
    })?;
    paged.pages = read;
    Ok(paged)
}
