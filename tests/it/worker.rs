//! The reconciling worker, the view and the change events against a real nats-server.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use vppbridge::changes::{Applier, Publisher};
use vppbridge::config::{Config, LocationConfig};
use vppbridge::events::changes::Cause;
use vppbridge::events::notification::AssignmentRef;
use vppbridge::events::notification::{
    Action, AssetManagementData, Notification, NotificationMeta, Outcome, PlainData,
};
use vppbridge::metrics::Metrics;
use vppbridge::view::{Bucket, View, keys};

use crate::support::{NatsServer, nats};

/// Creates the streams and buckets the worker needs (what `vppbridge nats setup` does).
pub async fn setup(js: &jetstream::Context) {
    for (name, subject) in [
        ("VPP_NOTIFICATIONS", "vpp.notifications.>"),
        ("VPP_CHANGES", "vpp.changes.>"),
        ("VPP_ALERTS", "vpp.alerts.>"),
        ("VPP_DLQ", "vpp.dlq.>"),
    ] {
        js.get_or_create_stream(stream::Config {
            name: name.into(),
            subjects: vec![subject.into()],
            duplicate_window: Duration::from_secs(20 * 60),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    for bucket in ["vpp-assets", "vpp-assignments", "vpp-users", "vpp-state"] {
        js.create_key_value(kv::Config {
            bucket: bucket.into(),
            history: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    }
}

pub struct Env {
    pub server: NatsServer,
    pub js: jetstream::Context,
}

pub async fn env() -> Env {
    let server = nats().await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = jetstream::new(client);
    setup(&js).await;
    Env { server, js }
}

async fn applier(js: &jetstream::Context) -> Applier {
    Applier::new(
        View::open(js).await.unwrap(),
        Publisher::new(js.clone(), Metrics::new()),
    )
}

/// Every message on a stream, as JSON.
pub async fn stream_json(js: &jetstream::Context, name: &str) -> Vec<serde_json::Value> {
    let mut s = js.get_stream(name).await.unwrap();
    let n = s.info().await.unwrap().state.messages;
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    let c = s
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut msgs = c.messages().await.unwrap();
    while let Some(m) = msgs.next().await {
        let m = m.unwrap();
        out.push(serde_json::from_slice(&m.payload).unwrap());
        if m.info().unwrap().pending == 0 {
            break;
        }
    }
    out
}

fn device(adam: &str, serial: &str) -> AssignmentRef {
    AssignmentRef {
        adam_id: adam.into(),
        pricing_param: "STDQ".into(),
        serial_number: Some(serial.into()),
        client_user_id: None,
    }
}

#[tokio::test]
async fn applying_the_same_assignment_twice_writes_and_publishes_once() {
    let e = env().await;
    let a = applier(&e.js).await;
    let value = device("1", "S.1 *");
    let key = keys::assignment_key("school", &value).unwrap();
    let cause = Cause::notification("n-1");
    assert!(
        a.apply("school", Bucket::Assignments, &key, Some(&value), &cause)
            .await
            .unwrap()
    );
    assert!(
        !a.apply("school", Bucket::Assignments, &key, Some(&value), &cause)
            .await
            .unwrap()
    );
    let events = stream_json(&e.js, "VPP_CHANGES").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "vppbridge.assignment.added.v1");
    assert_eq!(events[0]["data"]["key"], key.as_str());
    assert_eq!(events[0]["data"]["old"], serde_json::Value::Null);
    assert_eq!(events[0]["data"]["new"]["serialNumber"], "S.1 *");
    assert_eq!(events[0]["data"]["cause"]["notificationId"], "n-1");

    assert!(
        a.apply::<AssignmentRef>("school", Bucket::Assignments, &key, None, &cause)
            .await
            .unwrap()
    );
    assert!(
        !a.apply::<AssignmentRef>("school", Bucket::Assignments, &key, None, &cause)
            .await
            .unwrap()
    );
    let events = stream_json(&e.js, "VPP_CHANGES").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["type"], "vppbridge.assignment.removed.v1");
    assert!(
        a.view()
            .slice(Bucket::Assignments, "school")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn re_adding_a_removed_assignment_is_a_new_change_not_a_duplicate() {
    let e = env().await;
    let a = applier(&e.js).await;
    let value = device("1", "S1");
    let key = keys::assignment_key("school", &value).unwrap();
    let c = Cause::sync("run");
    a.apply("school", Bucket::Assignments, &key, Some(&value), &c)
        .await
        .unwrap();
    a.apply::<AssignmentRef>("school", Bucket::Assignments, &key, None, &c)
        .await
        .unwrap();
    a.apply("school", Bucket::Assignments, &key, Some(&value), &c)
        .await
        .unwrap();
    let types: Vec<String> = stream_json(&e.js, "VPP_CHANGES")
        .await
        .iter()
        .map(|v| v["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "vppbridge.assignment.added.v1",
            "vppbridge.assignment.removed.v1",
            "vppbridge.assignment.added.v1"
        ]
    );
}

#[tokio::test]
async fn a_crash_after_publishing_and_before_writing_is_redone_without_a_second_event() {
    let e = env().await;
    let a = applier(&e.js).await;
    let value = device("1", "S1");
    let key = keys::assignment_key("school", &value).unwrap();
    // What the first attempt published before it died: the same deterministic id.
    let id = vppbridge::changes::stable_id(&[
        "school",
        "vpp-assignments",
        &key,
        "0",
        &serde_json::to_string(&value).unwrap(),
    ]);
    a.publisher()
        .change(
            "school",
            vppbridge::events::changes::ChangeKind::AssignmentAdded,
            &id,
            None,
            serde_json::json!({"first": "attempt"}),
        )
        .await
        .unwrap();
    // The redelivery redoes it.
    assert!(
        a.apply(
            "school",
            Bucket::Assignments,
            &key,
            Some(&value),
            &Cause::notification("n")
        )
        .await
        .unwrap()
    );
    assert_eq!(stream_json(&e.js, "VPP_CHANGES").await.len(), 1);
    assert_eq!(
        a.view()
            .slice(Bucket::Assignments, "school")
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn two_appliers_racing_on_the_same_keys_write_each_once_and_publish_each_once() {
    let e = env().await;
    let c2 = async_nats::connect(e.server.url()).await.unwrap();
    let a1 = applier(&e.js).await;
    let a2 = applier(&jetstream::new(c2)).await;
    let items: Vec<(String, Option<AssignmentRef>)> = (0..200)
        .map(|i| {
            let v = device("7", &format!("S{i}"));
            (keys::assignment_key("school", &v).unwrap(), Some(v))
        })
        .collect();
    let (ca, cb) = (Cause::notification("a"), Cause::notification("b"));
    let (r1, r2) = tokio::join!(
        a1.apply_many("school", Bucket::Assignments, items.clone(), &ca),
        a2.apply_many("school", Bucket::Assignments, items.clone(), &cb),
    );
    let (n1, n2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(n1 + n2, 200, "each key written by exactly one of them");
    assert_eq!(stream_json(&e.js, "VPP_CHANGES").await.len(), 200);
    assert_eq!(
        a1.view()
            .slice(Bucket::Assignments, "school.7")
            .await
            .unwrap()
            .len(),
        200
    );
}

#[tokio::test]
async fn a_slice_holds_only_the_live_keys_under_its_prefix() {
    let e = env().await;
    let a = applier(&e.js).await;
    let c = Cause::sync("r");
    for (adam, s) in [("1", "A"), ("1", "B"), ("12", "C"), ("2", "D")] {
        let v = device(adam, s);
        let k = keys::assignment_key("school", &v).unwrap();
        a.apply("school", Bucket::Assignments, &k, Some(&v), &c)
            .await
            .unwrap();
    }
    let gone = keys::assignment_key("school", &device("1", "B")).unwrap();
    a.apply::<AssignmentRef>("school", Bucket::Assignments, &gone, None, &c)
        .await
        .unwrap();
    let one = a
        .view()
        .slice(Bucket::Assignments, "school.1.STDQ")
        .await
        .unwrap();
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(
        a.view()
            .slice(Bucket::Assignments, "school")
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(
        a.view()
            .slice(Bucket::Assignments, "other")
            .await
            .unwrap()
            .is_empty()
    );
    let listed = vppbridge::view::cli::list_assignments(
        a.view(),
        "school",
        &vppbridge::view::cli::AssignmentFilter {
            serial: Some("D".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(listed, vec![device("2", "D")]);
}

/// A `.vpptoken` that expires in `days` days.
pub fn token_text(days: i64) -> String {
    use base64::Engine;
    let exp = chrono::Utc::now() + chrono::TimeDelta::days(days);
    let json = serde_json::json!({
        "token": "dGVzdA==",
        "expDate": vppbridge::apple::types::format_apple_date(exp),
        "orgName": "Test School",
    });
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

/// A configuration with one location `school` and short delays everywhere.
pub fn config(dir: &std::path::Path, nats_url: &str, apple_url: &str, token: &str) -> Config {
    let token_file = dir.join("school.vpptoken");
    std::fs::write(&token_file, token).unwrap();
    let secret = dir.join("school.secret");
    std::fs::write(&secret, "secret").unwrap();
    let mut c = Config::default();
    c.nats.url = nats_url.into();
    c.apple.base_url = apple_url.into();
    c.apple.max_attempts = 2;
    c.apple.retry_base_delay_ms = 10;
    c.apple.retry_max_delay_secs = 1;
    c.apple.request_timeout_secs = 5;
    c.apple.max_requests_per_second = 200;
    c.mdm.id = "vppbridge-test".into();
    c.worker.ack_wait_secs = 2;
    c.worker.backoff_secs = vec![1];
    c.worker.max_deliver = 3;
    c.worker.coalesce_window_ms = 200;
    c.worker.hold_delay_ms = 100;
    c.worker.token_check_interval_ms = 100;
    c.sync.incremental_interval_secs = 0;
    c.sync.full_interval_secs = 0;
    c.locations = vec![LocationConfig {
        id: "school".into(),
        token_file,
        notification_secret_file: secret,
        previous_notification_secret_file: None,
        notification_types: None,
    }];
    c
}

/// A worker running in this process until the returned token is cancelled.
pub struct Worker {
    pub stop: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub async fn start_worker(config: &Config, url: &str) -> Worker {
    let client = async_nats::connect(url).await.unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(vppbridge::worker::run(
        Arc::new(config.clone()),
        client,
        Metrics::new(),
        stop.clone(),
    ));
    Worker { stop, task }
}

impl Worker {
    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// Publishes a notification event the way the receiver does.
pub async fn publish(js: &jetstream::Context, n: &Notification) {
    let meta = n.meta();
    let id = format!("{}:{}", meta.location, meta.notification_id);
    let event = vppbridge::events::CloudEvent::new(
        id.clone(),
        &meta.location,
        n.event_type(),
        chrono::Utc::now(),
        n.subject(),
        n.data_json(),
    );
    let mut h = async_nats::HeaderMap::new();
    h.insert("Nats-Msg-Id", id.as_str());
    js.publish_with_headers(
        format!("vpp.notifications.{}.{}", meta.location, n.kind()),
        h,
        serde_json::to_vec(&event).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
}

pub fn meta(id: &str, kind: &str) -> NotificationMeta {
    NotificationMeta {
        location: "school".into(),
        u_id: "uid".into(),
        notification_id: id.into(),
        notification_type: kind.into(),
    }
}

/// Polls `f` every 50 ms until it is true or `secs` pass.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within {secs} s: {what}");
}

async fn consumer_idle(js: &jetstream::Context) -> bool {
    let Ok(s) = js.get_stream("VPP_NOTIFICATIONS").await else {
        return false;
    };
    match s.consumer_info("vppbridge-worker").await {
        Ok(i) => i.num_pending == 0 && i.num_ack_pending == 0,
        Err(_) => false,
    }
}

async fn count(js: &jetstream::Context, stream: &str) -> u64 {
    js.get_stream(stream)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .messages
}

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
    // Held past its last delivery: put back on the stream, not dead-lettered, view untouched.
    eventually(10, "the held message is put back", || async {
        count(&e.js, "VPP_NOTIFICATIONS").await >= 2
    })
    .await;
    assert_eq!(count(&e.js, "VPP_DLQ").await, 0);
    assert!(
        view.slice(Bucket::Assignments, "school")
            .await
            .unwrap()
            .is_empty()
    );
    vppbridge::view::cli::resume_location(&view, "school")
        .await
        .unwrap();
    eventually(10, "the delta is applied once resumed", || async {
        view.slice(Bucket::Assignments, "school")
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
    let status = vppbridge::view::cli::read_status(&e.js, &view, &c)
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
        let s = vppbridge::view::cli::read_status(&e.js, &view, &c)
            .await
            .unwrap();
        s.locations[0].paused_reason.is_none()
    })
    .await;
    w.stop().await;
}
