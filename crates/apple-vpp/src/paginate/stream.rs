//! [`Pages`]: the engine, a stream of [`Event`]s that a caller consumes as pages arrive (the
//! sync writes each page while later pages are fetched).
//!
//! Must not reorder pages or hide a restart: a caller that acted on a page must learn that it
//! belonged to a traversal that was abandoned.

use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::Stream;
use futures::stream::{FuturesOrdered, StreamExt};

use super::page::Page;
use crate::error::AppleError;

/// Page requests in flight at once at most (Apple's documented limit).
pub const MAX_IN_FLIGHT: usize = 5;

/// Restarts of a traversal whose `versionId` changed before going on regardless.
pub const MAX_RESTARTS: u32 = 3;

/// What [`Pages`] yields: each page read, in order, or the news that the traversal started over.
/// Every event stands for one request sent.
#[derive(Debug)]
pub enum Event<P> {
    /// The next page of the current traversal, in page order; the first `Page` of a traversal
    /// (at the start or after a [`Event::Restart`]) is page 0, and its `versionId` is the
    /// traversal's.
    Page(P),
    /// `page` reported another `versionId` than the traversal's first page: the dataset changed
    /// while it was read. Every `Page` yielded since the start (or the last restart) belongs to
    /// the abandoned traversal; the next event is page 0 again. `page` itself is not part of
    /// any traversal (it is given for what it tells besides its records: common fields, size).
    Restart {
        /// The page that showed the change.
        page: P,
        /// Restarts so far (1 for the first, at most [`MAX_RESTARTS`]).
        restart: u32,
    },
}

/// Every page of a paginated endpoint, read through `fetch(page_index)` (`None` for the first
/// page) with the `versionId` restart rule (see [`crate::paginate`]).
///
/// The stream ends after the last page (the first without `nextPageIndex`) or after the first
/// error, which it yields: the first error of a page read, or [`AppleError::Unexpected`] when
/// `nextPageIndex` does not move forward. Dropping it drops the requests in flight.
pub struct Pages<F, Fut, P>
where
    Fut: Future,
{
    endpoint: &'static str,
    fetch: F,
    in_flight: usize,
    /// Requests sent and not yet yielded, in page order, with the index each asked for (0 for
    /// the first page).
    queue: FuturesOrdered<Fut>,
    asked: VecDeque<u32>,
    /// Pages the first page announced that are not requested yet.
    planned: Range<u32>,
    /// The current traversal's first page has been read, with this `versionId`.
    version: Option<Option<String>>,
    /// The highest page index read in this traversal, and the last page's `nextPageIndex`.
    last_index: u32,
    next: Option<u32>,
    restarts: u32,
    done: bool,
    _page: PhantomData<fn() -> P>,
}

// Nothing in `Pages` is pinned structurally: the futures in flight live in `FuturesOrdered`,
// which pins them itself, and the fetcher is only ever called through `&`.
impl<F, Fut: Future, P> Unpin for Pages<F, Fut, P> {}

impl<F, Fut, P> Pages<F, Fut, P>
where
    P: Page,
    F: Fn(Option<u32>) -> Fut,
    Fut: Future<Output = Result<P, AppleError>>,
{
    /// Every page of `endpoint` (named in log lines), [`MAX_IN_FLIGHT`] requests at once. The
    /// first request is sent when the stream is first polled.
    pub fn new(endpoint: &'static str, fetch: F) -> Self {
        Pages {
            endpoint,
            fetch,
            in_flight: MAX_IN_FLIGHT,
            queue: FuturesOrdered::new(),
            asked: VecDeque::new(),
            planned: 0..0,
            version: None,
            last_index: 0,
            next: None,
            restarts: 0,
            done: false,
            _page: PhantomData,
        }
    }

    /// At most `n` requests in flight (1 to [`MAX_IN_FLIGHT`]; other values are brought into
    /// that range).
    pub fn in_flight(mut self, n: usize) -> Self {
        self.in_flight = n.clamp(1, MAX_IN_FLIGHT);
        self
    }

    fn ask(&mut self, index: Option<u32>) {
        self.queue.push_back((self.fetch)(index));
        self.asked.push_back(index.unwrap_or(0));
    }

    /// Sends what may be sent now; false when nothing is in flight and nothing is left to ask.
    fn top_up(&mut self) -> Result<bool, AppleError> {
        if self.version.is_none() {
            if self.queue.is_empty() {
                self.ask(None);
            }
            return Ok(true);
        }
        while self.queue.len() < self.in_flight {
            let Some(i) = self.planned.next() else { break };
            self.ask(Some(i));
        }
        if !self.queue.is_empty() {
            return Ok(true);
        }
        // The pages the first page announced are read: follow `nextPageIndex` one by one.
        match self.next {
            None => Ok(false),
            Some(i) if i <= self.last_index => Err(AppleError::Unexpected {
                status: 200,
                body_excerpt: format!(
                    "nextPageIndex {i} does not move past page {}; stopping the traversal",
                    self.last_index
                ),
            }),
            Some(i) => {
                self.ask(Some(i));
                Ok(true)
            }
        }
    }

    /// Forgets the traversal and asks for the first page again.
    fn restart(&mut self) {
        self.queue = FuturesOrdered::new();
        self.asked.clear();
        self.planned = 0..0;
        self.version = None;
        self.last_index = 0;
        self.next = None;
        self.restarts += 1;
        tracing::warn!(
            endpoint = self.endpoint,
            restart = self.restarts,
            "versionId changed during pagination; reading again from the first page"
        );
    }

    fn on_page(&mut self, page: P) -> Event<P> {
        let asked = self.asked.pop_front().unwrap_or(0);
        let info = page.page();
        let Some(version) = &self.version else {
            // The first page: its `versionId` is the traversal's, its `totalPages` the plan.
            self.version = Some(info.version_id.clone());
            self.last_index = info.current_page_index;
            self.next = info.next_page_index;
            if let Some(start) = self.next {
                self.planned = start..info.total_pages.max(start + 1);
            }
            return Event::Page(page);
        };
        if info.version_id != *version && self.restarts < MAX_RESTARTS {
            self.restart();
            return Event::Restart {
                page,
                restart: self.restarts,
            };
        }
        self.last_index = self.last_index.max(info.current_page_index).max(asked);
        self.next = info.next_page_index;
        if self.next.is_none() {
            // The dataset shrank: this is the real last page; later pages are not wanted.
            self.queue = FuturesOrdered::new();
            self.asked.clear();
            self.planned = 0..0;
        }
        Event::Page(page)
    }
}

impl<F, Fut, P> Stream for Pages<F, Fut, P>
where
    P: Page,
    F: Fn(Option<u32>) -> Fut,
    Fut: Future<Output = Result<P, AppleError>>,
{
    type Item = Result<Event<P>, AppleError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match this.top_up() {
            Ok(true) => {}
            Ok(false) => {
                this.done = true;
                return Poll::Ready(None);
            }
            Err(e) => {
                this.done = true;
                return Poll::Ready(Some(Err(e)));
            }
        }
        match ready!(this.queue.poll_next_unpin(cx)) {
            Some(Ok(page)) => Poll::Ready(Some(Ok(this.on_page(page)))),
            Some(Err(e)) => {
                this.done = true;
                Poll::Ready(Some(Err(e)))
            }
            // `top_up` left a request in flight.
            None => Poll::Ready(None),
        }
    }
}
