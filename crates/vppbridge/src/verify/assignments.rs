//! Verifying one asset's assignments: read Apple's truth (all of the asset's assignments, or
//! one read per target, whichever [`crate::reconcile::choose::assignment_read`] says is cheaper)
//! and replace the asset's slice of the view with it. A batch verifies a few assets at once.

use std::collections::BTreeMap;

use futures::StreamExt;
use tokio::time::Instant;

use super::{Batch, VerifyOutcome, answer, paused};
use crate::events::changes::Cause;
use crate::events::notification::AssignmentRef;
use crate::location::{ErrorAction, Location};
use crate::reconcile::choose::{self, AssignmentRead};
use crate::reconcile::{AssetId, Target, VerifyRequest, diff};
use crate::view::Bucket;
use crate::view::keys::{asset_key, assignment_key};
use apple_vpp::AppleError;
use apple_vpp::types::AssignmentsQuery;

/// Paginated reads run at once (Apple allows five).
const PARALLEL_READS: usize = 4;

/// Verifies the assignments of each asset of the batch (a few at once).
pub(super) async fn verify_assignments(loc: &Location, batch: Batch) {
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
                let r = AssignmentRef::from(&a);
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
                    p.items.iter().map(AssignmentRef::from).find(|r| {
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
