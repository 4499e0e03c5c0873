//! The verifier: one task per location that gathers verification requests (see
//! [`crate::reconcile::coalesce`]) and, when they are due, reads Apple's truth for those assets
//! and replaces their slice of the view with it.
//!
//! Requests come with a reply channel; each notification's handler waits on it, so a message is
//! acknowledged only once the verification it triggered is durable in the view.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::location::{ErrorAction, Location};
use crate::events::changes::{AssetValue, Cause};
use crate::events::notification::AssignmentRef;
use crate::reconcile::choose::{self, AssetRead, AssignmentRead};
use crate::reconcile::coalesce::Coalescer;
use crate::reconcile::{AssetId, Target, VerifyRequest, diff};
use crate::view::Bucket;
use crate::view::keys::{asset_key, assignment_key};
use apple_vpp::AppleError;
use apple_vpp::types::{AssetsQuery, AssignmentsQuery};

/// Paginated reads run at once (Apple allows five).
const PARALLEL_READS: usize = 4;

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
}

impl Verifier {
    /// Starts the verifier task of a location.
    pub fn spawn(loc: Arc<Location>, window: Duration, shutdown: CancellationToken) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(loc, window, rx, shutdown));
        Verifier { tx }
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

/// Verifies the counts of every asset waited for, with one listing or one read per asset.
async fn verify_counts(loc: &Location, waiting: Vec<(AssetId, Waiter)>) {
    if let Some(o) = paused(loc) {
        answer(&o, waiting.into_iter().map(|(_, (_, r))| r));
        return;
    }
    let assets: BTreeSet<AssetId> = waiting.iter().map(|(a, _)| a.clone()).collect();
    let cause = waiting[0].1.0.clone();
    let mut calls = 0u32;
    let outcome = match read_assets(loc, &assets.iter().collect::<Vec<_>>(), &mut calls).await {
        Err(e) => VerifyOutcome::Failed {
            action: loc.classify(&e).await,
            reason: e.to_string(),
        },
        Ok(truth) => {
            let mut writes = Vec::new();
            let mut failed = None;
            for a in &assets {
                match asset_key(&loc.id, &a.adam_id, &a.pricing_param) {
                    Ok(k) => writes.push((k, truth.get(a).cloned())),
                    Err(e) => failed = Some(e.to_string()),
                }
            }
            match loc
                .applier
                .apply_many(&loc.id, Bucket::Assets, writes, &cause)
                .await
            {
                Ok(changes) if failed.is_none() => VerifyOutcome::Done {
                    apple_calls: calls,
                    changes,
                },
                Ok(_) => VerifyOutcome::Failed {
                    action: ErrorAction::Retry { after: None },
                    reason: failed.unwrap_or_default(),
                },
                Err(e) => VerifyOutcome::Failed {
                    action: ErrorAction::Retry { after: None },
                    reason: e.to_string(),
                },
            }
        }
    };
    tracing::debug!(location = %loc.id, assets = assets.len(), outcome = ?outcome, "counts verification");
    answer(&outcome, waiting.into_iter().map(|(_, (_, r))| r));
}

/// Verifies the assignments of each asset of the batch (a few at once).
async fn verify_assignments(loc: &Location, batch: Batch) {
    let started = Instant::now();
    if let Some(o) = paused(loc) {
        for (_, _, w) in batch {
            answer(&o, w.into_iter().map(|(_, r)| r));
        }
        return;
    }
    let calls = std::sync::atomic::AtomicU32::new(0);
    let results: Vec<_> = futures::stream::iter(batch)
        .map(|(asset, request, waiters)| {
            let calls = &calls;
            async move {
                let cause = waiters
                    .first()
                    .map(|(c, _)| c.clone())
                    .unwrap_or_else(|| Cause::sync("verification"));
                let r = verify_one(loc, &asset, &request, &cause, calls).await;
                (asset, r, waiters)
            }
        })
        .buffer_unordered(PARALLEL_READS)
        .collect()
        .await;
    let calls = calls.into_inner();
    for (asset, r, waiters) in results {
        let o = match r {
            Ok(changes) => VerifyOutcome::Done {
                apple_calls: calls,
                changes,
            },
            Err(VerifyError::Apple(e)) => VerifyOutcome::Failed {
                action: loc.classify(&e).await,
                reason: e.to_string(),
            },
            Err(VerifyError::Other(reason)) => VerifyOutcome::Failed {
                action: ErrorAction::Retry { after: None },
                reason,
            },
        };
        tracing::debug!(location = %loc.id, adam_id = %asset.adam_id, outcome = ?o, duration_ms = started.elapsed().as_millis() as u64, "assignments verification");
        answer(&o, waiters.into_iter().map(|(_, r)| r));
    }
}

enum VerifyError {
    Apple(AppleError),
    Other(String),
}

impl From<AppleError> for VerifyError {
    fn from(e: AppleError) -> Self {
        VerifyError::Apple(e)
    }
}

fn other(e: impl std::fmt::Display) -> VerifyError {
    VerifyError::Other(e.to_string())
}

/// Reads the counts of `assets`: one `GET assets` traversal when that is cheaper, else one
/// `GET assets?adamId=` each. Returns the assets Apple listed, by id.
async fn read_assets(
    loc: &Location,
    assets: &[&AssetId],
    calls: &mut u32,
) -> Result<HashMap<AssetId, AssetValue>, AppleError> {
    let mut out = HashMap::new();
    if assets.is_empty() {
        return Ok(out);
    }
    let client = loc.client();
    let keep = |listed: Vec<apple_vpp::types::ResponseAsset>, out: &mut HashMap<_, _>| {
        for a in listed {
            out.insert(
                AssetId {
                    adam_id: a.adam_id.0.clone(),
                    pricing_param: a.pricing_param.clone(),
                },
                AssetValue::from(&a),
            );
        }
    };
    match choose::asset_read(assets.len(), loc.known_assets(), loc.page_size()) {
        AssetRead::All => {
            let p = client.all_assets(AssetsQuery::default()).await?;
            *calls += p.pages;
            loc.note_pages(p.items.len(), p.pages);
            loc.note_known_assets(p.items.len());
            loc.note_common(&p.common).await;
            keep(p.items, &mut out);
        }
        AssetRead::PerAsset => {
            for a in assets {
                let p = client
                    .all_assets(AssetsQuery {
                        adam_id: Some(a.adam_id.clone()),
                        ..Default::default()
                    })
                    .await?;
                *calls += p.pages;
                loc.note_common(&p.common).await;
                keep(p.items, &mut out);
            }
        }
    }
    Ok(out)
}

async fn verify_one(
    loc: &Location,
    asset: &AssetId,
    request: &VerifyRequest,
    cause: &Cause,
    calls: &std::sync::atomic::AtomicU32,
) -> Result<usize, VerifyError> {
    let applier = &loc.applier;
    let mut changes = 0;
    let prefix = asset_key(&loc.id, &asset.adam_id, &asset.pricing_param).map_err(other)?;
    let current = applier
        .view()
        .slice(Bucket::Assignments, &prefix)
        .await
        .map_err(other)?;
    let client = loc.client();
    let query = |t: Option<&Target>| AssignmentsQuery {
        adam_id: Some(asset.adam_id.clone()),
        pricing_param: Some(asset.pricing_param.clone()),
        serial_number: match t {
            Some(Target::Device(s)) => Some(s.clone()),
            _ => None,
        },
        client_user_id: match t {
            Some(Target::User(u)) => Some(u.clone()),
            _ => None,
        },
        ..Default::default()
    };
    let decode = |bytes: &bytes::Bytes| serde_json::from_slice::<AssignmentRef>(bytes).ok();
    let live = current.values().filter(|c| c.value.is_some()).count();
    let mut truth: BTreeMap<String, AssignmentRef> = BTreeMap::new();
    let mut now: BTreeMap<String, AssignmentRef> = BTreeMap::new();
    let consider = |key: &str, now: &mut BTreeMap<String, AssignmentRef>| {
        if let Some(v) = current.get(key).and_then(|c| c.value.as_ref()) {
            // An undecodable value stands as a placeholder no truth equals, so it is
            // replaced or removed.
            now.insert(key.to_owned(), decode(v).unwrap_or_else(placeholder));
        }
    };
    match choose::assignment_read(&request.targets, live, loc.page_size()) {
        AssignmentRead::ByAsset => {
            let p = client.all_assignments(query(None)).await?;
            calls.fetch_add(p.pages, std::sync::atomic::Ordering::Relaxed);
            loc.note_pages(p.items.len(), p.pages);
            loc.note_common(&p.common).await;
            for a in p.items {
                let r = normalise(&a);
                if r.adam_id == asset.adam_id && r.pricing_param == asset.pricing_param {
                    truth.insert(assignment_key(&loc.id, &r).map_err(other)?, r);
                }
            }
            for k in current.keys() {
                consider(k, &mut now);
            }
        }
        AssignmentRead::ByTargets(targets) => {
            for t in &targets {
                let p = client.all_assignments(query(Some(t))).await?;
                calls.fetch_add(p.pages, std::sync::atomic::Ordering::Relaxed);
                loc.note_common(&p.common).await;
                let key = assignment_key(&loc.id, &t.assignment(asset)).map_err(other)?;
                consider(&key, &mut now);
                if let Some(a) =
                    p.items.iter().map(normalise).find(|r| {
                        r.adam_id == asset.adam_id && r.pricing_param == asset.pricing_param
                    })
                {
                    truth.insert(key, a);
                }
            }
        }
    }
    let writes = diff(&now, &truth);
    changes += applier
        .apply_many_from(&loc.id, Bucket::Assignments, writes, Some(&current), cause)
        .await
        .map_err(other)?;
    Ok(changes)
}

/// A value no real assignment equals, standing for an undecodable stored value.
fn placeholder() -> AssignmentRef {
    AssignmentRef {
        adam_id: String::new(),
        pricing_param: String::new(),
        serial_number: None,
        client_user_id: None,
    }
}

/// The view's form of an assignment (no user state).
pub fn normalise(a: &apple_vpp::types::Assignment) -> AssignmentRef {
    AssignmentRef {
        adam_id: a.adam_id.0.clone(),
        pricing_param: a.pricing_param.clone(),
        serial_number: a.serial_number.clone(),
        client_user_id: if a.serial_number.is_some() {
            None
        } else {
            a.client_user_id.clone()
        },
    }
}
