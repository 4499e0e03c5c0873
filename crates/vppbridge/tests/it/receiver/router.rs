//! Router tests: the whole router with an in-memory publisher.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use axum::Router;
use vppbridge::http::{AppState, Limits, PROBLEM_JSON, router, run};
use vppbridge::metrics::Metrics;
use vppbridge::secret::LocationSecrets;
use vppbridge_testkit::{MemoryPublisher, StaticUids};

const BODY: &[u8] = include_bytes!(
    "../../../../../fixtures/conformance/server_token_asset_count_notification.json"
);

fn app(max_concurrent: usize) -> (Router, MemoryPublisher, Metrics) {
    let publisher = MemoryPublisher::new();
    let metrics = Metrics::new();
    let mut locations = HashMap::new();
    locations.insert(
        "school".to_owned(),
        LocationSecrets::new("s3cret", Some("old-s3cret")),
    );
    let mut uids = HashMap::new();
    uids.insert("school".to_owned(), "981060278089131045".to_owned());
    let state = AppState::new(
        locations,
        Arc::new(publisher.clone()),
        Arc::new(StaticUids(uids)),
        metrics.clone(),
        Limits {
            max_body_bytes: 1024,
            max_concurrent_requests: max_concurrent,
            retry_after: Duration::from_secs(7),
            ..Limits::default()
        },
    );
    (router(state), publisher, metrics)
}

fn post(
    location: &str,
    auth: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Request<Body> {
    let mut b = Request::post(format!("/notifications/{location}"));
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    if let Some(ct) = content_type {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    b.body(Body::from(body)).unwrap()
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, serde_json::Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

use axum::http::HeaderMap;

#[tokio::test]
async fn accepted_notification_is_published_and_a_repeat_is_a_duplicate() {
    let (app, publisher, metrics) = app(8);
    for expected in ["accepted", "duplicate", "duplicate"] {
        let (status, _, body) = send(
            &app,
            post(
                "school",
                Some("Bearer s3cret"),
                Some("application/json"),
                BODY.to_vec(),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["outcome"], expected);
    }
    let messages = publisher.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].subject, "vpp.notifications.school.asset_count");
    assert_eq!(
        messages[0].msg_id,
        "school:526276ce-965a-4d94-b278-b3401ba86f6a"
    );
    let text = metrics.encode();
    assert!(text.contains(r#"vppbridge_notifications_total{location="school",type="asset_count",outcome="duplicate"} 2"#), "{text}");
}

#[tokio::test]
async fn previous_secret_is_accepted_during_rotation() {
    let (app, publisher, _) = app(8);
    let (status, _, _) = send(
        &app,
        post("school", Some("bearer old-s3cret"), None, BODY.to_vec()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(publisher.messages().len(), 1);
}

#[tokio::test]
async fn every_rejection_has_its_status_a_problem_body_and_publishes_nothing() {
    let (app, publisher, _) = app(8);
    let wrong_uid = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("981060278089131045", "111");
    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        (
            "no header",
            post("school", None, None, BODY.to_vec()),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "wrong secret",
            post("school", Some("Bearer nope"), None, BODY.to_vec()),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "basic scheme",
            post("school", Some("Basic s3cret"), None, BODY.to_vec()),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "unknown location",
            post("college", Some("Bearer s3cret"), None, BODY.to_vec()),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "text body",
            post(
                "school",
                Some("Bearer s3cret"),
                Some("text/plain"),
                BODY.to_vec(),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            "too large",
            post("school", Some("Bearer s3cret"), None, vec![b' '; 2048]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
        ),
        (
            "not json",
            post("school", Some("Bearer s3cret"), None, b"{".to_vec()),
            StatusCode::BAD_REQUEST,
            "invalid-notification",
        ),
        (
            "other library",
            post(
                "school",
                Some("Bearer s3cret"),
                None,
                wrong_uid.into_bytes(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "uid-mismatch",
        ),
    ];
    for (what, req, status, slug) in cases {
        let (got, headers, body) = send(&app, req).await;
        assert_eq!(got, status, "{what}: {body}");
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON, "{what}");
        assert_eq!(
            body["type"],
            format!("urn:vppbridge:problem:{slug}"),
            "{what}"
        );
        assert_eq!(body["status"], status.as_u16(), "{what}");
        if status == StatusCode::UNAUTHORIZED {
            assert!(
                body.get("detail").is_none(),
                "{what}: 401 tells nothing: {body}"
            );
        }
    }
    assert!(publisher.messages().is_empty());
}

#[tokio::test]
async fn bad_body_problem_names_the_field() {
    let (app, _, _) = app(8);
    let body = br#"{"notificationId":"a","notificationType":"ASSET_COUNT","uId":"981060278089131045","notification":{"adamId":"1"}}"#;
    let (status, _, problem) = send(
        &app,
        post("school", Some("Bearer s3cret"), None, body.to_vec()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["field"], "notification.countDelta");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("notification.countDelta")
    );
}

#[tokio::test]
async fn unavailable_store_gets_503_with_retry_after_and_readyz_says_so() {
    let (app, publisher, _) = app(8);
    publisher.set_available(false);
    let (status, headers, _) = send(
        &app,
        post("school", Some("Bearer s3cret"), None, BODY.to_vec()),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "7");
    let ready = app
        .clone()
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    publisher.set_available(true);
    let ready = app
        .clone()
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn over_the_concurrency_limit_gets_503_with_retry_after() {
    let (app, _, _) = app(0);
    // `Limits::max_concurrent_requests` of 0 still allows one request (see `Limits::from`),
    // but built directly it allows none: every request is over the limit.
    let (status, headers, body) = send(
        &app,
        post("school", Some("Bearer s3cret"), None, BODY.to_vec()),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers[header::RETRY_AFTER], "7");
    assert_eq!(body["type"], "urn:vppbridge:problem:overloaded");
}

#[tokio::test]
async fn healthz_and_metrics_answer() {
    let (app, _, _) = app(8);
    let r = app
        .clone()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    assert!(String::from_utf8_lossy(&text).contains("vppbridge_publish_duration_seconds"));
}

#[tokio::test]
async fn one_log_line_per_request_names_the_outcome_and_never_the_secret_or_body() {
    let (logs, _guard) = crate::support::LogCapture::start();
    let (app, _, _) = app(8);
    send(
        &app,
        post("school", Some("Bearer s3cret"), None, BODY.to_vec()),
    )
    .await;
    send(
        &app,
        post("school", Some("Bearer wrong-guess"), None, BODY.to_vec()),
    )
    .await;
    assert!(logs.contains("outcome=\"accepted\""));
    assert!(logs.contains("notification_id=\"526276ce-965a-4d94-b278-b3401ba86f6a\""));
    assert!(logs.contains("outcome=\"unauthorized\""));
    assert!(logs.contains("latency_ms="));
    assert!(!logs.contains("s3cret"));
    assert!(!logs.contains("wrong-guess"));
    assert!(!logs.contains("countDelta"), "the body is never logged");
}

/// Holds every publish until the gate opens.
struct GatedPublisher {
    gate: Arc<tokio::sync::Notify>,
    inner: MemoryPublisher,
}

impl vppbridge::publish::NotificationPublisher for GatedPublisher {
    fn publish(
        &self,
        subject: String,
        msg_id: String,
        payload: bytes::Bytes,
    ) -> futures::future::BoxFuture<
        '_,
        Result<vppbridge::publish::Published, vppbridge::publish::NotificationPublishError>,
    > {
        Box::pin(async move {
            self.gate.notified().await;
            self.inner.publish(subject, msg_id, payload).await
        })
    }

    fn ready(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        self.inner.ready()
    }
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_before_the_server_stops() {
    let memory = MemoryPublisher::new();
    let gate = Arc::new(tokio::sync::Notify::new());
    let metrics = Metrics::new();
    let mut locations = HashMap::new();
    locations.insert("school".to_owned(), LocationSecrets::new("s3cret", None));
    let state = AppState::new(
        locations,
        Arc::new(GatedPublisher {
            gate: gate.clone(),
            inner: memory.clone(),
        }),
        Arc::new(StaticUids::default()),
        metrics.clone(),
        Limits {
            max_body_bytes: 4096,
            max_concurrent_requests: 8,
            retry_after: Duration::from_secs(1),
            ..Limits::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/notifications/school",
        listener.local_addr().unwrap()
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut server = tokio::spawn(run(listener, state, shutdown.clone().cancelled_owned()));
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth("s3cret")
            .body(BODY.to_vec())
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while metrics.http_in_flight.get() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request never arrived"
        );
        tokio::task::yield_now().await;
    }
    shutdown.cancel();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut server)
            .await
            .is_err(),
        "the server must wait for the in-flight request"
    );
    gate.notify_one();
    assert_eq!(request.await.unwrap().unwrap(), 200);
    server.await.unwrap().unwrap();
    assert_eq!(memory.messages().len(), 1);
}
