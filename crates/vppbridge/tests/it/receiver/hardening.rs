//! The receiver under attack (the hardening issue's defects 2, 3, 6 and 8): idle and slow
//! connections, NATS stopped, floods of wrong secrets, crafted locations. Every loop is bounded
//! and talks only to 127.0.0.1.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::child::{Receiver, own_descriptor_limit};
use super::examples::envelope;
use super::{SECRET, spawn_app_with};

fn count_body(id: &str) -> Vec<u8> {
    envelope(id, "ASSET_COUNT", json!({"adamId": "1", "countDelta": 1}))
}

/// Defect 2: 2,000 connections that never send a header and 300 authenticated requests whose
/// body stalls do not stop valid notifications, even with only 64 request permits; then the
/// server closes the idle ones and answers the slow ones 408.
///
/// Sized to this process's own descriptor limit: each attacking connection costs the test one
/// descriptor (the server, a child process, has its own table), and 500 are kept for the rest.
#[tokio::test]
async fn idle_and_slow_connections_do_not_stop_valid_notifications() {
    let room = own_descriptor_limit().saturating_sub(500);
    let idle_n = 2000.min(room * 6 / 7);
    let slow_n = 300.min(room / 7);
    println!("descriptor room {room}: {idle_n} idle + {slow_n} slow connections");
    let rx = Receiver::start("text", |c| {
        // Long enough that a loaded machine accepts every attacking connection and posts the
        // valid notifications before the first attacker is timed out.
        c.http.header_read_timeout_secs = 30;
        c.http.body_timeout_secs = 30;
        c.http.max_concurrent_requests = 64;
        c.http.publish_timeout_secs = 2;
    })
    .await;
    let rss_before = rx.rss_kib();
    let mut idle = Vec::with_capacity(idle_n);
    for _ in 0..idle_n {
        let mut s = TcpStream::connect(rx.addr).await.unwrap();
        s.write_all(b"POST /notifications/school HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        idle.push(s);
    }
    let head = format!(
        "POST /notifications/school HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"notificationId\":"
    );
    let mut slow = Vec::with_capacity(slow_n);
    for _ in 0..slow_n {
        let mut s = TcpStream::connect(rx.addr).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        slow.push(s);
    }
    let opened = Instant::now();
    let want = (idle_n + slow_n) as f64;
    // A connection the kernel queued beyond the listen backlog may take seconds to be accepted.
    let deadline = opened + Duration::from_secs(20);
    while rx.metric("vppbridge_http_connections_open").await < want {
        assert!(Instant::now() < deadline, "the server never held them all");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let (status, took) = rx.post(SECRET, count_body(&format!("valid-{i}"))).await;
        assert_eq!(status, 200, "valid notification {i} while under attack");
        slowest = slowest.max(took);
    }
    let rss_during = rx.rss_kib();
    assert!(
        rx.metric("vppbridge_http_connections_open").await >= want,
        "the valid notifications were answered while every attacking connection was open"
    );
    println!(
        "20 valid notifications under {idle_n} idle + {slow_n} slow connections: all 200, slowest {slowest:?}; RSS {rss_before} KiB before, {rss_during} KiB during"
    );
    // The slow bodies get 408 at their deadline; the idle connections are closed.
    for mut s in slow {
        let mut buf = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(45), s.read(&mut buf))
            .await
            .expect("answered within the body deadline")
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    }
    for mut s in idle {
        let mut buf = [0u8; 512];
        let closed = tokio::time::timeout(Duration::from_secs(45), s.read(&mut buf))
            .await
            .expect("closed within the header read timeout");
        assert!(
            !matches!(closed, Ok(n) if n > 0 && !buf.starts_with(b"HTTP/1.1 408")),
            "an idle connection gets nothing but its close"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while rx.metric("vppbridge_http_connections_open").await > 1.0 {
        assert!(Instant::now() < deadline, "connections left open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("RSS after the attack: {} KiB", rx.rss_kib());
}

/// Defect 2, the cap: connections beyond `max_connections` are closed at once and counted;
/// once the attackers are gone the receiver serves again.
#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once_and_the_server_recovers() {
    let rx = Receiver::start("text", |c| {
        c.http.max_connections = 40;
        c.http.header_read_timeout_secs = 30;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..40 {
        held.push(TcpStream::connect(rx.addr).await.unwrap());
    }
    let mut refused = 0;
    for _ in 0..20 {
        let mut s = TcpStream::connect(rx.addr).await.unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("an excess connection is closed at once");
        if matches!(n, Ok(0) | Err(_)) {
            refused += 1;
        }
    }
    assert_eq!(refused, 20, "every connection over the cap is closed");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = rx.http.get(format!("{}/healthz", rx.base)).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "the server never served again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(rx.metric("vppbridge_http_connections_refused_total").await >= 20.0);
    assert_eq!(rx.post(SECRET, count_body("after")).await.0, 200);
}

/// Defect 3: with NATS stopped (and the client aware of it), 16 senders × 10 requests are each
/// answered 503 with Retry-After before the publish timeout.
#[tokio::test]
async fn with_nats_stopped_every_request_is_answered_503_before_the_publish_timeout() {
    let mut app = spawn_app_with(|c, _| c.http.publish_timeout_secs = 2).await;
    let deadline_each = Duration::from_secs(2);
    app.nats.kill().await;
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let r = app.http.get(format!("{}/readyz", app.base)).send().await;
        if r.is_ok_and(|r| r.status() == 503) {
            break;
        }
        assert!(Instant::now() < until, "/readyz never said NATS is gone");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let app = &app;
    let answers: Vec<(u16, Option<String>, Duration)> = futures::stream::iter(0..160)
        .map(|i| async move {
            let started = Instant::now();
            let r = app.post(&count_body(&format!("down-{i}"))).await;
            let after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), after, started.elapsed())
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let slowest = answers.iter().map(|a| a.2).max().unwrap();
    for (status, after, took) in &answers {
        assert_eq!(*status, 503);
        assert_eq!(after.as_deref(), Some("3"));
        assert!(*took < deadline_each, "answered after {took:?}");
    }
    println!("160 requests (16 senders) with NATS stopped: all 503, slowest {slowest:?}");
}

/// Defect 6, volume: 5,000 wrong-secret requests are each counted, but logged at most
/// `unauthorized_log_lines_per_sec` a second.
#[tokio::test]
async fn a_flood_of_wrong_secrets_writes_a_bounded_number_of_log_lines() {
    let rx = Receiver::start("text", |c| c.http.unauthorized_log_lines_per_sec = 5).await;
    let started = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(0..5000)
        .map(|i| {
            let rx = &rx;
            async move {
                rx.post("wrong-secret", count_body(&format!("f{i}")))
                    .await
                    .0
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    assert!(statuses.iter().all(|s| *s == 401));
    let counted = rx
        .metric(r#"vppbridge_notifications_total{location="school",type="none",outcome="unauthorized"}"#)
        .await;
    assert_eq!(counted, 5000.0, "the metric counts every one");
    let lines = rx
        .log()
        .lines()
        .filter(|l| l.contains("outcome=\"unauthorized\""))
        .count();
    let bound = 5 * (seconds.ceil() as usize + 1);
    assert!(
        lines >= 1 && lines <= bound,
        "{lines} lines in {seconds:.1} s (bound {bound})"
    );
    println!("5,000 wrong-secret requests in {seconds:.2} s: {lines} log lines, metric 5000");
}

/// Defect 6, content: a location with `%0a` and `%1b` in the URL cannot start a log line of its
/// own or put an escape character into the log, in either format.
#[tokio::test]
async fn a_crafted_location_cannot_forge_a_log_line_in_text_or_json() {
    let crafted = "x%0aFORGED%20level%3dERROR%1b%5b31m";
    let decoded = "x\nFORGED level=ERROR\u{1b}[31m";
    for format in ["text", "json"] {
        let rx = Receiver::start(format, |_| {}).await;
        let r = rx
            .http
            .post(format!("{}/notifications/{crafted}", rx.base))
            .bearer_auth("guess")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !rx.log().contains("unauthorized") {
            assert!(Instant::now() < deadline, "{format}: nothing logged");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let bytes = rx.log_bytes();
        assert!(
            !bytes.contains(&0x1b),
            "{format}: an escape character reached the log"
        );
        let log = rx.log();
        for line in log.lines() {
            assert!(
                !line.starts_with("FORGED"),
                "{format}: forged line {line:?}"
            );
            if format == "json" {
                let v: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line:?}"));
                if v["outcome"] == "unauthorized" {
                    assert_eq!(v["location"], decoded, "the field keeps the exact value");
                }
            }
        }
        if format == "text" {
            assert!(
                log.contains(r#"location="x\nFORGED level=ERROR\u{1b}[31m""#),
                "{log}"
            );
        }
    }
}
