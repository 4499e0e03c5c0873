//! Client Config registration with TEST_NOTIFICATION, notification contents and splitting,
//! subscription filtering and delivery retries.

use std::collections::HashSet;

use apple_vpp::types::{AssetManagementNotification, NotificationEnvelope};
use axum::http::StatusCode;
use serde_json::{Value, json};
use vppbridge_sim::SeedSpec;

use super::{Receiver, adam, assert_error, fast_config, serial, start};

#[tokio::test]
async fn client_config_sends_a_test_notification_and_stores_the_registration() {
    let api = start(fast_config()).await;
    let rx = Receiver::start(0).await;
    api.subscribe(&rx.url).await;
    let got = rx.all();
    assert_eq!(
        got.len(),
        1,
        "the TEST_NOTIFICATION arrived during the POST"
    );
    assert_eq!(
        got[0].authorization.as_deref(),
        Some("Bearer receiver-secret")
    );
    assert_eq!(got[0].content_type.as_deref(), Some("application/json"));
    let env: NotificationEnvelope = serde_json::from_value(got[0].body.clone()).unwrap();
    assert_eq!(env.notification_type, "TEST_NOTIFICATION");
    assert_eq!(env.notification, json!({}));
    assert_eq!(env.u_id, api.u_id);

    let (_, config) = api.get("client/config").await;
    assert_eq!(config["notificationUrl"], rx.url.as_str());
    assert_eq!(config["mdmInfo"]["id"], "mdm-1");
    assert_eq!(
        config["subscribedNotificationTypes"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(config["locationName"], "Simulated Location 1");

    let (status, _) = api
        .post(
            "client/config",
            json!({"notificationTypes": ["ASSET_COUNT"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, config) = api.get("client/config").await;
    assert_eq!(
        config["subscribedNotificationTypes"],
        json!(["ASSET_COUNT"]),
        "the set is replaced"
    );
    assert_eq!(
        config["notificationUrl"],
        rx.url.as_str(),
        "the URL is kept"
    );
}

#[tokio::test]
async fn client_config_fails_with_9728_when_the_url_does_not_answer_2xx() {
    let api = start(fast_config()).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/notify", listener.local_addr().unwrap())
    };
    let body = |url: &str| json!({"notificationUrl": url, "notificationAuthToken": "s", "notificationTypes": ["ASSET_COUNT"]});
    assert_error(
        &api.post("client/config", body(&closed)).await,
        StatusCode::BAD_REQUEST,
        9728,
        "closed port",
    );
    let rejecting = Receiver::start(usize::MAX).await;
    // usize::MAX rejects the TEST_NOTIFICATION too.
    assert_error(
        &api.post("client/config", body(&rejecting.url)).await,
        StatusCode::BAD_REQUEST,
        9728,
        "answers 500",
    );
    assert_eq!(rejecting.all().len(), 1, "one synchronous attempt");
    let (_, config) = api.get("client/config").await;
    assert!(
        config.get("notificationUrl").is_none(),
        "nothing stored: {config}"
    );
}

#[tokio::test]
async fn client_config_is_refused_with_each_documented_validation_error() {
    let mut config = fast_config();
    config.allow_http_notifications = false;
    let api = start(config).await;
    let long = "x".repeat(101);
    let mdm = |id: &str, name: &str, meta: &str| json!({"mdmInfo": {"id": id, "name": name, "metadata": meta}});
    let cases = [
        (
            "mdmInfo without metadata",
            json!({"mdmInfo": {"id": "a", "name": "b"}}),
            9723,
        ),
        ("long id", mdm(&long, "n", "m"), 9724),
        ("long name", mdm("i", &long, "m"), 9725),
        ("long metadata", mdm("i", "n", &"x".repeat(256)), 9713),
        (
            "url without token",
            json!({"notificationUrl": "https://a.example/n"}),
            9710,
        ),
        (
            "token without url",
            json!({"notificationAuthToken": "s"}),
            9710,
        ),
        (
            "long url",
            json!({"notificationUrl": format!("https://a.example/{}", "x".repeat(512)), "notificationAuthToken": "s"}),
            9711,
        ),
        (
            "long token",
            json!({"notificationUrl": "https://a.example/n", "notificationAuthToken": "x".repeat(513)}),
            9711,
        ),
        (
            "http url",
            json!({"notificationUrl": "http://a.example/n", "notificationAuthToken": "s"}),
            9712,
        ),
        (
            "not a url",
            json!({"notificationUrl": "notify-me", "notificationAuthToken": "s"}),
            9712,
        ),
        (
            "unknown type",
            json!({"notificationTypes": ["SOMETHING"]}),
            9602,
        ),
    ];
    for (what, body, number) in cases {
        assert_error(
            &api.post("client/config", body).await,
            StatusCode::BAD_REQUEST,
            number,
            what,
        );
    }
}

#[tokio::test]
async fn an_associate_of_25_assets_to_1000_serials_arrives_as_250_notifications_of_at_most_100() {
    let mut config = fast_config();
    config.seed = SeedSpec {
        assets: 31,
        devices: 1000,
        users: 0,
        ..SeedSpec::default()
    };
    let api = start(config).await;
    let rx = Receiver::start(0).await;
    api.subscribe(&rx.url).await;
    let apps: Vec<usize> = (0..31).filter(|i| (i + 1) % 5 != 0).take(25).collect();
    let assets: Vec<_> = apps
        .iter()
        .map(|i| json!({"adamId": adam(*i), "pricingParam": "STDQ"}))
        .collect();
    let serials: Vec<_> = (0..1000).map(serial).collect();
    let (status, r) = api
        .post(
            "assets/associate",
            json!({"assets": assets, "serialNumbers": serials}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let event_id = r["eventId"].as_str().unwrap();
    let done = api.wait_event(event_id).await;
    assert_eq!(
        (done["eventStatus"].as_str(), done["numCompleted"].as_i64()),
        (Some("COMPLETE"), Some(25_000))
    );

    let got = rx.wait_for("ASSET_MANAGEMENT", 250).await;
    let mut pairs = HashSet::new();
    for body in &got {
        let n: AssetManagementNotification =
            serde_json::from_value(body["notification"].clone()).unwrap();
        assert!(n.assignments.len() <= 100);
        assert_eq!(n.event_id, event_id);
        let adam_ids: HashSet<_> = n.assignments.iter().map(|a| a.adam_id.clone()).collect();
        assert_eq!(adam_ids.len(), 1, "one asset per notification");
        pairs.extend(
            n.assignments
                .into_iter()
                .map(|a| (a.adam_id, a.serial_number)),
        );
    }
    assert!(got.len() >= 250);
    assert_eq!(pairs.len(), 25_000, "every assignment was notified");
    let ids: HashSet<_> = got.iter().map(|b| b["notificationId"].clone()).collect();
    assert_eq!(
        ids.len(),
        got.len(),
        "no duplicates without the duplicate fault"
    );
}

#[tokio::test]
async fn a_failed_associate_notifies_the_failure_with_error_9709() {
    let mut config = fast_config();
    config.seed.licenses_per_asset = Some(1);
    let api = start(config).await;
    let rx = Receiver::start(0).await;
    api.subscribe(&rx.url).await;
    api.write("assets/associate", json!({"assets": [{"adamId": adam(0), "pricingParam": "STDQ"}], "serialNumbers": [serial(0), serial(1)]})).await;
    let got = rx.wait_for("ASSET_MANAGEMENT", 2).await;
    let results: Vec<(Value, Value, Value)> = got
        .iter()
        .map(|b| {
            (
                b["notification"]["result"].clone(),
                b["notification"]["assignments"][0]["serialNumber"].clone(),
                b["notification"]["error"]["errorNumber"].clone(),
            )
        })
        .collect();
    assert!(
        results.contains(&(json!("SUCCESS"), json!(serial(0)), Value::Null)),
        "{results:?}"
    );
    assert!(
        results.contains(&(json!("FAILURE"), json!(serial(1)), json!(9709))),
        "{results:?}"
    );
}

#[tokio::test]
async fn admin_actions_notify_asset_count_and_user_associated_and_writes_user_management() {
    let api = start(fast_config()).await;
    let rx = Receiver::start(0).await;
    api.subscribe(&rx.url).await;
    let change = |count: i64| json!({"adamId": adam(0), "pricingParam": "STDQ", "count": count});
    assert_eq!(api.admin_post("purchase", change(5)).await, StatusCode::OK);
    assert_eq!(api.admin_post("refund", change(2)).await, StatusCode::OK);
    assert_eq!(api.admin_post("transfer", change(-1)).await, StatusCode::OK);
    let counts = rx.wait_for("ASSET_COUNT", 3).await;
    let deltas: Vec<_> = counts
        .iter()
        .map(|b| b["notification"]["countDelta"].clone())
        .collect();
    assert_eq!(deltas, [json!(5), json!(-2), json!(-1)]);
    let (_, asset) = api.get(&format!("assets?adamId={}", adam(0))).await;
    assert_eq!(asset["assets"][0]["totalCount"], 60 + 5 - 2 - 1);

    assert_eq!(
        api.admin_post("invitations/accept", json!({"clientUserId": "user-000001"}))
            .await,
        StatusCode::OK
    );
    let assoc = rx.wait_for("USER_ASSOCIATED", 1).await;
    assert_eq!(
        assoc[0]["notification"]["associatedUsers"][0]["status"],
        "Associated"
    );

    api.write(
        "users/create",
        json!({"users": [{"clientUserId": "fresh"}]}),
    )
    .await;
    let users = rx.wait_for("USER_MANAGEMENT", 1).await;
    assert_eq!(users[0]["notification"]["type"], "CREATE");
    assert_eq!(
        users[0]["notification"]["users"][0]["clientUserId"],
        "fresh"
    );
}

#[tokio::test]
async fn only_subscribed_types_are_delivered() {
    let api = start(fast_config()).await;
    let rx = Receiver::start(0).await;
    let (status, _) = api
        .post("client/config", json!({"notificationUrl": rx.url, "notificationAuthToken": "s", "notificationTypes": ["ASSET_COUNT"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    api.write("assets/associate", json!({"assets": [{"adamId": adam(0), "pricingParam": "STDQ"}], "serialNumbers": [serial(0)]})).await;
    assert_eq!(
        api.admin_post("purchase", json!({"adamId": adam(0), "count": 1}))
            .await,
        StatusCode::OK
    );
    rx.wait_for("ASSET_COUNT", 1).await;
    assert!(rx.accepted("ASSET_MANAGEMENT").is_empty());
}

#[tokio::test]
async fn a_notification_rejected_twice_is_delivered_on_the_third_attempt() {
    let api = start(fast_config()).await;
    let rx = Receiver::start(2).await;
    api.subscribe(&rx.url).await;
    assert_eq!(
        api.admin_post("purchase", json!({"adamId": adam(0), "count": 1}))
            .await,
        StatusCode::OK
    );
    let got = rx.wait_for("ASSET_COUNT", 1).await;
    let id = got[0]["notificationId"].clone();
    let answers: Vec<u16> = rx
        .all()
        .iter()
        .filter(|r| r.body["notificationId"] == id)
        .map(|r| r.answered)
        .collect();
    assert_eq!(answers, [500, 500, 200]);
    let log = api.admin_get("notifications").await;
    let attempts: Vec<(Value, Value)> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["notificationId"] == id)
        .map(|d| (d["attempt"].clone(), d["status"].clone()))
        .collect();
    assert_eq!(
        attempts,
        [
            (json!(1), json!(500)),
            (json!(2), json!(500)),
            (json!(3), json!(200))
        ]
    );
}
