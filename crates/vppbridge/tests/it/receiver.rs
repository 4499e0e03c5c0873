//! The receiver end to end: a real nats-server per test, `vppbridge::app::serve` on port 0, HTTP
//! posts, and assertions on the stream's messages.

mod child;
mod examples;
mod hardening;
mod register;
mod router;
mod setup;
mod webhook;

use std::time::Duration;

use async_nats::jetstream;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use vppbridge::app::{ServeArgs, serve};
use vppbridge::config::{Config, LocationConfig};
use vppbridge::nats::NOTIFICATIONS_STREAM;

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
