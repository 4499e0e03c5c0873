//! The assets traversal: every asset, then the view's slice replaced by what Apple listed; the
//! `assignedCount` of each asset is handed back for the incremental sync's recount.

use std::collections::BTreeMap;

use apple_vpp::paginate::Event;
use apple_vpp::types::{AssetsQuery, GetAssetsResponse};

use super::Run;
use crate::events::changes::AssetValue;
use crate::sync::error::SyncError;
use crate::view::Bucket;
use crate::view::keys::asset_key;

impl Run<'_> {
    /// Reads every asset and writes them; returns each adamId's `assignedCount` (summed over
    /// its pricing params).
    pub(in crate::sync) async fn assets(&mut self) -> Result<BTreeMap<String, i64>, SyncError> {
        let client = self.loc.client();
        let location = self.loc.id.clone();
        let mut truth = BTreeMap::new();
        let fetch = |page_index| {
            let client = &client;
            async move {
                client
                    .assets_page(&AssetsQuery {
                        page_index,
                        ..Default::default()
                    })
                    .await
            }
        };
        self.traverse("assets", fetch, |event: Event<GetAssetsResponse>| {
            let r = match event {
                Event::Page(r) => r,
                // What was listed belongs to a version that is gone.
                Event::Restart { .. } => {
                    truth.clear();
                    return Ok(());
                }
            };
            for a in &r.assets {
                truth.insert(
                    asset_key(&location, a.adam_id.as_str(), &a.pricing_param)?,
                    AssetValue::from(a),
                );
            }
            Ok(())
        })
        .await?;
        self.loc.note_known_assets(truth.len());
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for a in truth.values() {
            *counts.entry(a.adam_id.clone()).or_default() += a.assigned_count;
        }
        self.replace(Bucket::Assets, truth).await?;
        Ok(counts)
    }
}
