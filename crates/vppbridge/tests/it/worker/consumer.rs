//! The consumer without Apple: dead letters, acknowledged test notifications, held messages,
//! token alerts and resumption.

use std::time::Duration;

use super::support::*;
use vppbridge::events::notification::{
    Action, AssetManagementData, Notification, Outcome, PlainData,
};
use vppbridge::view::{Bucket, View};

#[tokio::test]
async fn a_message_that_is_not_an_event_is_dead_lettered_with_its_error() {
    let e = env().await;
    let dir = tempfile::tempdir().unwrap();
    let c = config(
        dir.path(),
        &e.server.url(),
        "http://127.0.0.1:9/mdm/v2/",
        &token_text(300),
    );
    let w = start_worker(&c, &e.server.url()).await;
    e.js.publish(
        "vpp.notifications.school.asset_management",
        "not json".into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    eventually(10, "a dead letter", || async {
        count(&e.js, "VPP_DLQ").await == 1
    })
    .await;
    let dlq = stream_json(&e.js, "VPP_DLQ").await;
    assert_eq!(dlq[0]["event"], "not json");
    assert_eq!(dlq[0]["deliveries"], 1);
    assert!(
        dlq[0]["error"].as_str().unwrap().contains("CloudEvents"),
        "{dlq:?}"
    );
    eventually(5, "the consumer is idle", || consumer_idle(&e.js)).await;
    w.stop().await;
}

#[tokio::test]
async fn a_test_notification_is_acknowledged_and_changes_nothing() {
    let e = env().await;
    let dir = tempfile::tempdir().unwrap();
    let c = config(
        dir.path(),
        &e.server.url(),
        "http://127.0.0.1:9/mdm/v2/",
        &token_text(300),
    );
    let w = start_worker(&c, &e.server.url()).await;
    publish(
        &e.js,
        &Notification::Test(PlainData {
            meta: meta("t-1", "TEST_NOTIFICATION"),
            raw: serde_json::json!({}),
        }),
    )
    .await;
    eventually(10, "the test notification is acknowledged", || {
        consumer_idle(&e.js)
    })
    .await;
    assert_eq!(count(&e.js, "VPP_CHANGES").await, 0);
    assert_eq!(count(&e.js, "VPP_DLQ").await, 0);
    w.stop().await;
}

fn associate(id: &str, pairs: &[(&str, &str)]) -> Notification {
    Notification::AssetManagement(AssetManagementData {
        meta: meta(id, "ASSET_MANAGEMENT"),
        event_id: format!("event-{id}"),
        action: Action::Associate,
        result: Outcome::Success,
        assignments: pairs.iter().map(|(a, s)| device(a, s)).collect(),
        error: None,
        raw: serde_json::json!({}),
    })
}

#[tokio::test]
async fn a_paused_location_holds_its_messages_and_resumes_when_told() {
    let e = env().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(
        dir.path(),
        &e.server.url(),
        "http://127.0.0.1:9/mdm/v2/",
        &token_text(300),
    );
    c.worker.max_deliver = 2;
    let view = View::open(&e.js).await.unwrap();
    view.set_state(
        "school.guard",
        &vppbridge::view::state::GuardState {
            paused: true,
            reason: Some("token_expired".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let w = start_worker(&c, &e.server.url()).await;
    publish(&e.js, &associate("n-1", &[("1", "S1")])).await;
    // Held past its last delivery: moved to the stream's end (one copy stored, not two), not
    // dead-lettered, view untouched.
    eventually(10, "the held message is moved", || async {
        let s = e.js.get_stream("VPP_NOTIFICATIONS").await.unwrap();
        s.get_info().await.unwrap().state.last_sequence >= 2
    })
    .await;
    // The copy is published before the original is deleted: 2 for an instant, then 1.
    eventually(10, "the original is deleted", || async {
        count(&e.js, "VPP_NOTIFICATIONS").await == 1
    })
    .await;
    assert_eq!(count(&e.js, "VPP_DLQ").await, 0);
    assert!(
        view.live(Bucket::Assignments, "school")
            .await
            .unwrap()
            .is_empty()
    );
    vppbridge::view::cli::resume_location(&view, "school")
        .await
        .unwrap();
    eventually(10, "the delta is applied once resumed", || async {
        view.live(Bucket::Assignments, "school")
            .await
            .unwrap()
            .len()
            == 1
    })
    .await;
    w.stop().await;
}

#[tokio::test]
async fn a_token_expiring_within_30_days_raises_one_alert_across_restarts() {
    let e = env().await;
    let dir = tempfile::tempdir().unwrap();
    let c = config(
        dir.path(),
        &e.server.url(),
        "http://127.0.0.1:9/mdm/v2/",
        &token_text(10),
    );
    for _ in 0..2 {
        let w = start_worker(&c, &e.server.url()).await;
        eventually(10, "the alert", || async {
            count(&e.js, "VPP_ALERTS").await >= 1
        })
        .await;
        w.stop().await;
    }
    let alerts = stream_json(&e.js, "VPP_ALERTS").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["type"], "vppbridge.alert.token_expiring.v1");
    assert_eq!(alerts[0]["data"]["paused"], false);
    assert!(alerts[0]["data"]["tokenExpiresAt"].is_string());
}

#[tokio::test]
async fn a_token_far_from_expiry_raises_no_alert() {
    let e = env().await;
    let dir = tempfile::tempdir().unwrap();
    let c = config(
        dir.path(),
        &e.server.url(),
        "http://127.0.0.1:9/mdm/v2/",
        &token_text(300),
    );
    let w = start_worker(&c, &e.server.url()).await;
    // The consumer is created after every location opened; by then any alert would be out.
    eventually(10, "the consumer exists", || async {
        let s = e.js.get_stream("VPP_NOTIFICATIONS").await.unwrap();
        s.consumer_info("vppbridge-worker").await.is_ok()
    })
    .await;
    w.stop().await;
    assert_eq!(count(&e.js, "VPP_ALERTS").await, 0);
}

#[tokio::test]
async fn replacing_the_token_file_resumes_a_paused_location_and_status_shows_it() {
    let e = env().await;
    let dir = tempfile::tempdir().unwrap();
    let c = config(
        dir.path(),
        &e.server.url(),
        "http://127.0.0.1:9/mdm/v2/",
        &token_text(300),
    );
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
    let status = vppbridge::status::read_status(&e.js, &view, &c)
        .await
        .unwrap();
    assert_eq!(
        status.locations[0].paused_reason.as_deref(),
        Some("token_revoked")
    );
    let w = start_worker(&c, &e.server.url()).await;
    // Give the worker its first look at the file before replacing it.
    eventually(10, "the consumer exists", || async {
        let s = e.js.get_stream("VPP_NOTIFICATIONS").await.unwrap();
        s.consumer_info("vppbridge-worker").await.is_ok()
    })
    .await;
    let file = &c.locations[0].token_file;
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::write(file, token_text(200)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    eventually(10, "the location resumes", || async {
        let s = vppbridge::status::read_status(&e.js, &view, &c)
            .await
            .unwrap();
        s.locations[0].paused_reason.is_none()
    })
    .await;
    w.stop().await;
}
