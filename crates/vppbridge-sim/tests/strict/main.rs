//! Strict-client conformance (issue 11): a client written from `shared/apple-api.md` alone
//! (`client`, `schema`), as strict as zentral's, run against the simulator started in-process
//! on port 0 for every endpoint, over a location seeded large enough to page.
//!
//! - `schema`: the documented objects as field lists, and tests that the check refuses.
//! - `client`: the strict client and its strict traversal.
//! - `reads`: Service Config, Client Config, every page of Get Assets / Assignments / Users.
//! - `writes`: Client Config POST, the asset and user writes, Event Status, notifications.
//! - `config_errors`: Client Config's validation errors.
//! - `errors`: every documented validation, authentication and server error of every endpoint.
//! - `outside`: what happens outside the MDM (an accepted invitation, a purchase) and the URLs
//!   a client follows from Service Config (the invitation link, the metadata lookup).

mod client;
mod config_errors;
mod errors;
mod outside;
mod reads;
mod schema;
mod schema_tests;
mod writes;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vppbridge_sim::{RateLimitMode, SeedSpec, SimConfig, SimHandle, Simulator};

use client::Strict;

/// Records per page: small, so every read has several pages.
pub const PAGE_SIZE: usize = 7;

/// The simulator as the tests run it: small pages, millisecond event delays, HTTP
/// notifications to the local receiver, no rate limit, no extensions.
pub fn config() -> SimConfig {
    let mut config = SimConfig {
        page_size: PAGE_SIZE,
        allow_http_notifications: true,
        event_delay: Duration::from_millis(5),
        delivery_retry_delays: vec![Duration::from_millis(20), Duration::from_millis(20)],
        notification_timeout: Duration::from_secs(5),
        seed: SeedSpec {
            assets: 20,
            devices: 40,
            users: 24,
            assigned: 0.3,
            ..SeedSpec::default()
        },
        ..SimConfig::default()
    };
    config.faults.rate_limit_mode = RateLimitMode::Off;
    config
}

/// A running simulator, the strict client of its first location, and the admin API.
pub struct Env {
    /// The simulator (kept running for the test's length).
    pub sim: SimHandle,
    /// The strict client, holding the location's token.
    pub strict: Strict,
    /// The location's `uId`.
    pub u_id: String,
    admin: String,
    http: reqwest::Client,
}

/// Starts the simulator with [`config`] (see [`start_with`]).
pub async fn start() -> Env {
    start_with(config()).await
}

/// Starts the simulator on port 0 and connects the strict client through Service Config.
pub async fn start_with(config: SimConfig) -> Env {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(config, listener).await.unwrap();
    let location = sim.locations().remove(0);
    let strict = Strict::connect(
        &format!("{}service/config", sim.base_url()),
        &location.token_text,
    )
    .await;
    Env {
        admin: sim.admin_url(),
        u_id: location.u_id,
        strict,
        sim,
        http: reqwest::Client::new(),
    }
}

impl Env {
    /// The location's truth from the admin API (not through the strict client).
    pub async fn truth(&self) -> Value {
        let url = format!("{}locations/{}/state", self.admin, self.u_id);
        let r = self.http.get(url).send().await.unwrap();
        assert!(r.status().is_success());
        r.json().await.unwrap()
    }

    /// POSTs `body` to this location's admin path (`/_sim/locations/{uId}/{path}`).
    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}locations/{}/{path}", self.admin, self.u_id);
        let r = self.http.post(url).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "admin {path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    /// Replaces the fault settings (`PUT /_sim/faults`, Service Config included).
    pub async fn set_faults(&self, faults: Value) {
        let url = format!("{}faults", self.admin);
        let r = self.http.put(url).json(&faults).send().await.unwrap();
        assert!(r.status().is_success(), "faults: {}", r.status());
    }

    /// The three endpoints' `versionId`s (assets, assignments, users) from the admin API.
    pub async fn versions(&self) -> [String; 3] {
        let t = self.truth().await;
        ["assetsVersionId", "versionId", "usersVersionId"].map(|k| t[k].as_str().unwrap().into())
    }

    /// Polls Event Status (through the strict client) until `event_id` is no longer PENDING.
    pub async fn wait_event(&self, event_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = self
                .strict
                .get(
                    "eventStatus",
                    &[("eventId", event_id.into())],
                    &schema::STATUS,
                )
                .await
                .unwrap();
            if status["eventStatus"] != "PENDING" {
                return status;
            }
            assert!(Instant::now() < deadline, "event {event_id} still PENDING");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// POSTs a write to the Service Config URL `key`, then waits for its event.
    pub async fn write(&self, key: &str, body: Value) -> Value {
        let accepted = self
            .strict
            .post(key, &body, &schema::EVENT_RESPONSE)
            .await
            .unwrap_or_else(|r| panic!("{key} {body}: {r:?}"));
        self.wait_event(accepted["eventId"].as_str().unwrap()).await
    }
}

/// The notification secret the tests register.
pub const SECRET: &str = "strict-secret";

/// A local notification receiver (JSON bodies only, as axum's `Json` demands
/// `Content-Type: application/json`): records every body sent with [`SECRET`] as bearer and
/// answers 200, refuses any other with 403.
#[derive(Clone, Default)]
pub struct Receiver {
    /// Every notification body received, in order.
    pub bodies: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    /// Serves on port 0; returns the receiver and its URL.
    pub async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let bodies = receiver.bodies.clone();
        let app = axum::Router::new().route(
            "/notify",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                    let bodies = bodies.clone();
                    async move {
                        // §5.1: the secret comes back as `Authorization: Bearer <secret>`;
                        // like zentral, anything else is refused (and the registration fails).
                        let bearer = headers
                            .get("Authorization")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.strip_prefix("Bearer "));
                        if bearer != Some(SECRET) {
                            return axum::http::StatusCode::FORBIDDEN;
                        }
                        bodies.lock().unwrap().push(body);
                        axum::http::StatusCode::OK
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/notify", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    /// Waits until a notification matches `pred`; returns every body received so far.
    pub async fn until(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let bodies = self.bodies.lock().unwrap().clone();
            if bodies.iter().any(&pred) {
                return bodies;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} notification: {bodies:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// An `mdmInfo` of ours.
pub fn mdm_info() -> Value {
    json!({"id": "strict-mdm-1", "name": "Strict MDM", "metadata": "conformance"})
}
