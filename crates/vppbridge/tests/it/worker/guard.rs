//! Paused locations: held messages that do not multiply, and every token rejection pausing the
//! location with its alert.

use std::time::Duration;

use super::harness::*;
use super::support::*;
use vppbridge::events::notification::{Action, AssetManagementData, Notification, Outcome};
use vppbridge::view::{Bucket, View};
use vppbridge_sim::SeedSpec;

fn associate(id: &str, serial: &str) -> Notification {
    Notification::AssetManagement(AssetManagementData {
        meta: meta(id, "ASSET_MANAGEMENT"),
        event_id: format!("e-{id}"),
        action: Action::Associate,
        result: Outcome::Success,
        assignments: vec![device("1", serial)],
        error: None,
        raw: serde_json::json!({}),
    })
}

async fn last_sequence(js: &async_nats::jetstream::Context) -> u64 {
    js.get_stream("VPP_NOTIFICATIONS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence
}

async fn alerts(js: &async_nats::jetstream::Context) -> Vec<serde_json::Value> {
    stream_json(js, "VPP_ALERTS").await
}

#[tokio::test]
async fn a_paused_location_s_stream_stays_flat_over_many_hold_cycles() {
    let e = env().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(
        dir.path(),
        &e.server.url(),
        "http://127.0.0.1:9/mdm/v2/",
        &token_text(300),
    );
    c.worker.max_deliver = 2;
    c.worker.hold_delay_ms = 50;
    let view = View::open(&e.js).await.unwrap();
    view.set_state(
        "school.guard",
        &vppbridge::view::state::GuardState {
            paused: true,
            reason: Some("token_revoked".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let w = start_worker(&c, &e.server.url()).await;
    for i in 0..3 {
        publish(&e.js, &associate(&format!("n-{i}"), &format!("S{i}"))).await;
    }
    // Each message runs out of deliveries every ~2 holds and is moved to the stream's end: the
    // last sequence climbs, the message count must not.
    let most = std::sync::atomic::AtomicU64::new(0);
    eventually(60, "ten hold cycles of each message", || async {
        most.fetch_max(
            count(&e.js, "VPP_NOTIFICATIONS").await,
            std::sync::atomic::Ordering::Relaxed,
        );
        last_sequence(&e.js).await >= 3 + 30
    })
    .await;
    let most = most.into_inner();
    let cycles = last_sequence(&e.js).await - 3;
    eprintln!("{cycles} hold cycles: at most {most} messages stored for 3 notifications");
    // A move is a copy then a delete: while the three are moved at once, up to six are stored
    // for an instant; never more, however many cycles (a copy per cycle would be 33 by now).
    assert!(most <= 6, "{most} messages stored for 3 notifications");
    assert_eq!(count(&e.js, "VPP_DLQ").await, 0);
    vppbridge::view::cli::resume_location(&view, "school")
        .await
        .unwrap();
    eventually(10, "the deltas are applied once resumed", || async {
        view.live(Bucket::Assignments, "school")
            .await
            .unwrap()
            .len()
            == 3
    })
    .await;
    eventually(10, "the consumer is idle", || consumer_idle(&e.js)).await;
    assert_eq!(count(&e.js, "VPP_CHANGES").await, 3);
    assert_eq!(
        count(&e.js, "VPP_NOTIFICATIONS").await,
        3,
        "one stored per notification"
    );
    w.stop().await;
}

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

/// Writes `text` to the location's token file with a modification time the worker sees as new.
fn write_token_file(h: &Harness, text: &str) {
    let file = &h.config.locations[0].token_file;
    std::fs::write(file, text).unwrap();
    std::fs::File::options()
        .write(true)
        .open(file)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + Duration::from_secs(10))
        .unwrap();
}

#[tokio::test]
async fn a_token_apple_rejects_with_9601_pauses_the_location_with_token_invalid() {
    let h = harness(seed()).await;
    let w = h.worker().await;
    h.synced().await;
    // A well-formed token the simulator does not know: every call is answered 9601.
    write_token_file(&h, &token_text(300));
    eventually(10, "the file is reloaded", || async {
        // The simulator's token lasts 365 days, the new one 300.
        h.guard()
            .await
            .token_expires_at
            .is_some_and(|t| (299..301).contains(&(t - chrono::Utc::now()).num_days()))
    })
    .await;
    h.admin(
        "purchase",
        serde_json::json!({"adamId": "100000001", "count": 1}),
    )
    .await;
    eventually(20, "the token_invalid alert", || async {
        alerts(&h.env.js)
            .await
            .iter()
            .any(|a| a["type"] == "vppbridge.alert.token_invalid.v1")
    })
    .await;
    let g = h.guard().await;
    assert!(
        g.paused && g.reason.as_deref() == Some("token_invalid"),
        "{g:?}"
    );
    let rejected = h
        .requests()
        .await
        .iter()
        .filter(|r| r.error_number == Some(9601))
        .count();
    eprintln!("{rejected} calls answered 9601 before the pause");
    assert_eq!(
        count(&h.env.js, "VPP_DLQ").await,
        0,
        "held, not dead-lettered"
    );
    assert!(assert_schema_valid(&h.env.js, "VPP_ALERTS").await >= 1);
    w.stop().await;
}

#[tokio::test]
async fn a_token_file_past_its_date_is_refused_on_reload_and_the_old_token_kept() {
    let h = harness(seed()).await;
    let w = h.worker().await;
    h.synced().await;
    write_token_file(&h, &token_text(-1));
    // The worker checks the file every 100 ms; the old token keeps working.
    h.admin(
        "purchase",
        serde_json::json!({"adamId": "100000001", "count": 2}),
    )
    .await;
    h.converged(20).await;
    eventually(10, "the consumer is idle", || consumer_idle(&h.env.js)).await;
    let g = h.guard().await;
    assert!(!g.paused, "{g:?}");
    assert!(
        g.token_expires_at.is_some_and(|t| t > chrono::Utc::now()),
        "the old token's date is kept: {g:?}"
    );
    assert!(alerts(&h.env.js).await.is_empty());
    w.stop().await;
}

#[tokio::test]
async fn a_token_past_its_date_pauses_the_location_before_any_call() {
    let h = harness(seed()).await;
    write_token_file(&h, &token_text(-1));
    h.clear_requests().await;
    let w = h.worker().await;
    eventually(10, "the token_expired alert", || async {
        alerts(&h.env.js)
            .await
            .iter()
            .any(|a| a["type"] == "vppbridge.alert.token_expired.v1")
    })
    .await;
    let a = alerts(&h.env.js).await;
    assert!(
        a[0]["data"]["message"]
            .as_str()
            .unwrap()
            .contains("expDate"),
        "{a:?}"
    );
    let g = h.guard().await;
    assert!(
        g.paused && g.reason.as_deref() == Some("token_expired"),
        "{g:?}"
    );
    h.admin(
        "purchase",
        serde_json::json!({"adamId": "100000001", "count": 1}),
    )
    .await;
    eventually(10, "the notification is held", || async {
        let s = h.env.js.get_stream("VPP_NOTIFICATIONS").await.unwrap();
        s.consumer_info("vppbridge-worker")
            .await
            .is_ok_and(|i| i.num_redelivered > 0)
    })
    .await;
    let calls: Vec<_> = h
        .requests()
        .await
        .into_iter()
        .filter(|r| !r.path.ends_with("/service/config"))
        .map(|r| r.path)
        .collect();
    assert!(
        calls.is_empty(),
        "no Apple calls with an expired token: {calls:?}"
    );
    w.stop().await;
}
