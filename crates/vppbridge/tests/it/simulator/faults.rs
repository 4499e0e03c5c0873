//! Each fault mode, switched at start or at run time through `PUT /_sim/faults`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use vppbridge_sim::{Faults, RateLimitMode};

use super::{Receiver, adam, assert_error, fast_config, start};

#[tokio::test]
async fn requests_over_the_rate_limit_get_429_with_9646_and_the_log_shows_them() {
    let mut config = fast_config();
    config.max_requests_per_second = 5;
    config.faults.rate_limit_mode = RateLimitMode::Http429;
    let api = start(config).await;
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(api.get("assets").await);
    }
    let limited: Vec<_> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(!limited.is_empty(), "8 quick requests exceed 5 per second");
    assert_error(
        limited[0],
        StatusCode::TOO_MANY_REQUESTS,
        9646,
        "rate limited",
    );
    let log = api.admin_get("requests").await;
    let log = log.as_array().unwrap();
    let ok: Vec<f64> = log
        .iter()
        .filter(|r| r["status"] == 200)
        .map(|r| r["atMs"].as_f64().unwrap())
        .collect();
    for w in ok.windows(6) {
        assert!(
            w[5] - w[0] >= 1000.0,
            "never more than 5 admitted in a second: {ok:?}"
        );
    }
    assert!(
        log.iter().any(|r| r["status"] == 429
            && r["errorNumber"] == 9646
            && r["uId"] == api.u_id.as_str())
    );
    let (_, service) = api.get("service/config").await;
    assert_eq!(service["limits"]["maxRequestPerSecond"], 5);
}

#[tokio::test]
async fn the_http200_rate_limit_mode_answers_9646_inside_a_success() {
    let mut config = fast_config();
    config.max_requests_per_second = 2;
    config.faults.rate_limit_mode = RateLimitMode::Http200;
    let api = start(config).await;
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(api.get("users").await);
    }
    let hidden = answers
        .iter()
        .find(|a| a.1["errorNumber"] == 9646)
        .expect("a request was limited");
    assert_eq!(hidden.0, StatusCode::OK);
    assert!(answers.iter().all(|a| a.0 == StatusCode::OK));
}

#[tokio::test]
async fn server_error_faults_answer_503_with_retry_after_and_500_with_9603() {
    let api = start(fast_config()).await;
    api.set_faults(json!({"rateLimitMode": "off", "error503Rate": 1.0, "retryAfterSecs": 7}))
        .await;
    let r = api
        .http
        .get(format!("{}assets", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(r.json::<Value>().await.unwrap()["errorNumber"], 9729);
    api.set_faults(json!({"rateLimitMode": "off", "error500Rate": 1.0}))
        .await;
    assert_error(
        &api.get("assets").await,
        StatusCode::INTERNAL_SERVER_ERROR,
        9603,
        "500 fault",
    );
    api.set_faults(json!({"rateLimitMode": "off"})).await;
    assert_eq!(api.get("assets").await.0, StatusCode::OK);
    let faults: Faults = serde_json::from_value(api.admin_get("faults").await).unwrap();
    assert_eq!(
        faults,
        Faults {
            rate_limit_mode: RateLimitMode::Off,
            ..Faults::default()
        }
    );
}

#[tokio::test]
async fn the_latency_fault_delays_every_apple_call() {
    let api = start(fast_config()).await;
    api.set_faults(json!({"rateLimitMode": "off", "latencyMs": 150}))
        .await;
    let started = Instant::now();
    assert_eq!(api.get("assets").await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

/// Subscribes a receiver, sets `faults`, and makes three purchases (three ASSET_COUNT).
async fn three_counts(faults: Value) -> (super::Api, Receiver) {
    let api = start(fast_config()).await;
    let rx = Receiver::start(0).await;
    api.subscribe(&rx.url).await;
    api.set_faults(faults).await;
    for count in 1..=3 {
        let body = json!({"adamId": adam(0), "pricingParam": "STDQ", "count": count});
        assert_eq!(api.admin_post("purchase", body).await, StatusCode::OK);
    }
    (api, rx)
}

#[tokio::test]
async fn the_duplicate_fault_sends_each_notification_again_with_the_same_id() {
    let (_api, rx) = three_counts(json!({"rateLimitMode": "off", "duplicateRate": 1.0})).await;
    let got = rx.wait_for("ASSET_COUNT", 6).await;
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for body in &got {
        *per_id
            .entry(body["notificationId"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_id.len(), 3);
    assert!(per_id.values().all(|n| *n == 2), "{per_id:?}");
}

#[tokio::test]
async fn the_drop_fault_sends_nothing_and_logs_the_drop() {
    let (api, rx) = three_counts(json!({"rateLimitMode": "off", "dropRate": 1.0})).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = api.admin_get("notifications").await;
        let dropped = log
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["dropped"] == true)
            .count();
        if dropped == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "three drops are logged");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        rx.accepted("ASSET_COUNT").is_empty(),
        "a dropped notification never arrives"
    );
}

#[tokio::test]
async fn the_reorder_fault_lets_a_later_notification_overtake_a_held_one() {
    let api = start(fast_config()).await;
    let rx = Receiver::start(0).await;
    api.subscribe(&rx.url).await;
    let purchase = |count: i64| json!({"adamId": adam(0), "pricingParam": "STDQ", "count": count});
    api.set_faults(json!({"rateLimitMode": "off", "reorderRate": 1.0}))
        .await;
    assert_eq!(
        api.admin_post("purchase", purchase(1)).await,
        StatusCode::OK
    );
    api.set_faults(json!({"rateLimitMode": "off"})).await;
    assert_eq!(
        api.admin_post("purchase", purchase(2)).await,
        StatusCode::OK
    );
    let got = rx.wait_for("ASSET_COUNT", 2).await;
    let order: Vec<_> = got
        .iter()
        .map(|b| b["notification"]["countDelta"].clone())
        .collect();
    assert_eq!(order, [json!(2), json!(1)]);
}

#[tokio::test]
async fn the_notification_delay_fault_holds_each_delivery_back() {
    let api = start(fast_config()).await;
    let rx = Receiver::start(0).await;
    api.subscribe(&rx.url).await;
    api.set_faults(json!({"rateLimitMode": "off", "notificationDelayMs": 150}))
        .await;
    let started = Instant::now();
    let body = json!({"adamId": adam(0), "pricingParam": "STDQ", "count": 1});
    assert_eq!(api.admin_post("purchase", body).await, StatusCode::OK);
    rx.wait_for("ASSET_COUNT", 1).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
}
