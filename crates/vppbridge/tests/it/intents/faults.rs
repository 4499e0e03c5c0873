//! The converger against the simulator's faults: every notification lost, a request left
//! PENDING past `resend_after_secs`, and a partial failure inside one event.

use std::collections::BTreeSet;
use std::time::Duration;

use vppbridge::events::intents::IntentState;
use vppbridge::intents::store::Store;

use super::*;

/// The distinct `eventId`s of the Event Status reads in the log.
fn polled_events(log: &[Logged]) -> BTreeSet<String> {
    log.iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/status"))
        .filter_map(|r| r.query.clone())
        .collect()
}

#[tokio::test]
async fn with_every_notification_dropped_every_intent_is_applied_through_event_status() {
    let h = intents_harness(seed(5, 200, None)).await;
    let apps = h.apps().await;
    let worker = h.worker().await;
    h.synced().await;
    let store = Store::open(&h.env.js).await.unwrap();
    h.faults(serde_json::json!({"dropRate": 1.0})).await;
    h.clear_requests().await;

    let file = intent_file(&h, "lost.jsonl", &apps, 1..201);
    desire(&h, "assign", &file).await;
    let total = apps.len() * 200;
    eventually(60, "every intent applied", || async {
        by_state(&rows(&store).await).get(&IntentState::Applied) == Some(&total)
    })
    .await;
    let log = h.requests().await;
    assert_eq!(posts(&log, "associate"), 1, "one associate for the file");
    assert_eq!(
        polled_events(&log).len(),
        1,
        "the outcome came from Event Status"
    );
    assert!(
        rows(&store).await.iter().all(|r| r.event_id.is_some()),
        "every intent names Apple's eventId"
    );
    assert_eq!(h.truth().await.assignments.len(), total);
    // The view (and its assignment.added events) caught up with Apple without notifications.
    h.converged(30).await;
    h.each_added_once(total).await;
    let events = intent_events(&h).await;
    let applied = events
        .iter()
        .filter(|(t, _)| t == "vppbridge.intent.applied.v1")
        .count();
    assert_eq!(applied, total, "one applied event per intent");
    worker.stop().await;
}

#[tokio::test]
async fn a_request_left_pending_past_resend_after_is_sent_again_exactly_once() {
    // Apple keeps each write PENDING for 4 s; vppbridge resends after 2 s.
    let h = intents_harness_with(
        seed(5, 20, None),
        |s| s.event_delay = Duration::from_secs(4),
        |c| c.intents.resend_after_secs = 2,
    )
    .await;
    let app = h.apps().await.remove(0);
    let worker = h.worker().await;
    h.synced().await;
    let store = Store::open(&h.env.js).await.unwrap();
    h.faults(serde_json::json!({"dropRate": 1.0})).await;
    h.clear_requests().await;

    let file = intent_file(&h, "slow.jsonl", std::slice::from_ref(&app), 1..21);
    desire(&h, "assign", &file).await;
    eventually(60, "every intent applied", || async {
        by_state(&rows(&store).await).get(&IntentState::Applied) == Some(&20)
    })
    .await;
    let log = h.requests().await;
    // The resent request stayed PENDING past resend_after_secs too, and was not sent a third
    // time.
    assert_eq!(posts(&log, "associate"), 2, "sent, then sent again once");
    assert_eq!(polled_events(&log).len(), 2, "both eventIds polled");
    let first_post = log.iter().position(|r| r.method == "POST").expect("a POST");
    let resend = log.iter().rposition(|r| r.method == "POST").unwrap();
    assert!(
        log[first_post..resend]
            .iter()
            .any(|r| r.path.ends_with("/status")),
        "Event Status said PENDING before the resend"
    );
    assert_eq!(h.truth().await.assignments.len(), 20);
    worker.stop().await;
}

/// Eight serials on an App with five licenses (three fail with 9709) and five users on a Book,
/// two of them unknown to Apple (9609), in one file: exactly those intents end `waiting` and
/// `failed`, the rest `applied`. Returns the simulator's request log.
async fn partial_failure(h: &Harness) -> Vec<Logged> {
    let app = h.apps().await.remove(0);
    let book = h
        .truth()
        .await
        .assets
        .into_iter()
        .find(|a| !a.device_assignable)
        .expect("the seed has a Book");
    let worker = h.worker().await;
    h.synced().await;
    let store = Store::open(&h.env.js).await.unwrap();
    h.clear_requests().await;

    let mut text = String::new();
    for i in 1..=8 {
        let line = serde_json::json!({"adamId": app.adam_id.0, "pricingParam": app.pricing_param, "serialNumber": serial(i)});
        text.push_str(&format!("{line}\n"));
    }
    let users = [
        "user-000001",
        "user-000002",
        "user-000003",
        "nobody-1",
        "nobody-2",
    ];
    for u in users {
        let line = serde_json::json!({"adamId": book.adam_id.0, "pricingParam": book.pricing_param, "clientUserId": u});
        text.push_str(&format!("{line}\n"));
    }
    let path = h.dir.path().join("partial.jsonl");
    std::fs::write(&path, text).unwrap();
    desire(h, "assign", &path).await;
    eventually(60, "every intent settled", || async {
        let s = by_state(&rows(&store).await);
        s.get(&IntentState::Applied) == Some(&8)
            && s.get(&IntentState::Waiting) == Some(&3)
            && s.get(&IntentState::Failed) == Some(&2)
    })
    .await;
    let log = h.requests().await;
    assert_eq!(
        posts(&log, "associate"),
        2,
        "one request for the serials, one for the users"
    );
    let truth: BTreeSet<(String, String)> = h
        .truth()
        .await
        .assignments
        .iter()
        .map(|a| {
            let t = a.serial_number.clone().or(a.client_user_id.clone());
            (a.adam_id.0.clone(), t.unwrap_or_default())
        })
        .collect();
    assert_eq!(truth.len(), 8);
    for r in rows(&store).await {
        let target = r
            .serial_number
            .clone()
            .or(r.client_user_id.clone())
            .unwrap();
        let held = truth.contains(&(r.adam_id.clone(), target.clone()));
        let expected = match (held, target.starts_with("nobody")) {
            (true, _) => (IntentState::Applied, None),
            (false, true) => (IntentState::Failed, Some(9609)),
            (false, false) => (IntentState::Waiting, Some(9709)),
        };
        assert_eq!(
            (r.state, r.error_number),
            expected,
            "{target} on {}",
            r.adam_id
        );
        assert!(r.event_id.is_some(), "{target}: Apple's eventId");
    }
    worker.stop().await;
    log
}

#[tokio::test]
async fn a_partial_failure_heard_in_notifications_marks_exactly_the_failing_pairs() {
    // Event Status only after Apple's 5 minutes: the notifications alone settle the intents.
    let h = intents_harness_with(
        seed(5, 10, Some(5)),
        |_| {},
        |c| c.intents.status_poll_after_secs = 300,
    )
    .await;
    h.faults(serde_json::json!({"duplicateRate": 0.5, "reorderRate": 0.5}))
        .await;
    let log = partial_failure(&h).await;
    assert!(
        polled_events(&log).is_empty(),
        "settled without Event Status"
    );
}

#[tokio::test]
async fn a_partial_failure_read_from_event_status_marks_exactly_the_failing_pairs() {
    let h = intents_harness(seed(5, 10, Some(5))).await;
    h.faults(serde_json::json!({"dropRate": 1.0})).await;
    let log = partial_failure(&h).await;
    assert_eq!(polled_events(&log).len(), 2, "both events polled");
}

#[tokio::test]
async fn an_events_notifications_split_at_100_are_summed_by_event_id() {
    // 250 serials on an App with 150 licenses: 100 + 50 successes and 100 failures (9709), in
    // three pieces of one event.
    let h = intents_harness_with(
        seed(5, 250, Some(150)),
        |_| {},
        |c| c.intents.status_poll_after_secs = 300,
    )
    .await;
    let app = h.apps().await.remove(0);
    let worker = h.worker().await;
    h.synced().await;
    let store = Store::open(&h.env.js).await.unwrap();
    h.clear_requests().await;
    let file = intent_file(&h, "split.jsonl", std::slice::from_ref(&app), 1..251);
    desire(&h, "assign", &file).await;
    eventually(60, "150 applied and 100 waiting", || async {
        let s = by_state(&rows(&store).await);
        s.get(&IntentState::Applied) == Some(&150) && s.get(&IntentState::Waiting) == Some(&100)
    })
    .await;
    let log = h.requests().await;
    assert!(
        polled_events(&log).is_empty(),
        "settled without Event Status"
    );
    assert_eq!(posts(&log, "associate"), 1);
    worker.stop().await;
}

#[tokio::test]
async fn a_5xx_storm_is_retried_with_growing_delays_then_failed() {
    // Three attempts, 1 s then 2 s apart; the client makes two tries of each.
    let h = intents_harness_with(
        seed(5, 10, None),
        |_| {},
        |c| {
            c.intents.max_attempts = 3;
            c.intents.retry_base_delay_secs = 1;
            c.intents.retry_max_delay_secs = 2;
        },
    )
    .await;
    let app = h.apps().await.remove(0);
    let worker = h.worker().await;
    h.synced().await;
    let store = Store::open(&h.env.js).await.unwrap();
    h.faults(serde_json::json!({"error500Rate": 1.0})).await;
    h.clear_requests().await;

    let file = intent_file(&h, "storm.jsonl", std::slice::from_ref(&app), 1..6);
    desire(&h, "assign", &file).await;
    eventually(60, "every intent failed", || async {
        let rows = rows(&store).await;
        rows.len() == 5
            && rows
                .iter()
                .all(|r| r.state == IntentState::Failed && r.error_number == Some(9603))
    })
    .await;
    let log = h.requests().await;
    let at: Vec<f64> = log
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("assets/associate"))
        .map(|r| r.at_ms)
        .collect();
    assert_eq!(at.len(), 3 * 2, "three attempts of two tries each: {at:?}");
    assert!(
        at[5] - at[0] >= 3000.0,
        "the attempts waited 1 s, then 2 s: {at:?}"
    );
    worker.stop().await;
}
