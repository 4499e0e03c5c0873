//! Drift no notification told of, against the simulator without extensions (no
//! `removedAssignments`): the incremental sync finds removals from each asset's
//! `assignedCount` and re-reads only the assets that differ; the schedule does the same.

use apple_vpp::types::ManageAssetsRequest;
use vppbridge::sync::{Progress, Summary, SyncKind, sync};
use vppbridge_sim::SeedSpec;
use vppbridge_testkit::truth::{Comparison, compare_view};

use super::harness::*;
use super::support::*;

/// The demo's location: 25 assets (every 5th a Book) by 1,000 devices, every App assigned.
fn demo_location() -> SeedSpec {
    SeedSpec {
        locations: 1,
        assets: 25,
        devices: 1000,
        users: 5,
        assigned: 1.0,
        seed: 7,
        licenses_per_asset: None,
    }
}

/// The view against Apple's truth, by the testkit's comparison.
async fn comparison(h: &Harness) -> Comparison {
    compare_view(
        &h.env.js,
        &h.http,
        &h.sim.admin_url(),
        "school",
        &h.uid,
        h.config.sync.users_active_only,
    )
    .await
    .unwrap()
}

/// Disassociates the first `apps` Apps from the first `devices` devices and waits until the
/// event has completed.
async fn disassociate(h: &Harness, apps: usize, devices: usize) {
    let assets = h.apps().await[..apps].to_vec();
    let event = h
        .apple
        .disassociate(&ManageAssetsRequest {
            assets,
            client_user_ids: vec![],
            serial_numbers: (1..=devices).map(|i| format!("SIM{i:09}")).collect(),
        })
        .await
        .unwrap()
        .event_id;
    h.completed(&event).await;
}

/// Apple's read requests in the log: (path, query).
async fn reads(h: &Harness) -> Vec<(String, String)> {
    h.requests()
        .await
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| (r.path, r.query.unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn a_disassociate_whose_notifications_are_all_dropped_is_repaired_by_an_incremental_sync() {
    let h = harness(demo_location()).await;
    let metrics = vppbridge::metrics::Metrics::new();
    let (_, locations) = vppbridge::worker::open_locations(&h.config, &h.env.js, &metrics)
        .await
        .unwrap();
    let loc = &locations["school"];
    let first = sync(loc, SyncKind::Full, &Progress::Silent).await.unwrap();
    assert!(first.differences > 0);
    assert!(comparison(&h).await.matches());

    h.faults(serde_json::json!({"dropRate": 1.0})).await;
    disassociate(&h, 3, 100).await;
    let drift = comparison(&h).await;
    assert!(!drift.matches(), "nothing told the view: {drift}");

    h.clear_requests().await;
    let inc = sync(loc, SyncKind::Incremental, &Progress::Silent)
        .await
        .unwrap();
    assert_eq!(inc.kind, SyncKind::Incremental, "{inc}");
    let after = comparison(&h).await;
    assert!(after.matches(), "{after}");
    assert_eq!(
        inc.differences,
        300 + 3,
        "300 removals and 3 assets' counts: {inc}"
    );
    let inc_reads = reads(&h).await;
    let targeted: Vec<_> = inc_reads
        .iter()
        .filter(|(p, q)| p.ends_with("/assignments") && q.contains("adamId="))
        .collect();
    let apps: Vec<String> = h.apps().await[..3]
        .iter()
        .map(|a| format!("adamId={}", a.adam_id.as_str()))
        .collect();
    assert_eq!(
        targeted.len(),
        3,
        "one page for each asset that differs: {targeted:?}"
    );
    for app in &apps {
        assert!(
            targeted.iter().any(|(_, q)| q.contains(app.as_str())),
            "{app} re-read: {targeted:?}"
        );
    }

    // For comparison: a full sync of the same location (nothing left to repair).
    h.clear_requests().await;
    let full = sync(loc, SyncKind::Full, &Progress::Silent).await.unwrap();
    assert_eq!(full.differences, 0, "{full}");
    let full_reads = reads(&h).await;
    report("incremental", &inc, inc_reads.len());
    report("full", &full, full_reads.len());
    assert!(
        inc_reads.len() < full_reads.len(),
        "the incremental repair reads only the assets that differ: {} vs {}",
        inc_reads.len(),
        full_reads.len()
    );

    // Nothing changed since: the next incremental sync re-reads no asset.
    h.clear_requests().await;
    let quiet = sync(loc, SyncKind::Incremental, &Progress::Silent)
        .await
        .unwrap();
    assert_eq!(quiet.differences, 0, "{quiet}");
    assert!(
        !reads(&h).await.iter().any(|(_, q)| q.contains("adamId=")),
        "counts agree: no targeted re-read"
    );
}

fn report(what: &str, s: &Summary, logged: usize) {
    println!(
        "{what} sync of 25 assets x 1,000 devices: {} API calls ({logged} in the simulator's log), {} records read, {} differences",
        s.api_calls, s.records_read, s.differences
    );
}

#[tokio::test]
async fn the_scheduled_incremental_sync_repairs_a_disassociate_whose_notifications_were_dropped() {
    let h = harness_with(
        SeedSpec {
            assets: 6,
            devices: 200,
            ..demo_location()
        },
        |_| {},
        |c| c.sync.incremental_interval_secs = 1,
    )
    .await;
    let w = h.worker().await;
    h.synced().await;
    h.faults(serde_json::json!({"dropRate": 1.0})).await;
    disassociate(&h, 2, 50).await;
    eventually(30, "the schedule repairs the view", || async {
        comparison(&h).await.matches()
    })
    .await;
    let state: vppbridge::view::state::SyncState =
        h.view.state("school.sync").await.unwrap().unwrap();
    assert!(state.last_incremental_sync.is_some());
    w.stop().await;
}
