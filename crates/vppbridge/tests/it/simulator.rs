//! The simulator, driven over HTTP with reqwest as a client would: errors from the requests that
//! cause them, pagination, versions, asynchronous writes, notifications to a local receiver,
//! delivery retries and every fault mode.

mod faults;
mod lookup;
mod notifications;
mod nulls;
mod reads;
mod versions;
mod writes;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use vppbridge_sim::{RateLimitMode, SeedSpec, SimConfig, SimHandle, Simulator};

/// A configuration with millisecond delays, HTTP notifications and no rate limit.
pub fn fast_config() -> SimConfig {
    let mut config = SimConfig {
        page_size: 1000,
        allow_http_notifications: true,
        event_delay: Duration::from_millis(5),
        delivery_retry_delays: vec![Duration::from_millis(20), Duration::from_millis(20)],
        notification_timeout: Duration::from_secs(2),
        seed: SeedSpec {
            assets: 10,
            devices: 50,
            users: 10,
            assigned: 0.0,
            ..SeedSpec::default()
        },
        ..SimConfig::default()
    };
    config.faults.rate_limit_mode = RateLimitMode::Off;
    config
}

/// A running simulator with a client holding the first location's token.
pub struct Api {
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub base: String,
    pub admin: String,
    pub token: String,
    pub u_id: String,
}

/// Starts a simulator on port 0.
pub async fn start(config: SimConfig) -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(config, listener).await.unwrap();
    let location = sim.locations().remove(0);
    Api {
        http: reqwest::Client::new(),
        base: sim.base_url(),
        admin: sim.admin_url(),
        token: location.token_text,
        u_id: location.u_id,
        sim,
    }
}

impl Api {
    async fn parse(response: reqwest::Response) -> (StatusCode, Value) {
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// GET an Apple path with the token.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        Self::parse(r).await
    }

    /// POST JSON to an Apple path with the token.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        Self::parse(r).await
    }

    /// GET an admin path.
    pub async fn admin_get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.admin))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET /_sim/{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// POST JSON to an admin path of this location (`locations/{uId}/{path}`).
    pub async fn admin_post(&self, path: &str, body: Value) -> StatusCode {
        let r = self
            .http
            .post(format!("{}locations/{}/{path}", self.admin, self.u_id))
            .json(&body)
            .send()
            .await
            .unwrap();
        StatusCode::from_u16(r.status().as_u16()).unwrap()
    }

    /// Replaces the fault settings.
    pub async fn set_faults(&self, faults: Value) {
        let r = self
            .http
            .put(format!("{}faults", self.admin))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// The location's full truth.
    pub async fn state(&self) -> Value {
        self.admin_get(&format!("locations/{}/state", self.u_id))
            .await
    }

    /// Polls Event Status until the event is no longer PENDING.
    pub async fn wait_event(&self, event_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = self.get(&format!("status?eventId={event_id}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["eventStatus"] != "PENDING" {
                return body;
            }
            assert!(Instant::now() < deadline, "event {event_id} still PENDING");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// POSTs a write, expects an eventId and waits for the event to finish.
    pub async fn write(&self, path: &str, body: Value) -> Value {
        let (status, r) = self.post(path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {r}");
        self.wait_event(r["eventId"].as_str().unwrap()).await
    }

    /// Registers `url` for every notification type.
    pub async fn subscribe(&self, url: &str) {
        let (status, body) = self
            .post(
                "client/config",
                json!({
                    "mdmInfo": {"id": "mdm-1", "name": "Test MDM", "metadata": "1.0"},
                    "notificationUrl": url,
                    "notificationAuthToken": "receiver-secret",
                    "notificationTypes": ["ASSET_MANAGEMENT", "ASSET_COUNT", "USER_MANAGEMENT", "USER_ASSOCIATED"],
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// Asserts an Apple error response.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, number: i64, what: &str) {
    assert_eq!(got.0, status, "{what}: {}", got.1);
    assert_eq!(got.1["errorNumber"], number, "{what}: {}", got.1);
    assert!(
        got.1["errorMessage"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}"
    );
}

/// One notification request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
    pub answered: u16,
}

/// A local notification receiver (axum on port 0) that records every request and answers 500
/// to the first `reject_first` deliveries of each notificationId (TEST_NOTIFICATION excepted,
/// unless `reject_first` is `usize::MAX`: then it rejects everything).
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(reject_first: usize) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = got.clone();
        let app = axum::Router::new().route(
            "/notify",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let log = log.clone();
                async move {
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let mut log = log.lock().unwrap();
                    let seen = log
                        .iter()
                        .filter(|r| r.body["notificationId"] == body["notificationId"])
                        .count();
                    let is_test = body["notificationType"] == "TEST_NOTIFICATION";
                    let rejects = reject_first == usize::MAX || (!is_test && seen < reject_first);
                    let answered = if rejects { 500 } else { 200 };
                    let header = |n: &str| headers.get(n).map(|v| v.to_str().unwrap().to_owned());
                    log.push(Received {
                        authorization: header("authorization"),
                        content_type: header("content-type"),
                        body,
                        answered,
                    });
                    StatusCode::from_u16(answered).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/notify", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, got }
    }

    /// Everything received so far.
    pub fn all(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Received bodies of `kind`, answered 2xx.
    pub fn accepted(&self, kind: &str) -> Vec<Value> {
        self.all()
            .into_iter()
            .filter(|r| r.answered == 200 && r.body["notificationType"] == kind)
            .map(|r| r.body)
            .collect()
    }

    /// Waits until `count` accepted notifications of `kind` arrived.
    pub async fn wait_for(&self, kind: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.accepted(kind);
            if got.len() >= count {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {count} {kind} notifications arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Seeded adamId `i`.
pub fn adam(i: usize) -> String {
    (100_000_000 + i).to_string()
}

/// Seeded serial `i` (0-based).
pub fn serial(i: usize) -> String {
    format!("SIM{:09}", i + 1)
}
