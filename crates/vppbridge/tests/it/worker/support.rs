//! Helpers of the worker tests: JetStream set-up, a test configuration, a worker in a task,
//! notification publishing, polling.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use vppbridge::changes::{Applier, ChangePublisher};
use vppbridge::config::{Config, LocationConfig};
use vppbridge::events::notification::{AssignmentRef, Notification, NotificationMeta};
use vppbridge::metrics::Metrics;
use vppbridge::view::View;

use crate::support::{NatsServer, nats};

/// Creates the streams and buckets (what `vppbridge nats setup` does).
pub async fn setup(js: &jetstream::Context) {
    vppbridge::nats::setup(js, &vppbridge::config::NatsConfig::default())
        .await
        .unwrap();
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

pub async fn applier(js: &jetstream::Context) -> Applier {
    Applier::new(
        View::open(js).await.unwrap(),
        ChangePublisher::new(js.clone(), Metrics::new()),
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

pub fn device(adam: &str, serial: &str) -> AssignmentRef {
    AssignmentRef {
        adam_id: adam.into(),
        pricing_param: "STDQ".into(),
        serial_number: Some(serial.into()),
        client_user_id: None,
    }
}

/// A `.vpptoken` that expires in `days` days.
pub fn token_text(days: i64) -> String {
    use base64::Engine;
    let exp = chrono::Utc::now() + chrono::TimeDelta::days(days);
    let json = serde_json::json!({
        "token": "dGVzdA==",
        "expDate": apple_vpp::types::format_apple_date(exp),
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
    // Wide enough that one asset's notifications share a verification on a loaded 2-core CI
    // machine (at 200 ms a busy run once split them into 31 reads).
    c.worker.coalesce_window_ms = 500;
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

pub async fn consumer_idle(js: &jetstream::Context) -> bool {
    let Ok(s) = js.get_stream("VPP_NOTIFICATIONS").await else {
        return false;
    };
    match s.consumer_info("vppbridge-worker").await {
        Ok(i) => i.num_pending == 0 && i.num_ack_pending == 0,
        Err(_) => false,
    }
}

pub async fn count(js: &jetstream::Context, stream: &str) -> u64 {
    js.get_stream(stream)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .messages
}

/// Asserts every event on `stream` matches its schema from the change and alert families.
pub async fn assert_schema_valid(js: &jetstream::Context, stream: &str) -> usize {
    let mut schemas = vppbridge::events::changes::schemas();
    schemas.extend(vppbridge::events::alerts::schemas());
    let events = stream_json(js, stream).await;
    for e in &events {
        let t = e["type"].as_str().unwrap();
        let (_, schema) = schemas
            .iter()
            .find(|(n, _)| n == t)
            .unwrap_or_else(|| panic!("no schema for {t}"));
        let validator = jsonschema::validator_for(schema).unwrap();
        let errors: Vec<String> = validator.iter_errors(e).map(|x| x.to_string()).collect();
        assert!(errors.is_empty(), "{t}: {errors:?}\n{e}");
    }
    events.len()
}
