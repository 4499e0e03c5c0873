//! The status check by reading Apple's truth: the location's verifier reads the assignments of
//! a request's assets (and their counts) into the view. Used when Event Status cannot say (a request recorded
//! before a crash, whose `eventId` was never learnt: it is never sent again before this read),
//! and after Event Status settled a request whose notifications never came (so the view, and
//! the `assignment.added|removed` events that follow it, catch up with Apple).

use std::collections::{BTreeMap, BTreeSet};

use super::Converger;
use crate::events::changes::Cause;
use crate::intents::Target;
use crate::intents::track::RequestRecord;
use crate::reconcile::{self, AssetId, VerifyRequest};
use crate::verify::{Part, VerifyOutcome};

impl Converger {
    /// Reads Apple's assignments of every asset `req` carries into the view; returns whether
    /// every read succeeded (true without a verifier: the view is then all there is).
    pub(super) async fn check_at_apple(&self, req: &RequestRecord) -> bool {
        let Some(verifier) = &self.verifier else {
            return true;
        };
        let mut per_asset: BTreeMap<AssetId, BTreeSet<reconcile::Target>> = BTreeMap::new();
        for p in req.pairs() {
            let target = match p.target {
                Target::Serial(s) => reconcile::Target::Device(s),
                Target::User(u) => reconcile::Target::User(u),
            };
            per_asset
                .entry(AssetId {
                    adam_id: p.adam_id,
                    pricing_param: p.pricing_param,
                })
                .or_default()
                .insert(target);
        }
        // The assignments and the counts (licenses available decide when a waiting pair is
        // asked again): each asset's, the counts in one listing.
        let cause = Cause::sync(format!("intents-{}", req.id));
        let replies: Vec<_> = per_asset
            .into_iter()
            .flat_map(|(asset, targets)| {
                let counts = verifier.request(
                    asset.clone(),
                    Part::Counts,
                    VerifyRequest {
                        assignments: false,
                        counts: true,
                        targets: BTreeSet::new(),
                    },
                    cause.clone(),
                );
                let assignments = verifier.request(
                    asset,
                    Part::Assignments,
                    VerifyRequest {
                        assignments: true,
                        counts: false,
                        targets,
                    },
                    cause.clone(),
                );
                [assignments, counts]
            })
            .collect();
        let mut all = true;
        for r in replies {
            match r.await {
                Ok(VerifyOutcome::Done { .. }) => {}
                Ok(VerifyOutcome::Failed { reason, .. }) => {
                    tracing::warn!(location = %self.loc.id, request_id = %req.id, reason, "intents: reading Apple's assignments failed; asking again later");
                    all = false;
                }
                Err(_) => all = false,
            }
        }
        all
    }
}
