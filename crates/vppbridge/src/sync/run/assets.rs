//! The assets traversal: every asset, then the view's slice replaced by what Apple listed.

use std::collections::BTreeMap;

use apple_vpp::paginate::Event;
use apple_vpp::types::{AssetsQuery, GetAssetsResponse};

use super::Run;
use crate::events::changes::AssetValue;
use crate::sync::error::SyncError;
use crate::view::Bucket;
use crate::view::keys::asset_key;

impl Run<'_> {
    pub(in crate::sync) async fn assets(&mut self) -> Result<(), SyncError> {
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
        self.replace(Bucket::Assets, truth).await
    }
}
