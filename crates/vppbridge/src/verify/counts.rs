//! Verifying asset counts: every asset waited for at once, with one `GET assets` traversal or
//! one read per asset (whichever [`crate::reconcile::choose::asset_read`] says is cheaper).

use std::collections::{BTreeSet, HashMap};

use super::{VerifyOutcome, Waiter, answer, paused};
use crate::events::changes::AssetValue;
use crate::location::{ErrorAction, Location};
use crate::reconcile::AssetId;
use crate::reconcile::choose::{self, AssetRead};
use crate::view::Bucket;
use crate::view::keys::asset_key;
use apple_vpp::AppleError;
use apple_vpp::types::AssetsQuery;

/// Verifies the counts of every asset waited for, with one listing or one read per asset.
pub(super) async fn verify_counts(loc: &Location, waiting: Vec<(AssetId, Waiter)>) {
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
