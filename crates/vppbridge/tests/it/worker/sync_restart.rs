//! A full sync whose `versionId` changes midway, against the fake Apple: the traversal starts
//! over and the view ends up with what the last traversal listed, nothing the abandoned one did.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use vppbridge::events::notification::AssignmentRef;
use vppbridge::sync::{Progress, SyncKind, sync};
use vppbridge::view::Bucket;

use super::harness::*;
use super::support::*;
use crate::apple_client::fake::{Answer, Fake};

fn empty_page(records: &str, version: &str) -> Answer {
    Answer::ok(json!({
        records: [], "currentPageIndex": 0, "size": 0, "totalPages": 1, "versionId": version
    }))
}

/// Assignments page `index` of 3, two devices per page, at `version`.
fn assignments_page(index: u32, version: &str, serials: [&str; 2]) -> Answer {
    let mut body = json!({
        "assignments": serials
            .iter()
            .map(|s| json!({"adamId": "1", "serialNumber": s, "pricingParam": "STDQ"}))
            .collect::<Vec<_>>(),
        "currentPageIndex": index, "size": 2, "totalPages": 3, "versionId": version
    });
    if index < 2 {
        body["nextPageIndex"] = json!(index + 1);
    }
    Answer::ok(body)
}

#[tokio::test]
async fn a_full_sync_whose_version_changes_midway_starts_over_and_keeps_only_the_last_listing() {
    let h = harness(vppbridge_sim::SeedSpec {
        locations: 1,
        assets: 1,
        devices: 1,
        users: 1,
        assigned: 0.0,
        seed: 7,
        licenses_per_asset: None,
    })
    .await;
    // Traversals of `GET assignments` so far (each starts with a request without pageIndex).
    let traversals = Arc::new(AtomicUsize::new(0));
    let seen = traversals.clone();
    let fake = Fake::start(move |r, _| match r.path.as_str() {
        "assets" => empty_page("assets", "a1"),
        "users" => empty_page("users", "u1"),
        "assignments" => {
            let index: u32 = r.param("pageIndex").map_or(0, |p| p.parse().unwrap());
            let traversal = if r.param("pageIndex").is_none() {
                seen.fetch_add(1, Ordering::SeqCst) + 1
            } else {
                seen.load(Ordering::SeqCst)
            };
            match (traversal, index) {
                // The first traversal lists a device that is gone by the time page 2 is read,
                // which already shows the next version.
                (1, 0) => assignments_page(0, "v1", ["S-ghost", "S1"]),
                (1, 1) => assignments_page(1, "v1", ["S2", "S3"]),
                (_, 0) => assignments_page(0, "v2", ["S0", "S1"]),
                (_, 1) => assignments_page(1, "v2", ["S2", "S3"]),
                _ => assignments_page(2, "v2", ["S4", "S5"]),
            }
        }
        _ => Answer::json(
            404,
            json!({"errorNumber": 9600, "errorMessage": "not scripted"}),
        ),
    })
    .await;
    let mut config = h.config.clone();
    config.apple.base_url = fake.base_url();
    let metrics = vppbridge::metrics::Metrics::new();
    let (_, locations) = vppbridge::worker::open_locations(&config, &h.env.js, &metrics)
        .await
        .unwrap();
    let s = sync(&locations["school"], SyncKind::Full, &Progress::Silent)
        .await
        .unwrap();

    assert_eq!(traversals.load(Ordering::SeqCst), 2, "one restart");
    assert_eq!(s.api_calls as usize, fake.requests().len(), "{s}");
    let serials: BTreeSet<String> = h
        .view
        .live(Bucket::Assignments, "school")
        .await
        .unwrap()
        .values()
        .map(|b| {
            let a: AssignmentRef = serde_json::from_slice(b).unwrap();
            a.serial_number.unwrap()
        })
        .collect();
    assert_eq!(
        serials,
        ["S0", "S1", "S2", "S3", "S4", "S5"]
            .map(String::from)
            .into(),
        "the last traversal's listing, without the abandoned one's S-ghost"
    );
    let state: vppbridge::view::state::SyncState =
        h.view.state("school.sync").await.unwrap().unwrap();
    assert_eq!(state.assignments_version_id.as_deref(), Some("v2"));
    // What a consumer of the change events saw: S-ghost came and went, within this run.
    let ghost: Vec<String> = stream_json(&h.env.js, "VPP_CHANGES")
        .await
        .into_iter()
        .filter(|e| e["data"]["cause"]["syncRunId"] == s.run_id.as_str())
        .filter(|e| e.to_string().contains("S-ghost"))
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ghost.last().map(String::as_str),
        Some("vppbridge.assignment.removed.v1"),
        "{ghost:?}"
    );
}
