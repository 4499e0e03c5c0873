//! The content-metadata lookup Service Config's `urls.contentMetadataLookup` points at by
//! default (`/_sim/lookup`), so a client that follows it stays on the test machine.
//!
//! Apple documents only the URL and, through a public client, its query (`id=<adamId>`, with
//! `version`, `p`, `caller`, `platform`, `cc`, `l`); the answer's shape is not documented. The
//! simulator answers a minimal `{"results": {"<adamId>": {...}}}` for the adamIds any of its
//! locations holds (others are left out), ignoring every other parameter and the cookie.
//! Read-only; off Apple's paths (no rate limit, no faults, not in the request log).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::server::{Shared, lock};

/// Query of the lookup: the adamIds, comma-separated.
#[derive(Debug, Deserialize)]
pub(crate) struct LookupQuery {
    #[serde(default)]
    id: String,
}

/// `GET /_sim/lookup?id=<adamId>[,<adamId>...]`.
pub(crate) async fn lookup(
    State(sim): State<Arc<Shared>>,
    Query(q): Query<LookupQuery>,
) -> Json<Value> {
    let wanted: Vec<&str> =
        q.id.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
    let world = lock(&sim.world);
    let mut results = BTreeMap::new();
    for loc in world.locations.values() {
        for (asset, state) in &loc.assets {
            let id = asset.adam_id.as_str();
            if !wanted.contains(&id) || results.contains_key(id) {
                continue;
            }
            let book = state.product_type == "Book";
            results.insert(
                id.to_owned(),
                json!({
                    "id": id,
                    "name": format!("Simulated {} {id}", state.product_type),
                    "kind": if book { "ebook" } else { "software" },
                    "artistName": "vppbridge simulator",
                    "bundleId": (!book).then(|| format!("com.example.sim.app{id}")),
                }),
            );
        }
    }
    Json(json!({ "results": results }))
}
