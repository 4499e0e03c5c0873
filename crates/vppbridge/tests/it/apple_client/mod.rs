//! The Apple client against a local fake Apple (axum on port 0) that records every request.

mod body;
pub(crate) mod fake;
mod logs;

use std::time::Duration;

use apple_vpp::token::ContentToken;
use apple_vpp::types::*;
use apple_vpp::{AppleClient, AppleError, ClientSettings};
use chrono::Utc;
use serde_json::json;
use vppbridge::metrics::{LocEndpointOutcome, Metrics};

use fake::{Answer, Fake, Recorded};

pub const INNER_SECRET: &str = "INNER-SECRET-do-not-log";

pub fn token() -> ContentToken {
    let text = ContentToken::encode(
        "Test Org",
        Utc::now() + chrono::Duration::days(365),
        INNER_SECRET,
    );
    ContentToken::parse(&text).unwrap()
}

/// Tiny delays so retry tests run in milliseconds; a high rate unless a test wants one.
pub fn config(base_url: String) -> ClientSettings {
    ClientSettings {
        base_url,
        request_timeout: Duration::from_secs(5),
        max_attempts: 4,
        retry_base_delay: Duration::from_millis(5),
        retry_max_delay: Duration::from_secs(5),
        max_requests_per_second: 1000,
        max_response_bytes: apple_vpp::settings::DEFAULT_MAX_RESPONSE_BYTES,
    }
}

pub fn client(fake: &Fake) -> AppleClient {
    AppleClient::new(&config(fake.base_url()), token(), None).unwrap()
}

fn status_ok() -> Answer {
    Answer::ok(json!({"eventStatus": "COMPLETE", "eventType": "ASSOCIATE",
        "numRequested": 1, "numCompleted": 1, "uId": "1"}))
}

fn associate_request() -> ManageAssetsRequest {
    ManageAssetsRequest {
        assets: vec![Asset {
            adam_id: "408709785".into(),
            pricing_param: "STDQ".into(),
        }],
        serial_numbers: vec!["C02XXXXXXX".into()],
        ..Default::default()
    }
}

fn gap(reqs: &[Recorded], i: usize) -> Duration {
    reqs[i].at - reqs[i - 1].at
}

/// Users page `index` of `total` at `version`, two users per page.
fn users_page(index: u32, total: u32, version: &str) -> Answer {
    let mut body = json!({
        "users": [
            {"clientUserId": format!("u{index}a"), "status": "Registered"},
            {"clientUserId": format!("u{index}b"), "status": "Associated"},
        ],
        "currentPageIndex": index, "size": 2, "totalPages": total,
        "versionId": version, "uId": "1"
    });
    if index + 1 < total {
        body["nextPageIndex"] = json!(index + 1);
    }
    Answer::ok(body)
}

#[tokio::test]
async fn pagination_reads_four_pages_and_restarts_when_the_version_changes_midway() {
    let fake = Fake::start(|r, n| {
        let index: u32 = r.param("pageIndex").map_or(0, |p| p.parse().unwrap());
        // Pages 0 and 1 show v1 on their first two reads, page 2 and everything later v2: two
        // traversals see the version change midway, the third reads a stable v2.
        let version = if n < 2 && index < 2 { "v1" } else { "v2" };
        users_page(index, 4, version)
    })
    .await;
    let c = client(&fake);
    let paged = c
        .all_users(UsersQuery {
            active_only: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = paged
        .items
        .iter()
        .map(|u| u.client_user_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["u0a", "u0b", "u1a", "u1b", "u2a", "u2b", "u3a", "u3b"]
    );
    assert_eq!(paged.version_id.as_deref(), Some("v2"));
    let reqs = fake.requests();
    assert!(
        reqs.iter()
            .all(|r| r.param("activeOnly").as_deref() == Some("true"))
    );
    // The first traversal stopped at the changed page; the second read all four.
    let second: Vec<Option<String>> = reqs
        .iter()
        .skip_while(|r| r.param("pageIndex").is_some())
        .skip(1)
        .skip_while(|r| r.param("pageIndex").is_some())
        .map(|r| r.param("pageIndex"))
        .collect();
    assert_eq!(
        second.first(),
        Some(&None),
        "restarted from the first page: {reqs:?}"
    );
    assert_eq!(paged.pages as usize, reqs.len());
    assert_eq!(c.requests_sent() as usize, reqs.len());
}

#[tokio::test]
async fn a_since_version_read_ignores_the_simulators_removed_assignments_extension() {
    let fake = Fake::start(|r, _| {
        assert_eq!(r.param("sinceVersionId").as_deref(), Some("v7"));
        Answer::ok(json!({
            "assignments": [{"adamId": 1, "serialNumber": "S1", "pricingParam": "STDQ"}],
            "removedAssignments": [{"adamId": "2", "clientUserId": "u", "pricingParam": "PLUS"}],
            "currentPageIndex": 0, "size": 1, "totalPages": 1, "versionId": "v8"
        }))
    })
    .await;
    let paged = client(&fake)
        .all_assignments(AssignmentsQuery {
            since_version_id: Some("v7".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    // Apple documents no removedAssignments (§13 q6): the client neither fails on it nor
    // mixes the removed pair into what it returns.
    let listed: Vec<_> = paged.items.iter().map(|a| a.adam_id.as_str()).collect();
    assert_eq!(listed, ["1"]);
    assert_eq!(paged.version_id.as_deref(), Some("v8"));
}

#[tokio::test]
async fn http_429_without_retry_after_is_retried_with_backoff() {
    let fake = Fake::start(|_, n| {
        if n == 0 {
            Answer::json(429, json!({}))
        } else {
            status_ok()
        }
    })
    .await;
    let c = client(&fake);
    c.event_status("e1").await.unwrap();
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].param("eventId").as_deref(), Some("e1"));
    assert!(gap(&reqs, 1) >= Duration::from_millis(5));
}

#[tokio::test]
async fn http_429_with_retry_after_waits_as_long_as_apple_says() {
    let fake = Fake::start(|_, n| {
        if n == 0 {
            Answer::json(429, json!({})).header("retry-after", "1")
        } else {
            status_ok()
        }
    })
    .await;
    client(&fake).event_status("e1").await.unwrap();
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        gap(&reqs, 1) >= Duration::from_secs(1),
        "{:?}",
        gap(&reqs, 1)
    );
}

#[tokio::test]
async fn error_9646_inside_an_http_200_body_is_rate_limiting_and_retried() {
    let fake = Fake::start(|_, n| match n {
        0 | 1 => Answer::ok(json!({"errorNumber": 9646, "errorMessage": "Too many requests"})),
        _ => status_ok(),
    })
    .await;
    let metrics = Metrics::new();
    let c = client(&fake).with_observer(std::sync::Arc::new(metrics.clone()), "loc-a");
    let s = c.event_status("e1").await.unwrap();
    assert_eq!(s.event_status, EventStatus::Complete);
    assert_eq!(fake.requests().len(), 3);
    let labels = |outcome: &str| LocEndpointOutcome {
        location: "loc-a".into(),
        endpoint: "status".into(),
        outcome: outcome.into(),
    };
    assert_eq!(
        metrics
            .apple_requests
            .get_or_create(&labels("rate_limited"))
            .get(),
        2
    );
    assert_eq!(metrics.apple_requests.get_or_create(&labels("ok")).get(), 1);
    assert_eq!(
        metrics
            .apple_retries
            .get_or_create(&labels("rate_limited"))
            .get()
            + metrics.apple_retries.get_or_create(&labels("ok")).get(),
        2
    );
}

#[tokio::test]
async fn rate_limiting_that_never_ends_gives_up_after_max_attempts() {
    let fake = Fake::start(|_, _| Answer::json(429, json!({}))).await;
    let c = client(&fake);
    let err = c.event_status("e1").await.unwrap_err();
    assert!(matches!(err, AppleError::RateLimited { .. }), "{err:?}");
    assert_eq!(fake.requests().len(), 4);
    assert_eq!(c.requests_sent(), 4);
}

#[tokio::test]
async fn http_503_with_retry_after_2_waits_two_seconds() {
    let fake = Fake::start(|_, n| {
        if n == 0 {
            Answer::json(
                503,
                json!({"errorNumber": 9729, "errorMessage": "Service unavailable"}),
            )
            .header("retry-after", "2")
        } else {
            status_ok()
        }
    })
    .await;
    client(&fake).event_status("e1").await.unwrap();
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        gap(&reqs, 1) >= Duration::from_secs(2),
        "{:?}",
        gap(&reqs, 1)
    );
}

#[tokio::test]
async fn a_500_that_succeeds_on_the_third_try_resends_the_same_body() {
    let fake = Fake::start(|_, n| {
        if n < 2 {
            Answer::json(500, json!({}))
        } else {
            Answer::ok(json!({"eventId": "ev-1", "uId": "1"}))
        }
    })
    .await;
    let c = client(&fake);
    let r = c.associate(&associate_request()).await.unwrap();
    assert_eq!(r.event_id, "ev-1");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    let expected = serde_json::to_value(associate_request()).unwrap();
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "assets/associate");
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            r.auth.as_deref(),
            Some(&*format!("Bearer {}", c.token().bearer()))
        );
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body, expected);
    }
}

#[tokio::test]
async fn a_revoked_token_9625_is_not_retried() {
    let fake = Fake::start(|_, _| {
        Answer::json(
            401,
            json!({"errorNumber": 9625, "errorMessage": "sToken revoked"}),
        )
    })
    .await;
    let err = client(&fake).client_config().await.unwrap_err();
    assert!(matches!(err, AppleError::TokenRevoked), "{err:?}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn validation_errors_carry_apples_number_and_are_not_retried() {
    let fake = Fake::start(|_, _| {
        Answer::json(
            400,
            json!({"errorNumber": 9709, "errorMessage": "not enough",
            "errorInfo": {"serialNumbers": ["C02XXXXXXX"]}}),
        )
    })
    .await;
    let err = client(&fake)
        .associate(&associate_request())
        .await
        .unwrap_err();
    let AppleError::Validation {
        error_number,
        error_info,
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(error_number, 9709);
    assert_eq!(error_info.unwrap().serial_numbers, ["C02XXXXXXX"]);
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_post_is_retried_after_the_connection_is_reset() {
    let fake = Fake::start(|_, _| Answer::ok(json!({"eventId": "ev-2"}))).await;
    let (proxy, accepted) = fake::reset_first_connection(fake.addr).await;
    let c = AppleClient::new(&config(format!("http://{proxy}/mdm/v2/")), token(), None).unwrap();
    let r = c.associate(&associate_request()).await.unwrap();
    assert_eq!(r.event_id, "ev-2");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(c.requests_sent(), 2);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&reqs[0].body).unwrap(),
        serde_json::to_value(associate_request()).unwrap()
    );
}

#[tokio::test]
async fn a_burst_of_60_calls_never_puts_more_than_the_rate_in_any_second() {
    let fake = Fake::start(|_, _| status_ok()).await;
    let mut cfg = config(fake.base_url());
    cfg.max_requests_per_second = 50;
    let c = AppleClient::new(&cfg, token(), None).unwrap();
    let calls = (0..60).map(|i| {
        let c = c.clone();
        async move { c.event_status(&format!("e{i}")).await }
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 60);
    for (i, first) in reqs.iter().enumerate() {
        let in_second = reqs[i..]
            .iter()
            .filter(|r| r.at - first.at < Duration::from_secs(1))
            .count();
        assert!(
            in_second <= 50,
            "{in_second} requests in the second from request {i}"
        );
    }
    // And it is a limit, not a stall: 60 requests at 50/s take just over a second.
    let span = reqs[59].at - reqs[0].at;
    assert!(
        span >= Duration::from_secs(1) && span < Duration::from_secs(5),
        "{span:?}"
    );
}

#[tokio::test]
async fn another_mdms_mdm_info_is_an_ownership_conflict() {
    let body = include_str!(
        "../../../../../fixtures/conformance/server_token_client_config_response.json"
    );
    let fake = Fake::start(move |_, _| Answer {
        status: 200,
        headers: Vec::new(),
        body: body.to_owned(),
    })
    .await;
    let ours = "29dd58b6-93fe-4791-a660-96d7339c9f54";
    let c = AppleClient::new(&config(fake.base_url()), token(), Some(ours.into())).unwrap();
    let cc = c.client_config().await.unwrap();
    assert_eq!(cc.location_name, "Yolo Fomo 2022");
    assert_eq!(cc.default_platform, "enterprisestore");
    assert_eq!(
        cc.subscribed_notification_types,
        ["ASSET_COUNT", "ASSET_MANAGEMENT"]
    );
    assert_eq!(
        c.token_expiration().map(|d| d.to_rfc3339()).as_deref(),
        Some("2023-09-26T08:30:39+00:00")
    );

    let other =
        AppleClient::new(&config(fake.base_url()), token(), Some("our-own-id".into())).unwrap();
    let err = other.client_config().await.unwrap_err();
    let AppleError::OwnershipConflict { ours, theirs } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(ours, "our-own-id");
    assert_eq!(theirs.name, "Zentral");
    assert_eq!(fake.requests().len(), 2, "a conflict is not retried");
}

#[tokio::test]
async fn service_config_lowers_the_rate_and_sets_the_limits() {
    let fake = Fake::start(|r, _| {
        assert!(r.auth.is_none(), "service config is read without the token");
        Answer::ok(
            json!({"limits": {"maxRequestPerSecond": 4, "maxAssets": 10},
            "notificationTypes": ["ASSET_MANAGEMENT"], "urls": {}, "errorCodes": []}),
        )
    })
    .await;
    let c = client(&fake);
    let limits = c.refresh_limits().await.unwrap();
    assert_eq!(
        (limits.max_assets(), limits.max_requests_per_second()),
        (10, 4)
    );
    // Fresh limits are not read again.
    c.refresh_limits().await.unwrap();
    assert_eq!(fake.requests().len(), 1);
    c.service_config().await.unwrap();
    let reqs = fake.requests();
    assert!(
        gap(&reqs, 1) >= Duration::from_millis(250),
        "{:?}",
        gap(&reqs, 1)
    );
}

#[tokio::test]
async fn a_replaced_token_keeps_the_rate_limiter_and_sends_the_new_bearer() {
    let fake = Fake::start(|_, _| status_ok()).await;
    let mut cfg = config(fake.base_url());
    cfg.max_requests_per_second = 40;
    let old = AppleClient::new(&cfg, token(), None).unwrap();
    let new_token = ContentToken::parse(&ContentToken::encode(
        "Test Org",
        Utc::now() + chrono::Duration::days(700),
        "NEW-INNER",
    ))
    .unwrap();
    let new = old.with_token(new_token.clone());
    let calls = (0..20).map(|i| {
        let c = if i % 2 == 0 { old.clone() } else { new.clone() };
        async move { c.event_status("e").await }
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 20);
    assert_eq!(new.requests_sent(), 20, "one counter for both");
    for i in 1..reqs.len() {
        assert!(
            gap(&reqs, i) >= Duration::from_millis(10),
            "{:?}",
            gap(&reqs, i)
        );
    }
    let new_bearer = format!("Bearer {}", new_token.bearer());
    assert_eq!(
        reqs.iter()
            .filter(|r| r.auth.as_deref() == Some(&*new_bearer))
            .count(),
        10
    );
}
