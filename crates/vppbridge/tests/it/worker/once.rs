//! Exactly one effect per notification: count deltas applied once whatever the redeliveries,
//! change events only for writes that happened, and published even when the process died between
//! the write and the publish.

use super::harness::*;
use super::support::*;
use vppbridge::events::changes::{AssetValue, Cause};
use vppbridge::view::{Bucket, Current, WriteMeta, keys};
use vppbridge_sim::SeedSpec;

fn seed() -> SeedSpec {
    SeedSpec {
        locations: 1,
        assets: 4,
        devices: 5,
        users: 2,
        assigned: 0.0,
        seed: 7,
        licenses_per_asset: None,
    }
}

const ADAM: &str = "100000001";

/// The `asset.counts` events of the test asset: (notificationId of the cause, new totalCount).
async fn count_events(h: &Harness) -> Vec<(String, i64)> {
    stream_json(&h.env.js, "VPP_CHANGES")
        .await
        .into_iter()
        .filter(|e| e["type"] == "vppbridge.asset.counts.v1")
        .filter(|e| e["data"]["new"]["adamId"] == ADAM || e["data"]["old"]["adamId"] == ADAM)
        // The initial sync's events (the asset entering the view) are not the notification's.
        .filter(|e| e["data"]["cause"]["notificationId"].is_string())
        .map(|e| {
            (
                e["data"]["cause"]["notificationId"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                e["data"]["new"]["totalCount"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

async fn view_total(h: &Harness) -> i64 {
    h.view_state()
        .await
        .1
        .into_iter()
        .find(|a| a.adam_id == ADAM)
        .map(|a| a.total_count)
        .unwrap()
}

async fn truth_total(h: &Harness) -> i64 {
    h.truth()
        .await
        .assets
        .into_iter()
        .find(|a| a.adam_id.0 == ADAM)
        .map(|a| a.total_count)
        .unwrap()
}

/// Verification reads of the assets Apple failed (503): two per delivery (the worker's client
/// makes two attempts in these tests).
async fn failed_reads(h: &Harness) -> usize {
    h.requests()
        .await
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/assets") && r.status == 503)
        .count()
}

#[tokio::test]
async fn a_redelivered_asset_count_changes_the_count_once_and_ends_equal_to_apple() {
    let h = harness_with(
        seed(),
        |_| {},
        |c| {
            c.worker.max_deliver = 8;
            c.worker.backoff_secs = vec![1];
        },
    )
    .await;
    let w = h.worker().await;
    h.synced().await;
    let before = view_total(&h).await;
    // Apple's reads fail: the verification cannot run, the message comes back again and again.
    h.faults(serde_json::json!({"error503Rate": 1.0})).await;
    h.clear_requests().await;
    h.admin("purchase", serde_json::json!({"adamId": ADAM, "count": 1}))
        .await;
    eventually(30, "the ASSET_COUNT is delivered four times", || async {
        failed_reads(&h).await >= 8
    })
    .await;
    let during = view_total(&h).await;
    let reads = failed_reads(&h).await;
    eprintln!("totalCount {before} → {during} after {reads} failed reads (≥ 4 deliveries)");
    assert_eq!(during, before + 1, "the +1 is in the view once");
    h.faults(serde_json::json!({})).await;
    eventually(30, "the consumer is idle", || consumer_idle(&h.env.js)).await;
    h.converged(30).await;
    assert_eq!(view_total(&h).await, truth_total(&h).await);
    let events = count_events(&h).await;
    assert_eq!(events.len(), 1, "one asset.counts event: {events:?}");
    assert_eq!(events[0].1, before + 1);
    assert_eq!(count(&h.env.js, "VPP_DLQ").await, 0);
    w.stop().await;
}

#[tokio::test]
async fn an_asset_count_dead_lettered_while_apple_fails_leaves_the_view_at_apples_count() {
    let h = harness(seed()).await; // max_deliver 3, backoff [1]
    let w = h.worker().await;
    h.synced().await;
    let before = view_total(&h).await;
    h.faults(serde_json::json!({"error503Rate": 1.0})).await;
    h.admin("purchase", serde_json::json!({"adamId": ADAM, "count": 3}))
        .await;
    eventually(30, "the ASSET_COUNT is dead-lettered", || async {
        count(&h.env.js, "VPP_DLQ").await == 1
    })
    .await;
    h.faults(serde_json::json!({})).await;
    let (view, truth) = (view_total(&h).await, truth_total(&h).await);
    eprintln!(
        "after 3 deliveries and the dead letter: view {view}, Apple {truth} (before {before})"
    );
    assert_eq!(view, truth, "the +3 is in the view exactly once");
    assert_eq!(count_events(&h).await.len(), 1);
    w.stop().await;
}

fn asset(total: i64) -> AssetValue {
    AssetValue {
        adam_id: ADAM.into(),
        pricing_param: "STDQ".into(),
        product_type: "App".into(),
        assigned_count: 0,
        available_count: total,
        retired_count: 0,
        total_count: total,
        device_assignable: true,
        revocable: true,
        supported_platforms: vec![],
    }
}

#[tokio::test]
async fn a_crash_after_writing_and_before_publishing_still_publishes_the_event_once() {
    let e = env().await;
    let a = applier(&e.js).await;
    let value = device("1", "S1");
    let key = keys::assignment_key("school", &value).unwrap();
    let cause = Cause::notification("n-1");
    // What the first attempt did before it died: the write with its meta, no event.
    let written = a
        .view()
        .write(
            Bucket::Assignments,
            &key,
            &Current::default(),
            Some(serde_json::to_vec(&value).unwrap().into()),
            &WriteMeta {
                cause: Some(cause.label()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(written, vppbridge::view::Written::Ok(_)));
    assert_eq!(count(&e.js, "VPP_CHANGES").await, 0);
    // The redelivery finds its own write and publishes the event; a second one is a duplicate.
    for _ in 0..2 {
        a.apply("school", Bucket::Assignments, &key, Some(&value), &cause)
            .await
            .unwrap();
    }
    let events = stream_json(&e.js, "VPP_CHANGES").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "vppbridge.assignment.added.v1");
    assert_eq!(events[0]["data"]["old"], serde_json::Value::Null);
    // Another cause finding the same value publishes nothing.
    a.apply(
        "school",
        Bucket::Assignments,
        &key,
        Some(&value),
        &Cause::sync("run"),
    )
    .await
    .unwrap();
    assert_eq!(count(&e.js, "VPP_CHANGES").await, 1);
}

#[tokio::test]
async fn a_count_delta_is_applied_once_per_notification_and_survives_a_verification() {
    let e = env().await;
    let a = applier(&e.js).await;
    let key = keys::asset_key("school", ADAM, "STDQ").unwrap();
    a.apply(
        "school",
        Bucket::Assets,
        &key,
        Some(&asset(110)),
        &Cause::sync("s"),
    )
    .await
    .unwrap();
    let n = Cause::notification("n-1");
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        outcomes.push(
            a.apply_count_delta("school", &key, "n-1", 1, &n)
                .await
                .unwrap(),
        );
    }
    use vppbridge::changes::DeltaOutcome::*;
    assert_eq!(outcomes[0], Applied);
    assert!(
        outcomes[1..].iter().all(|o| *o == AlreadyApplied),
        "{outcomes:?}"
    );
    // A verification writes Apple's truth (another value): the applied id travels with it.
    a.apply(
        "school",
        Bucket::Assets,
        &key,
        Some(&asset(120)),
        &Cause::notification("n-2"),
    )
    .await
    .unwrap();
    assert_eq!(
        a.apply_count_delta("school", &key, "n-1", 1, &n)
            .await
            .unwrap(),
        AlreadyApplied
    );
    let v: AssetValue = serde_json::from_slice(
        &a.view()
            .read(Bucket::Assets, &key)
            .await
            .unwrap()
            .value
            .unwrap(),
    )
    .unwrap();
    assert_eq!(v.total_count, 120);
    // Out of range: refused, nothing written.
    assert_eq!(
        a.apply_count_delta("school", &key, "n-3", i64::MAX, &Cause::notification("n-3"))
            .await
            .unwrap(),
        OutOfRange
    );
    let totals: Vec<i64> = stream_json(&e.js, "VPP_CHANGES")
        .await
        .iter()
        .map(|e| e["data"]["new"]["totalCount"].as_i64().unwrap())
        .collect();
    assert_eq!(totals, vec![110, 111, 120]);
}

#[tokio::test]
async fn a_writer_that_loses_the_compare_and_set_publishes_nothing_for_it() {
    let e = env().await;
    let a = applier(&e.js).await;
    let key = keys::asset_key("school", ADAM, "STDQ").unwrap();
    a.apply(
        "school",
        Bucket::Assets,
        &key,
        Some(&asset(1)),
        &Cause::sync("s"),
    )
    .await
    .unwrap();
    let stale = a.view().read(Bucket::Assets, &key).await.unwrap();
    // Another writer wins in between.
    a.apply(
        "school",
        Bucket::Assets,
        &key,
        Some(&asset(2)),
        &Cause::sync("other"),
    )
    .await
    .unwrap();
    // This writer starts from what it read before: its first compare-and-set fails.
    a.apply_from(
        "school",
        Bucket::Assets,
        &key,
        Some(&asset(3)),
        &Cause::sync("late"),
        Some(stale),
    )
    .await
    .unwrap();
    let events = stream_json(&e.js, "VPP_CHANGES").await;
    let transitions: Vec<(i64, i64)> = events
        .iter()
        .map(|e| {
            (
                e["data"]["old"]["totalCount"].as_i64().unwrap_or(0),
                e["data"]["new"]["totalCount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        transitions,
        vec![(0, 1), (1, 2), (2, 3)],
        "one event per write, none for 1 → 3"
    );
}
