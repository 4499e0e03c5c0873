//! Hostile bodies and headers: each rejected with its status, nothing published, and the process
//! still serving afterwards (healthz 200, a valid notification stored once, the view still
//! Apple's truth).

mod corpus;
mod raw;

use std::time::Duration;

use serde_json::{Value, json};
use vppbridge_sim::Faults;

use super::support::{
    Bridge, LOCATION, LoadOptions, SECRET, apple, assert_stored_exactly_once,
    assert_view_matches_truth, bridge_config, deliver, eventually, stored_ids, test_note,
};
use crate::support::nats;
use corpus::{asset_count, malformed, wrong_types};
use raw::{raw_status, stream_huge_body};

#[tokio::test]
async fn hostile_bodies_and_headers_are_rejected_nothing_is_published_and_the_process_keeps_serving()
 {
    let nats = nats().await;
    let apple = apple(Faults::default()).await;
    let u_id = apple.location.u_id.clone();
    let u_id = u_id.as_str();
    let dir = tempfile::tempdir().unwrap();
    let mut config = bridge_config(&nats.url(), dir.path());
    apple.configure(&mut config);
    let mut bridge = Bridge::start(&config, dir.path(), &[]).await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    // What `register` records: from now on a notification for another library gets 422.
    vppbridge::nats::state::write_uid(&js, LOCATION, u_id)
        .await
        .unwrap();
    let addr = bridge.base.trim_start_matches("http://").to_owned();
    let url = bridge.notification_url();
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        http.post(&url)
            .bearer_auth(SECRET)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let mut other_library = asset_count(u_id);
    other_library["uId"] = json!("111111111111111111");
    let other_library = serde_json::to_vec(&other_library).unwrap();
    eventually(
        Duration::from_secs(15),
        "the recorded uId in force",
        || async { (post(other_library.clone()).await.unwrap().status() == 422).then_some(()) },
    )
    .await;

    for (name, body, field) in wrong_types(u_id) {
        let r = post(body).await.unwrap();
        assert_eq!(r.status(), 400, "{name}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{name}"
        );
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["field"], field.as_str(), "{name}: {problem}");
    }
    for (name, body) in malformed(u_id) {
        let r = post(body).await.unwrap();
        assert_eq!(r.status(), 400, "{name}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{name}"
        );
    }

    let (status, sent) = stream_huge_body(&addr).await;
    assert_eq!(status, 413, "a 100 MB chunked body");
    assert!(
        sent < 32 * 1024 * 1024,
        "the server read {sent} bytes of a 100 MB body before answering"
    );
    let declared = format!(
        "POST /notifications/{LOCATION} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{{"
    );
    assert_eq!(
        raw_status(&addr, declared.as_bytes()).await,
        413,
        "a declared 100 MB body, not sent"
    );

    let valid = serde_json::to_vec(&asset_count(u_id)).unwrap();
    let head = |extra: &str| {
        let mut req = format!(
            "POST /notifications/{LOCATION} HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            valid.len()
        )
        .into_bytes();
        req.extend_from_slice(&valid);
        req
    };
    // A smuggled line never authenticates: either the request is refused as malformed (400) or
    // the smuggled text is a header of its own and the Authorization header stays wrong (401).
    let header_attacks: [(&str, String, u16); 7] = [
        (
            "a folded Authorization line",
            format!("Authorization: Bearer wrong\r\n {SECRET}\r\n"),
            400,
        ),
        (
            "a bare LF inside Authorization",
            format!("Authorization: Bearer wrong\nX-Injected: {SECRET}\r\n"),
            401,
        ),
        (
            "a second Authorization smuggled after a bare LF",
            format!("Authorization: Bearer wrong\nAuthorization: Bearer {SECRET}\r\n"),
            401,
        ),
        (
            "a NUL inside Authorization",
            format!("Authorization: Bearer {SECRET}\0\r\n"),
            400,
        ),
        (
            "the secret as a Basic credential",
            format!("Authorization: Basic {SECRET}\r\n"),
            401,
        ),
        (
            "the secret with a trailing byte",
            format!("Authorization: Bearer {SECRET}x\r\n"),
            401,
        ),
        ("no Authorization", String::new(), 401),
    ];
    for (name, extra, want) in header_attacks {
        assert_eq!(raw_status(&addr, &head(&extra)).await, want, "{name}");
    }
    let bearer = format!("Authorization: Bearer {SECRET}\r\n");
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        let req = String::from_utf8(head(&bearer))
            .unwrap()
            .replace("application/json", ct);
        assert_eq!(raw_status(&addr, req.as_bytes()).await, 415, "{ct}");
    }
    for location in [
        "school%0d%0aX-Injected:%201",
        "school.%3E",
        "school.*",
        "%2A",
        "..%2Fschool",
        "SCHOOL",
    ] {
        let r = http
            .post(format!("{}/notifications/{location}", bridge.base))
            .bearer_auth(SECRET)
            .header("content-type", "application/json")
            .body(valid.clone())
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == 401 || r.status() == 404,
            "location {location:?}: {}",
            r.status()
        );
    }

    let wrong: Vec<String> = (0..2000)
        .map(|i| match i % 4 {
            0 => format!("{SECRET}{i}"),
            1 => SECRET[..SECRET.len() - 1].to_owned(),
            2 => uuid::Uuid::new_v4().to_string(),
            _ => format!("{}{}", &SECRET[1..], "0"),
        })
        .collect();
    let statuses: Vec<u16> = futures::future::join_all(wrong.chunks(32).map(|chunk| {
        let http = http.clone();
        let url = url.clone();
        let valid = valid.clone();
        let chunk = chunk.to_vec();
        async move {
            let mut out = Vec::new();
            for secret in chunk {
                let r = http
                    .post(&url)
                    .bearer_auth(secret)
                    .header("content-type", "application/json")
                    .body(valid.clone())
                    .send()
                    .await
                    .unwrap();
                out.push(r.status().as_u16());
            }
            out
        }
    }))
    .await
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(statuses.len(), 2000);
    assert!(
        statuses.iter().all(|s| *s == 401),
        "wrong secrets: {:?}",
        statuses.iter().filter(|s| **s != 401).collect::<Vec<_>>()
    );

    assert_eq!(stored_ids(&js).await, Vec::new(), "nothing published");
    bridge.assert_serving().await;
    let report = deliver(
        &url,
        vec![test_note(u_id)],
        LoadOptions {
            tries: 1,
            ..LoadOptions::default()
        },
    )
    .await;
    assert_eq!(report.accepted.len(), 1, "a valid notification afterwards");
    assert_stored_exactly_once(&js, &report).await;
    assert_view_matches_truth(&js, &apple, Duration::from_secs(30)).await;
}
