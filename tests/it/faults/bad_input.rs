//! Hostile bodies and headers: each rejected with its status, nothing published, and the process
//! still serving afterwards (healthz 200, a valid notification stored once, the view still
//! Apple's truth).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use vppbridge::simulator::Faults;

use super::support::{
    Bridge, LOCATION, LoadOptions, SECRET, apple, assert_stored_exactly_once,
    assert_view_matches_truth, bridge_config, deliver, eventually, stored_ids, test_note,
};
use crate::support::nats;

/// A valid ASSET_MANAGEMENT envelope, the base every wrong-type variant starts from.
fn asset_management(u_id: &str) -> Value {
    json!({
        "notificationId": "6e6e51b1-9e2f-42b1-affa-cddac94c8ebc",
        "notificationType": "ASSET_MANAGEMENT",
        "uId": u_id,
        "notification": {
            "type": "ASSOCIATE",
            "result": "SUCCESS",
            "eventId": "1451d195-7818-44cc-844e-efd2557084c4",
            "assignments": [
                {"adamId": "409203825", "pricingParam": "STDQ", "serialNumber": "C02000000000"}
            ]
        }
    })
}

fn asset_count(u_id: &str) -> Value {
    json!({
        "notificationId": "0b8e1c8f-4d8e-4a0e-9a55-2f3c4c7a1b11",
        "notificationType": "ASSET_COUNT",
        "uId": u_id,
        "notification": {"adamId": "409203825", "pricingParam": "STDQ", "countDelta": 5}
    })
}

fn user_management(u_id: &str) -> Value {
    json!({
        "notificationId": "7a6f2c10-9f6e-4c57-8c1d-3f3b2a9e0d22",
        "notificationType": "USER_MANAGEMENT",
        "uId": u_id,
        "notification": {
            "type": "CREATE",
            "result": "SUCCESS",
            "eventId": "5c0d7b4e-4c8d-4f4b-8a2e-6b3f1e2d9c33",
            "users": [{"clientUserId": "user-000001", "userId": "2131234", "status": "Registered"}]
        }
    })
}

/// Sets the value at a dotted path (`notification.assignments[0].adamId`).
fn replaced(mut body: Value, path: &str, with: Value) -> Value {
    let mut slot = &mut body;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, i)) => (k, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        slot = &mut slot[key];
        if let Some(i) = index {
            slot = &mut slot[i];
        }
    }
    *slot = with;
    body
}

/// Builds a valid body.
type Base = fn(&str) -> Value;

/// Every field of the three payloads with the values of the wrong type for it: 400 naming it.
fn wrong_types(u_id: &str) -> Vec<(String, Vec<u8>, String)> {
    let not_string = || vec![json!(null), json!(true), json!(12), json!([]), json!({})];
    let not_adam_id = || {
        vec![
            json!(null),
            json!(true),
            json!(-1),
            json!(1.5),
            json!([]),
            json!({}),
        ]
    };
    let not_object = || vec![json!(null), json!(true), json!(12), json!("x"), json!([])];
    // `assignments` and `users` may be left out, and null reads as left out.
    let not_array = || vec![json!(true), json!(12), json!("x"), json!({})];
    let not_integer = || {
        vec![
            json!(null),
            json!(true),
            json!(1.5),
            json!("5"),
            json!([]),
            json!({}),
        ]
    };
    let cases: Vec<(Base, &str, Vec<Value>)> = vec![
        (asset_management, "notificationId", not_string()),
        (asset_management, "notificationType", not_string()),
        (asset_management, "uId", not_string()),
        (asset_management, "notification", not_object()),
        (asset_management, "notification.type", not_string()),
        (asset_management, "notification.result", not_string()),
        (asset_management, "notification.eventId", not_string()),
        (asset_management, "notification.assignments", not_array()),
        (
            asset_management,
            "notification.assignments[0]",
            not_object(),
        ),
        (
            asset_management,
            "notification.assignments[0].adamId",
            not_adam_id(),
        ),
        (
            asset_management,
            "notification.assignments[0].pricingParam",
            vec![json!(true), json!(12), json!([]), json!({})],
        ),
        (
            asset_management,
            "notification.assignments[0].serialNumber",
            vec![json!(true), json!(12), json!([]), json!({})],
        ),
        (asset_count, "notification.adamId", not_adam_id()),
        (asset_count, "notification.countDelta", not_integer()),
        (user_management, "notification.type", not_string()),
        (user_management, "notification.users", not_array()),
        (user_management, "notification.users[0]", not_object()),
        (
            user_management,
            "notification.users[0].clientUserId",
            not_string(),
        ),
    ];
    let mut out = Vec::new();
    for (base, path, values) in cases {
        for v in values {
            let name = format!("{path} = {v}");
            let body = serde_json::to_vec(&replaced(base(u_id), path, v)).unwrap();
            out.push((name, body, path.to_owned()));
        }
    }
    out
}

/// Hostile bodies that must get 400 (the structural ones name no field).
fn malformed(u_id: &str) -> Vec<(&'static str, Vec<u8>)> {
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut deep_inside = asset_management(u_id);
    let mut nested = json!(1);
    for _ in 0..40 {
        nested = json!({ "x": nested });
    }
    deep_inside["notification"]["extra"] = nested;
    let mut bad_utf8 = serde_json::to_vec(&asset_management(u_id)).unwrap();
    let at = bad_utf8
        .windows(4)
        .position(|w| w == b"6e6e")
        .expect("the id is in the body");
    bad_utf8.splice(at..at + 2, [0xC3, 0x28]);
    let mut bad_key = serde_json::to_vec(&asset_count(u_id)).unwrap();
    let at = bad_key.windows(5).position(|w| w == b"count").unwrap();
    bad_key.splice(at..at + 1, [0xFF]);
    let envelope = |notification: &str| {
        format!(
            r#"{{"notificationId":"n-1","notificationType":"ASSET_COUNT","uId":"{u_id}","notification":{notification}}}"#
        )
        .into_bytes()
    };
    vec![
        ("100,000 nested arrays", deep_array.into_bytes()),
        (
            "40 nested objects inside the notification",
            serde_json::to_vec(&deep_inside).unwrap(),
        ),
        ("invalid UTF-8 in a string", bad_utf8),
        ("invalid UTF-8 in a key", bad_key),
        (
            "duplicate top-level notificationId",
            format!(r#"{{"notificationId":"a","notificationId":"b","notificationType":"TEST_NOTIFICATION","uId":"{u_id}","notification":{{}}}}"#).into_bytes(),
        ),
        (
            "duplicate key inside an assignment",
            format!(r#"{{"notificationId":"a","notificationType":"ASSET_MANAGEMENT","uId":"{u_id}","notification":{{"type":"ASSOCIATE","result":"SUCCESS","eventId":"e","assignments":[{{"adamId":"1","adamId":"2","pricingParam":"STDQ","serialNumber":"S"}}]}}}}"#).into_bytes(),
        ),
        (
            "adamId beyond u64",
            envelope(r#"{"adamId":123456789012345678901234567890,"pricingParam":"STDQ","countDelta":1}"#),
        ),
        (
            "countDelta beyond i64",
            envelope(r#"{"adamId":"1","pricingParam":"STDQ","countDelta":99999999999999999999}"#),
        ),
        (
            "countDelta 1e400",
            envelope(r#"{"adamId":"1","pricingParam":"STDQ","countDelta":1e400}"#),
        ),
        (
            "notificationId carrying a header",
            format!("{{\"notificationId\":\"a\\r\\nNats-Msg-Id: school:b\",\"notificationType\":\"TEST_NOTIFICATION\",\"uId\":\"{u_id}\",\"notification\":{{}}}}").into_bytes(),
        ),
        (
            "notificationId of 10,000 characters",
            format!(r#"{{"notificationId":"{}","notificationType":"TEST_NOTIFICATION","uId":"{u_id}","notification":{{}}}}"#, "x".repeat(10_000)).into_bytes(),
        ),
        ("empty body", Vec::new()),
        ("a JSON string", br#""notification""#.to_vec()),
        ("two JSON objects", b"{}{}".to_vec()),
        ("truncated JSON", br#"{"notificationId":"a","notif"#.to_vec()),
    ]
}

/// Sends raw bytes on a new connection and returns the response's status code (0 when the
/// connection closed without a status line).
async fn raw_status(addr: &str, request: &[u8]) -> u16 {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(2).any(|w| w == b"\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    status_of(&got)
}

fn status_of(response: &[u8]) -> u16 {
    String::from_utf8_lossy(response)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Streams up to 100 MB as a chunked body while watching for the response; returns the status
/// and how many body bytes the socket took before the server answered and stopped reading.
async fn stream_huge_body(addr: &str) -> (u16, usize) {
    const TOTAL: usize = 100 * 1024 * 1024;
    let socket = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = socket.into_split();
    let head = format!(
        "POST /notifications/{LOCATION} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        let chunk = vec![b' '; 64 * 1024];
        let framed = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk,
            b"\r\n".to_vec(),
        ]
        .concat();
        let mut sent = 0usize;
        while sent < TOTAL {
            if wr.write_all(&framed).await.is_err() {
                break;
            }
            sent += 64 * 1024;
        }
        sent
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(20), rd.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) | Err(_) => break status_of(&got),
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(2).any(|w| w == b"\r\n") {
                    break status_of(&got);
                }
            }
        }
    };
    drop(rd);
    // Once the server has answered and closed, the writer fails within the socket buffers.
    let sent = tokio::time::timeout(Duration::from_secs(20), writer)
        .await
        .expect("the writer stops once the server has closed")
        .unwrap();
    (status, sent)
}

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
