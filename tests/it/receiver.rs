//! The receiver end to end: a real nats-server per test, `vppbridge::app::serve` on port 0, HTTP
//! posts, and assertions on the stream's messages.

mod register;

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use vppbridge::app::{ServeArgs, serve};
use vppbridge::config::{Config, LocationConfig};
use vppbridge::nats::{self as vnats, NOTIFICATIONS_STREAM};

use crate::support::{NatsServer, nats};

pub const SECRET: &str = "current-secret-0123456789";
pub const OLD_SECRET: &str = "previous-secret-9876543210";

/// A running receiver on its own nats-server.
#[allow(dead_code)] // `config` and `dir` serve the register tests
pub struct TestApp {
    pub nats: NatsServer,
    pub base: String,
    pub http: reqwest::Client,
    pub js: jetstream::Context,
    pub config: Config,
    pub dir: tempfile::TempDir,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A configuration with one location `school` whose secret files live in `dir`.
pub fn config_for(nats_url: &str, dir: &std::path::Path) -> Config {
    let secret = dir.join("school.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let token = dir.join("school.vpptoken");
    let mut config = Config::default();
    config.nats.url = nats_url.to_owned();
    config.http.publish_timeout_secs = 2;
    config.http.retry_after_secs = 3;
    config.http.max_concurrent_requests = 2000;
    config.locations = vec![LocationConfig {
        id: "school".into(),
        token_file: token,
        notification_secret_file: secret,
        previous_notification_secret_file: None,
        notification_types: None,
    }];
    config
}

pub async fn spawn_app_with(change: impl FnOnce(&mut Config, &std::path::Path)) -> TestApp {
    let nats = nats().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(&nats.url(), dir.path());
    change(&mut config, dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(serve(
        config.clone(),
        ServeArgs {
            no_worker: true,
            no_receiver: false,
        },
        listener,
        shutdown.clone(),
    ));
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the receiver did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    TestApp {
        nats,
        base,
        http,
        js,
        config,
        dir,
        shutdown,
        handle,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_, _| {}).await
}

impl TestApp {
    pub async fn post_as(
        &self,
        location: &str,
        secret: Option<&str>,
        body: &[u8],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/notifications/{location}", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(s) = secret {
            req = req.bearer_auth(s);
        }
        req.send().await.unwrap()
    }

    pub async fn post(&self, body: &[u8]) -> reqwest::Response {
        self.post_as("school", Some(SECRET), body).await
    }

    /// Every message in the notification stream, in order.
    pub async fn messages(&self) -> Vec<jetstream::message::StreamMessage> {
        let mut stream = self.js.get_stream(NOTIFICATIONS_STREAM).await.unwrap();
        let count = stream.info().await.unwrap().state.messages;
        let mut out = Vec::new();
        for seq in 1..=count {
            out.push(stream.get_raw_message(seq).await.unwrap());
        }
        out
    }

    pub async fn message_count(&self) -> u64 {
        let mut stream = self.js.get_stream(NOTIFICATIONS_STREAM).await.unwrap();
        stream.info().await.unwrap().state.messages
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("serve stops after shutdown")
            .unwrap()
            .expect("serve ends cleanly");
    }
}

/// Checks a published event against its schema from `schemas::all()`.
pub fn assert_schema_valid(payload: &[u8]) -> Value {
    let event: Value = serde_json::from_slice(payload).unwrap();
    let event_type = event["type"].as_str().unwrap().to_owned();
    let file = vppbridge::events::schemas::file_name(&event_type);
    let (_, schema) = vppbridge::events::schemas::all()
        .into_iter()
        .find(|(n, _)| *n == file)
        .unwrap_or_else(|| panic!("no schema for {event_type}"));
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&event)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{event_type} does not match its schema: {errors:?}\n{event}"
    );
    event
}

fn envelope(id: &str, kind: &str, notification: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "notification": notification, "notificationId": id,
        "notificationType": kind, "uId": "2049025000431439"
    }))
    .unwrap()
}

/// apple-api.md §5's example of each type, one unknown type, and the four conformance files:
/// (body, expected kind, notification id).
fn every_example() -> Vec<(Vec<u8>, &'static str, String)> {
    let mut v = vec![
        (
            envelope(
                "01654971-0d81-467a-9e62-bf8e15e8dabd",
                "ASSET_MANAGEMENT",
                json!({
            "assignments": [
                {"adamId": "408709785", "pricingParam": "STDQ", "serialNumber": "C02XXXXXXX"},
                {"adamId": "408709785", "pricingParam": "STDQ", "clientUserId": "client-100"}],
            "eventId": "87cbc650-16cc-4f9e-a833-e622f377a9f7", "result": "SUCCESS", "type": "ASSOCIATE"}),
            ),
            "asset_management",
            "01654971-0d81-467a-9e62-bf8e15e8dabd".to_owned(),
        ),
        (
            envelope(
                "eba66-1bc1-4285-aa0a-7256293c5ca7",
                "ASSET_MANAGEMENT",
                json!({
            "assignments": [{"adamId": "408709785", "pricingParam": "STDQ", "clientUserId": "client-1"}],
            "error": {"errorNumber": 9709, "errorMessage": "There aren't enough assets available to complete this association."},
            "eventId": "f743928c-0000", "result": "FAILURE", "type": "ASSOCIATE"}),
            ),
            "asset_management",
            "eba66-1bc1-4285-aa0a-7256293c5ca7".to_owned(),
        ),
        (
            envelope(
                "n-count",
                "ASSET_COUNT",
                json!({"adamId": "408709785", "countDelta": -12, "pricingParam": "STDQ"}),
            ),
            "asset_count",
            "n-count".to_owned(),
        ),
        (
            envelope(
                "n-users",
                "USER_MANAGEMENT",
                json!({
            "eventId": "e0def1f8-9158-4343-9c52-8dd32da50b9b", "result": "SUCCESS", "type": "CREATE",
            "users": [{"clientUserId": "client-100", "email": "client-100@apple.com",
                       "inviteCode": "f551b37da07146628e8dcbe0111f0364", "status": "Registered"}]}),
            ),
            "user_management",
            "n-users".to_owned(),
        ),
        (
            envelope(
                "n-assoc",
                "USER_ASSOCIATED",
                json!({"associatedUsers": [{"clientUserId": "client-100",
            "email": "client-100@apple.com", "idHash": "leSKk3IaE2vk2KLmv2k3/200D3=",
            "inviteCode": "f551b37d", "status": "Associated"}]}),
            ),
            "user_associated",
            "n-assoc".to_owned(),
        ),
        (
            envelope("n-test", "TEST_NOTIFICATION", json!({})),
            "test_notification",
            "n-test".to_owned(),
        ),
        (
            envelope(
                "n-subcount",
                "SUBSCRIPTION_COUNT",
                json!({"parentAdamId": 54321, "adamId": 12345,
            "counts": {"available": {"renewing": 1, "expiring": 2}, "total": {"renewing": 3, "expiring": 4}}}),
            ),
            "subscription_count",
            "n-subcount".to_owned(),
        ),
        (
            envelope(
                "n-subman",
                "SUBSCRIPTION_MANAGEMENT",
                json!({
            "assignments": [{"adamId": 12345, "clientUserId": "client-1", "renewing": true}],
            "eventId": "ev-sub", "result": "SUCCESS", "type": "ASSOCIATE"}),
            ),
            "subscription_management",
            "n-subman".to_owned(),
        ),
        (
            envelope(
                "n-unlimited",
                "UNLIMITED_ASSET",
                json!({"anything": [1, 2, {"x": null}]}),
            ),
            "unknown",
            "n-unlimited".to_owned(),
        ),
    ];
    for (file, kind) in [
        ("server_token_test_notification.json", "test_notification"),
        ("server_token_asset_count_notification.json", "asset_count"),
        (
            "server_token_associate_success_notification.json",
            "asset_management",
        ),
        (
            "server_token_disassociate_success_notification.json",
            "asset_management",
        ),
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/conformance")
            .join(file);
        let body = std::fs::read(path).unwrap();
        let id = serde_json::from_slice::<Value>(&body).unwrap()["notificationId"]
            .as_str()
            .unwrap()
            .to_owned();
        v.push((body, kind, id));
    }
    v
}

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

use futures::StreamExt;

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

#[tokio::test]
async fn setup_is_idempotent_and_creates_every_stream_and_bucket() {
    let server = nats().await;
    let js = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let mut cfg = Config::default().nats;
    cfg.duplicate_window_secs = 60; // below the floor: raised to 20 min
    vnats::setup(&js, &cfg).await.unwrap();
    vnats::setup(&js, &cfg).await.unwrap();
    for name in vnats::STREAMS {
        let info = js
            .get_stream(name)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .clone();
        assert!(
            info.config.duplicate_window >= vnats::MIN_DUPLICATE_WINDOW,
            "{name}"
        );
        assert_eq!(info.config.num_replicas, 1, "{name}");
    }
    let info = js
        .get_stream(NOTIFICATIONS_STREAM)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.config.subjects, ["vpp.notifications.>"]);
    assert_eq!(info.config.max_age, Duration::from_secs(7 * 24 * 3600));
    for name in vnats::BUCKETS {
        js.get_key_value(name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test]
async fn setup_reports_a_server_without_jetstream_clearly() {
    let binary = vppbridge::natsproc::find_binary().unwrap();
    let port = vppbridge::natsproc::free_port().unwrap();
    let _child = tokio::process::Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("nats://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let client = loop {
        if let Ok(c) = async_nats::connect(&url).await {
            break c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "plain nats-server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let err = vnats::setup(&jetstream::new(client), &Config::default().nats)
        .await
        .unwrap_err();
    assert!(matches!(err, vnats::SetupError::NoJetStream(_)), "{err}");
    assert!(err.to_string().contains("-js"), "{err}");
}

/// Slow (about 10 s: a JetStream cluster elects its meta leader before it answers).
#[tokio::test]
async fn setup_creates_three_replica_streams_and_buckets_on_a_three_node_cluster() {
    use vppbridge::natsproc::{NatsOptions, free_port};
    let cluster_ports: Vec<u16> = (0..3).map(|_| free_port().unwrap()).collect();
    let routes = cluster_ports
        .iter()
        .map(|p| format!("nats://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let node = |i: usize| NatsOptions {
        extra_args: vec![
            "--server_name".into(),
            format!("n{i}"),
            "--cluster_name".into(),
            "vpp".into(),
            "--cluster".into(),
            format!("nats://127.0.0.1:{}", cluster_ports[i]),
            "--routes".into(),
            routes.clone(),
        ],
        ..Default::default()
    };
    let (a, b, c) = tokio::join!(
        NatsServer::start_with(node(0)),
        NatsServer::start_with(node(1)),
        NatsServer::start_with(node(2))
    );
    let (a, _b, _c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let js = jetstream::new(async_nats::connect(a.url()).await.unwrap());
    let mut cfg = Config::default().nats;
    cfg.replicas = 3;
    // The meta leader may still be settling right after start-up: retry within a deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match vnats::setup(&js, &cfg).await {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "setup on the cluster: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    vnats::setup(&js, &cfg).await.unwrap();
    for name in vnats::STREAMS {
        let info = js
            .get_stream(name)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .clone();
        assert_eq!(info.config.num_replicas, 3, "{name}");
    }
    let kv = js.get_key_value(vnats::STATE_BUCKET).await.unwrap();
    let info = kv.status().await.unwrap();
    assert_eq!(info.info.config.num_replicas, 3);
}
