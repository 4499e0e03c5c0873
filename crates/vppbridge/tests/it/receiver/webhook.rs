//! The webhook end to end: acceptance, de-duplication, rejections, NATS outages, load, rotation.

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use serde_json::{Value, json};
use vppbridge::nats as vnats;

use super::examples::{envelope, every_example};
use super::{OLD_SECRET, SECRET, assert_schema_valid, spawn_app, spawn_app_with};

#[tokio::test]
async fn every_example_and_conformance_notification_is_published_once_with_subject_id_and_valid_data()
 {
    let app = spawn_app().await;
    let examples = every_example();
    for (body, kind, id) in &examples {
        let r = app.post(body).await;
        assert_eq!(r.status(), 200, "{kind} {id}: {}", r.text().await.unwrap());
    }
    let messages = app.messages().await;
    assert_eq!(messages.len(), examples.len());
    for ((body, kind, id), m) in examples.iter().zip(&messages) {
        assert_eq!(
            m.subject.as_str(),
            format!("vpp.notifications.school.{kind}")
        );
        let msg_id = m.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned());
        assert_eq!(msg_id.as_deref(), Some(format!("school:{id}").as_str()));
        let event = assert_schema_valid(&m.payload);
        assert_eq!(event["id"], format!("school:{id}"));
        assert_eq!(event["type"], format!("vppbridge.notification.{kind}.v1"));
        assert_eq!(event["source"], "vppbridge/school");
        let original: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            event["data"]["raw"], original["notification"],
            "{id}: raw unchanged"
        );
        assert_eq!(event["data"]["uId"], original["uId"]);
    }
    app.stop().await;
}

#[tokio::test]
async fn same_notification_posted_three_times_is_stored_once_with_three_200s() {
    let app = spawn_app().await;
    let body = &every_example()[0].0;
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let r = app.post(body).await;
        assert_eq!(r.status(), 200);
        outcomes.push(r.json::<Value>().await.unwrap()["outcome"].clone());
    }
    assert_eq!(
        outcomes,
        [json!("accepted"), json!("duplicate"), json!("duplicate")]
    );
    assert_eq!(app.message_count().await, 1);
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"vppbridge_notifications_total{location="school",type="asset_management",outcome="duplicate"} 2"#),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_rejection_answers_its_status_with_a_problem_and_publishes_nothing() {
    let app = spawn_app_with(|c, _| c.http.max_body_bytes = 4096).await;
    vnats::state::write_uid(&app.js, "school", "981060278089131045")
        .await
        .unwrap();
    let good = &every_example()[0].0; // uId 2049025000431439: not this location's
    let conformance = &every_example()[9].0; // uId 981060278089131045
    let url = format!("{}/notifications/school", app.base);
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "no bearer",
            app.http.post(&url).body(conformance.clone()),
            401,
        ),
        (
            "wrong bearer",
            app.http
                .post(&url)
                .bearer_auth("nope")
                .body(conformance.clone()),
            401,
        ),
        (
            "unknown location",
            app.http
                .post(format!("{}/notifications/elsewhere", app.base))
                .bearer_auth(SECRET)
                .body(conformance.clone()),
            401,
        ),
        (
            "xml",
            app.http
                .post(&url)
                .bearer_auth(SECRET)
                .header("content-type", "application/xml")
                .body(conformance.clone()),
            415,
        ),
        (
            "too large",
            app.http
                .post(&url)
                .bearer_auth(SECRET)
                .body(vec![b' '; 5000]),
            413,
        ),
        (
            "malformed",
            app.http
                .post(&url)
                .bearer_auth(SECRET)
                .body("{\"notificationId\":"),
            400,
        ),
        (
            "missing field",
            app.http
                .post(&url)
                .bearer_auth(SECRET)
                .body(r#"{"notificationId":"x","uId":"981060278089131045","notification":{}}"#),
            400,
        ),
        (
            "other library",
            app.http.post(&url).bearer_auth(SECRET).body(good.clone()),
            422,
        ),
    ];
    for (what, req, status) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{what}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["status"], status, "{what}: {problem}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:vppbridge:problem:"),
            "{what}"
        );
    }
    assert_eq!(
        app.message_count().await,
        0,
        "no rejected request is published"
    );
    // The location's own library is accepted once its uId is known.
    assert_eq!(app.post(conformance).await.status(), 200);
    assert_eq!(app.message_count().await, 1);
    app.stop().await;
}

#[tokio::test]
async fn nats_stopped_gives_503_with_retry_after_and_restarted_gives_200_without_restarting_vppbridge()
 {
    let mut app = spawn_app().await;
    let examples = every_example();
    assert_eq!(app.post(&examples[0].0).await.status(), 200);
    app.nats.kill().await;
    let r = app.post(&examples[1].0).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(
        app.http
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    app.nats.restart().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = app.post(&examples[1].0).await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "only 503 while NATS comes back");
        assert!(
            tokio::time::Instant::now() < deadline,
            "never 200 after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.js = jetstream::new(async_nats::connect(app.nats.url()).await.unwrap());
    let ids: Vec<String> = app
        .messages()
        .await
        .iter()
        .map(|m| m.headers.get("Nats-Msg-Id").unwrap().as_str().to_owned())
        .collect();
    assert_eq!(
        ids,
        [
            format!("school:{}", examples[0].2),
            format!("school:{}", examples[1].2)
        ]
    );
    app.stop().await;
}

/// Concurrent posts the fd limit allows (each needs a client and a server socket), at most 1,000.
fn concurrency() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(3)
                        .and_then(|n| n.parse::<usize>().ok())
                })
        })
        .unwrap_or(1024);
    1000.min(soft.saturating_sub(200) / 2).max(1)
}

#[tokio::test]
async fn a_thousand_concurrent_posts_give_a_thousand_messages_none_lost_or_doubled() {
    let app = spawn_app().await;
    let n = 1000;
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            envelope(
                &format!("bulk-{i}"),
                "ASSET_COUNT",
                json!({"adamId": "1", "countDelta": i}),
            )
        })
        .collect();
    let statuses: Vec<u16> = futures::stream::iter(bodies.iter())
        .map(|b| async { app.post(b).await.status().as_u16() })
        .buffer_unordered(concurrency())
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let ids: Vec<String> = app
        .messages()
        .await
        .iter()
        .map(|m| m.headers.get("Nats-Msg-Id").unwrap().as_str().to_owned())
        .collect();
    assert_eq!(ids.len(), n);
    let unique: BTreeSet<&String> = ids.iter().collect();
    let expected: BTreeSet<String> = (0..n).map(|i| format!("school:bulk-{i}")).collect();
    assert_eq!(unique.len(), n, "no message twice");
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    app.stop().await;
}

#[tokio::test]
async fn secret_rotation_accepts_the_old_and_the_new_secret() {
    let app = spawn_app_with(|c, dir| {
        let old = dir.join("school.old.secret");
        std::fs::write(&old, OLD_SECRET).unwrap();
        c.locations[0].previous_notification_secret_file = Some(old);
    })
    .await;
    let examples = every_example();
    assert_eq!(
        app.post_as("school", Some(SECRET), &examples[0].0)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_as("school", Some(OLD_SECRET), &examples[2].0)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_as("school", Some("older-still"), &examples[3].0)
            .await
            .status(),
        401
    );
    assert_eq!(app.message_count().await, 2);
    app.stop().await;
}
