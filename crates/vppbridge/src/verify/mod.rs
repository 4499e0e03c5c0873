//! The verifier: one task per location that gathers verification requests (see
//! [`crate::reconcile::coalesce`]) and, when they are due, reads Apple's truth for those assets
//! and replaces their slice of the view with it.
//!
//! Requests come with a reply channel; each notification's handler waits on it, so a message is
//! acknowledged only once the verification it triggered is durable in the view.
//!
//! - this file: the [`Verifier`] handle and the task that coalesces requests until they are due.
//! - `counts.rs`: verifying asset counts (one listing, or one read per asset).
//! - `assignments.rs`: verifying one asset's assignments (by asset, or by target).

mod assignments;
mod counts;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::events::changes::Cause;
use crate::location::{ErrorAction, Location};
use crate::reconcile::coalesce::Coalescer;
use crate::reconcile::{AssetId, VerifyRequest};
use assignments::verify_assignments;
use counts::verify_counts;

/// What a verification ended with, as its waiters see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// The view holds Apple's truth for the asset.
    Done {
        /// Apple requests the verification batch made (shared by everyone who waited on it).
        apple_calls: u32,
        /// View keys it changed.
        changes: usize,
    },
    /// It could not run; what to do about it.
    Failed {
        /// Retry, hold or skip.
        action: ErrorAction,
        /// Why.
        reason: String,
    },
}

type Reply = oneshot::Sender<VerifyOutcome>;

/// What a verification reads: one asset's assignments, or the counts of assets (one listing
/// serves every asset of the location, so counts are coalesced per location, not per asset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The asset's assignments.
    Assignments,
    /// The asset's counts.
    Counts,
}

enum Job {
    Announce(AssetId, Part),
    Withdraw(AssetId, Part),
    Request {
        asset: AssetId,
        part: Part,
        request: VerifyRequest,
        cause: Cause,
        reply: Reply,
    },
}

/// A handle to a location's verifier.
#[derive(Debug, Clone)]
pub struct Verifier {
    tx: mpsc::UnboundedSender<Job>,
    stop: CancellationToken,
}

impl Verifier {
    /// Starts the verifier task of a location.
    pub fn spawn(loc: Arc<Location>, window: Duration, shutdown: CancellationToken) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let stop = shutdown.clone();
        tokio::spawn(run(loc, window, rx, shutdown));
        Verifier { tx, stop }
    }

    /// Whether the verifier was told to stop (shutdown, or the location's ownership ended):
    /// its unanswered requests then fail without being the location's fault.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Says a request for `asset` will follow once a delta is applied, so the verification
    /// waits for it.
    pub fn announce(&self, asset: AssetId, part: Part) {
        // When the task is gone (shutdown) there is nothing to hold back.
        let _ = self.tx.send(Job::Announce(asset, part));
    }

    /// Takes back an announcement whose request will not come.
    pub fn withdraw(&self, asset: AssetId, part: Part) {
        let _ = self.tx.send(Job::Withdraw(asset, part));
    }

    /// Asks for a verification of `asset` (settling one announcement); the answer comes once
    /// it is done.
    pub fn request(
        &self,
        asset: AssetId,
        part: Part,
        request: VerifyRequest,
        cause: Cause,
    ) -> oneshot::Receiver<VerifyOutcome> {
        let (reply, rx) = oneshot::channel();
        // When the task is gone (shutdown) the reply is dropped and the waiter sees that.
        let _ = self.tx.send(Job::Request {
            asset,
            part,
            request,
            cause,
            reply,
        });
        rx
    }
}

/// The parts of a plan's verification of one asset.
pub fn parts(request: &VerifyRequest) -> Vec<Part> {
    let mut p = Vec::new();
    if request.assignments {
        p.push(Part::Assignments);
    }
    if request.counts {
        p.push(Part::Counts);
    }
    p
}

type Waiter = (Cause, Reply);

async fn run(
    loc: Arc<Location>,
    window: Duration,
    mut rx: mpsc::UnboundedReceiver<Job>,
    shutdown: CancellationToken,
) {
    let mut assignments: Coalescer<Waiter> = Coalescer::new(window);
    // One listing serves every asset, so counts wait longer while a burst goes on: thirty
    // windows at most.
    let mut counts: Coalescer<(AssetId, Waiter), ()> =
        Coalescer::with_max_wait(window, window * 30);
    loop {
        let due = [assignments.next_due(), counts.next_due()]
            .into_iter()
            .flatten()
            .min()
            .map(Instant::from_std);
        let now = std::time::Instant::now;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            job = rx.recv() => match job {
                None => break,
                Some(Job::Announce(a, Part::Assignments)) => assignments.announce(a, now()),
                Some(Job::Announce(_, Part::Counts)) => counts.announce((), now()),
                Some(Job::Withdraw(a, Part::Assignments)) => assignments.withdraw(&a),
                Some(Job::Withdraw(_, Part::Counts)) => counts.withdraw(&()),
                Some(Job::Request { asset, part: Part::Assignments, request, cause, reply }) => {
                    assignments.add(asset, request, now(), (cause, reply))
                }
                Some(Job::Request { asset, part: Part::Counts, request, cause, reply }) => {
                    counts.add((), request, now(), (asset, (cause, reply)))
                }
            },
            _ = async { match due { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                let t = now();
                let waiting: Vec<(AssetId, Waiter)> = counts
                    .take_due(t)
                    .into_iter()
                    .flat_map(|(_, p)| p.waiters)
                    .collect();
                if !waiting.is_empty() {
                    verify_counts(&loc, waiting).await;
                }
                let batch: Batch = assignments
                    .take_due(t)
                    .into_iter()
                    .filter(|(_, p)| !p.waiters.is_empty())
                    .map(|(a, p)| (a, p.request, p.waiters))
                    .collect();
                if !batch.is_empty() {
                    verify_assignments(&loc, batch).await;
                }
            }
        }
    }
    let stopping = || VerifyOutcome::Failed {
        action: ErrorAction::Retry { after: None },
        reason: "shutting down before the verification ran".into(),
    };
    for (_, p) in assignments.drain() {
        for (_, reply) in p.waiters {
            let _ = reply.send(stopping());
        }
    }
    for (_, p) in counts.drain() {
        for (_, (_, reply)) in p.waiters {
            let _ = reply.send(stopping());
        }
    }
}

type Batch = Vec<(AssetId, VerifyRequest, Vec<Waiter>)>;

fn answer(o: &VerifyOutcome, waiters: impl IntoIterator<Item = Reply>) {
    for r in waiters {
        let _ = r.send(o.clone());
    }
}

fn paused(loc: &Location) -> Option<VerifyOutcome> {
    loc.paused().map(|kind| VerifyOutcome::Failed {
        action: ErrorAction::Hold,
        reason: format!("location paused ({})", kind.as_str()),
    })
}
