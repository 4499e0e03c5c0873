//! One sync run's traversals: assets, assignments and users, page by page through `apple-vpp`'s
//! pagination engine ([`Pages`], with its `versionId` restart rule), each compared with the view
//! and repaired through the applier.
//!
//! - this file: [`Run`], its counters, and [`Run::traverse`], how every traversal reads pages.
//! - [`write`]: writing a traversal's truth to the view.
//! - [`assets`], [`users`]: read everything, then write.
//! - [`assignments`]: incremental (read, then write) and full (each page written while later
//!   pages are fetched, started over when the traversal restarts).
//! - [`recount`]: the incremental sync's removal check (each asset's `assignedCount` against
//!   the view; only the assets that differ read again).
//!
//! Must not page by hand: every paginated read goes through [`Pages`].

mod assets;
mod assignments;
mod recount;
mod users;
mod write;

use std::collections::BTreeMap;
use std::future::Future;

use apple_vpp::AppleError;
use apple_vpp::paginate::{Event, Page, Pages};
use apple_vpp::types::{Common, PageInfo};
use futures::StreamExt;

use super::error::SyncError;
use super::progress::Progress;
use crate::events::changes::Cause;
use crate::location::Location;
use crate::view::Current;

/// Page requests in flight at once during a traversal (Apple allows five).
const PARALLEL_PAGES: usize = 4;

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

    /// Reads every page through the engine (the first, then the others up to its `totalPages`
    /// a few at once, in order, the client's limiter pacing them, then on while the last one
    /// says more remain). `each` sees every event in order: a page of the current traversal,
    /// or a restart (the `versionId` changed: every page it saw before is void and page 0
    /// comes next). Returns the pages of the last traversal.
    async fn traverse<R, F, Fut>(
        &mut self,
        what: &'static str,
        fetch: F,
        mut each: impl FnMut(Event<R>) -> Result<(), SyncError>,
    ) -> Result<u32, SyncError>
    where
        R: Page,
        F: Fn(Option<u32>) -> Fut,
        Fut: Future<Output = Result<R, AppleError>>,
    {
        let mut pages = Pages::new(what, fetch).in_flight(PARALLEL_PAGES);
        let mut traversal = 0;
        loop {
            self.check_paused()?;
            let Some(event) = pages.next().await else {
                return Ok(traversal);
            };
            let event = self.apple(event).await?;
            let (Event::Page(r) | Event::Restart { page: r, .. }) = &event;
            self.seen(what, r.page(), r.common(), r.records()).await;
            traversal = match event {
                Event::Page(_) => traversal + 1,
                Event::Restart { .. } => 0,
            };
            each(event)?;
        }
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
