//! The writes through the strict client: Client Config POST, associate / disassociate /
//! revoke, users create / update / retire, Event Status, and the notifications they produce,
//! each checked against its documented shape.

use serde_json::{Value, json};
use vppbridge_sim::seed;

use super::schema::{self, Shape};
use super::{Env, Receiver, SECRET, mdm_info, start};

/// Checks every received notification against §5.3 and its type's payload (§5.4, §5.6).
pub fn check_notifications(env: &Env, bodies: &[Value]) {
    for body in bodies {
        let mut problems = schema::violations(body, &schema::ENVELOPE);
        let failed = body["notification"]["result"] == "FAILURE";
        let payload: Option<&Shape> = match body["notificationType"].as_str() {
            Some("ASSET_MANAGEMENT") => Some(&schema::ASSET_MANAGEMENT),
            Some("USER_MANAGEMENT") if failed => Some(&schema::USER_MANAGEMENT_FAILURE),
            Some("USER_MANAGEMENT") => Some(&schema::USER_MANAGEMENT),
            Some("ASSET_COUNT") => Some(&schema::ASSET_COUNT),
            Some("USER_ASSOCIATED") => Some(&schema::USER_ASSOCIATED),
            Some("TEST_NOTIFICATION") => Some(&schema::TEST_NOTIFICATION),
            _ => None,
        };
        if let Some(shape) = payload {
            problems.extend(schema::violations(&body["notification"], shape));
        }
        assert!(problems.is_empty(), "{problems:?}: {body}");
        assert_eq!(body["uId"], env.u_id.as_str(), "{body}");
        let n = &body["notification"];
        if n["result"] == "FAILURE" {
            assert!(
                n.get("error").is_some(),
                "§5.4: a failure carries its error: {body}"
            );
        }
    }
}

/// Registers `url` for the four 2021 notification types with our `mdmInfo`.
pub async fn register(env: &Env, url: &str) -> Value {
    let body = json!({
        "mdmInfo": mdm_info(),
        "notificationUrl": url,
        "notificationAuthToken": SECRET,
        "notificationTypes":
            ["ASSET_MANAGEMENT", "ASSET_COUNT", "USER_MANAGEMENT", "USER_ASSOCIATED"],
    });
    let answer = env
        .strict
        .post("clientConfig", &body, &schema::CLIENT_CONFIG)
        .await
        .unwrap();
    env.strict.expect_mdm_id("strict-mdm-1");
    answer
}

/// The notifications of `event_id`.
fn of_event<'a>(bodies: &'a [Value], event_id: &str) -> Vec<&'a Value> {
    bodies
        .iter()
        .filter(|b| b["notification"]["eventId"] == event_id)
        .collect()
}

#[tokio::test]
async fn client_config_post_registers_the_receiver_and_later_answers_carry_our_mdm_info() {
    let env = start().await;
    let (receiver, url) = Receiver::start().await;
    let answer = register(&env, &url).await;
    assert_eq!(answer["mdmInfo"], mdm_info());
    assert_eq!(answer["notificationUrl"], url.as_str());
    let mut types: Vec<&str> = answer["subscribedNotificationTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "ASSET_COUNT",
            "ASSET_MANAGEMENT",
            "USER_ASSOCIATED",
            "USER_MANAGEMENT"
        ]
    );
    let bodies = receiver
        .until("TEST_NOTIFICATION", |b| {
            b["notificationType"] == "TEST_NOTIFICATION"
        })
        .await;
    check_notifications(&env, &bodies);
    // Every later answer carries our mdmInfo (the strict client checks it on each).
    let again = env
        .strict
        .get("clientConfig", &[], &schema::CLIENT_CONFIG)
        .await
        .unwrap();
    assert_eq!(again["notificationUrl"], url.as_str());
    env.strict.all("getAssets", &[]).await.unwrap();
    env.strict.all("getUsers", &[]).await.unwrap();
}

#[tokio::test]
async fn asset_writes_complete_with_the_documented_status_and_notifications() {
    let env = start().await;
    let (receiver, url) = Receiver::start().await;
    register(&env, &url).await;
    let assets = json!([
        {"adamId": seed::adam_id(0), "pricingParam": "STDQ"},
        {"adamId": seed::adam_id(1), "pricingParam": "STDQ"},
    ]);
    let targets = json!({
        "assets": assets,
        "serialNumbers": [seed::serial(0), seed::serial(1)],
        "clientUserIds": [seed::user_id(0)],
    });
    for (key, kind) in [
        ("associateAssets", "ASSOCIATE"),
        ("disassociateAssets", "DISASSOCIATE"),
        ("associateAssets", "ASSOCIATE"),
    ] {
        let accepted = env
            .strict
            .post(key, &targets, &schema::EVENT_RESPONSE)
            .await
            .unwrap();
        let id = accepted["eventId"].as_str().unwrap();
        let status = env.wait_event(id).await;
        assert_eq!(status["eventStatus"], "COMPLETE", "{key}: {status}");
        assert_eq!(status["eventType"], kind);
        assert_eq!(status["numRequested"], 6, "§8.1: 2 assets × 3 targets");
        assert_eq!(status["numCompleted"], 6);
        let bodies = receiver
            .until(key, |b| b["notification"]["eventId"] == id)
            .await;
        check_notifications(&env, &bodies);
        let notes = of_event(&bodies, id);
        assert!(
            notes
                .iter()
                .all(|n| n["notification"]["type"] == kind
                    && n["notification"]["result"] == "SUCCESS")
        );
    }
    let accepted = env
        .strict
        .post(
            "revokeAssets",
            &json!({"serialNumbers": [seed::serial(0)]}),
            &schema::EVENT_RESPONSE,
        )
        .await
        .unwrap();
    let id = accepted["eventId"].as_str().unwrap();
    let status = env.wait_event(id).await;
    assert_eq!(status["eventStatus"], "COMPLETE", "{status}");
    assert_eq!(status["eventType"], "REVOKE");
    let bodies = receiver
        .until("REVOKE", |b| b["notification"]["eventId"] == id)
        .await;
    check_notifications(&env, &bodies);
    let of_device = env
        .strict
        .all("getAssignments", &[("serialNumber", seed::serial(0))])
        .await
        .unwrap();
    assert!(of_device.records.is_empty(), "{:?}", of_device.records);
}

#[tokio::test]
async fn a_partly_failed_associate_is_failed_with_error_info_naming_the_target() {
    let env = start().await;
    let (receiver, url) = Receiver::start().await;
    register(&env, &url).await;
    let body = json!({
        "assets": [{"adamId": seed::adam_id(3), "pricingParam": "STDQ"}],
        "serialNumbers": [seed::serial(5)],
        "clientUserIds": ["nobody-registered"],
    });
    let accepted = env
        .strict
        .post("associateAssets", &body, &schema::EVENT_RESPONSE)
        .await
        .unwrap();
    let id = accepted["eventId"].as_str().unwrap();
    let status = env.wait_event(id).await;
    assert_eq!(status["eventStatus"], "FAILED", "{status}");
    assert_eq!(status["numRequested"], 2);
    assert_eq!(status["numCompleted"], 1, "§9: FAILED can be partial");
    let failure = &status["failures"][0];
    assert_eq!(failure["errorNumber"], 9609, "{status}");
    assert_eq!(
        failure["errorInfo"]["clientUserIds"],
        json!(["nobody-registered"])
    );
    let bodies = receiver
        .until("FAILURE", |b| {
            b["notification"]["eventId"] == id && b["notification"]["result"] == "FAILURE"
        })
        .await;
    check_notifications(&env, &bodies);
}

#[tokio::test]
async fn user_writes_complete_with_the_documented_status_and_notifications() {
    let env = start().await;
    let (receiver, url) = Receiver::start().await;
    register(&env, &url).await;
    let steps = [
        (
            "createUsers",
            "CREATE",
            json!({"users": [
                {"clientUserId": "strict-u1", "email": "u1@example.com"},
                {"clientUserId": "strict-u2", "email": "u2@example.com",
                 "managedAppleId": "u2@managed.example.com"},
            ]}),
        ),
        (
            "updateUsers",
            "UPDATE",
            json!({"users": [{"clientUserId": "strict-u1", "email": "u1-new@example.com"}]}),
        ),
        (
            "retireUsers",
            "RETIRE",
            json!({"users": [{"clientUserId": "strict-u2"}]}),
        ),
    ];
    for (key, kind, body) in steps {
        let accepted = env
            .strict
            .post(key, &body, &schema::EVENT_RESPONSE)
            .await
            .unwrap();
        let id = accepted["eventId"].as_str().unwrap();
        let status = env.wait_event(id).await;
        assert_eq!(status["eventStatus"], "COMPLETE", "{key}: {status}");
        assert_eq!(status["eventType"], kind);
        assert_eq!(status["numCompleted"], status["numRequested"]);
        let bodies = receiver
            .until(key, |b| b["notification"]["eventId"] == id)
            .await;
        check_notifications(&env, &bodies);
        if kind == "CREATE" {
            // §5.6: with a managedAppleId the user comes back Associated, with an idHash and no
            // inviteCode.
            let users = &of_event(&bodies, id)[0]["notification"]["users"];
            let u2 = users
                .as_array()
                .unwrap()
                .iter()
                .find(|u| u["clientUserId"] == "strict-u2")
                .unwrap();
            assert_eq!(u2["status"], "Associated", "{u2}");
            assert!(
                u2.get("idHash").is_some() && u2.get("inviteCode").is_none(),
                "{u2}"
            );
        }
    }
    let u1 = env
        .strict
        .all("getUsers", &[("clientUserId", "strict-u1".into())])
        .await
        .unwrap();
    assert_eq!(u1.records[0]["email"], "u1-new@example.com");
    assert_eq!(u1.records[0]["status"], "Registered");
    assert!(u1.records[0].get("inviteCode").is_some(), "§6.3: {u1:?}");
    let u2 = env
        .strict
        .all("getUsers", &[("clientUserId", "strict-u2".into())])
        .await
        .unwrap();
    assert_eq!(u2.records[0]["status"], "Retired", "{u2:?}");
}

#[tokio::test]
async fn writes_that_change_nothing_move_no_version() {
    let env = start().await;
    let first = |key: &'static str| {
        let strict = &env.strict;
        async move {
            let pager = strict.traverse(key, &[]).await.unwrap();
            pager.version_id().to_owned()
        }
    };
    let before = [
        first("getAssets").await,
        first("getAssignments").await,
        first("getUsers").await,
    ];
    let asset = json!({"adamId": seed::adam_id(6), "pricingParam": "STDQ"});
    // A pair the location does not have: nothing to disassociate.
    let done = env
        .write(
            "disassociateAssets",
            json!({"assets": [asset], "serialNumbers": ["NOT-A-DEVICE"]}),
        )
        .await;
    assert_eq!(done["eventStatus"], "COMPLETE", "{done}");
    let done = env
        .write(
            "associateAssets",
            json!({"assets": [asset], "clientUserIds": ["nobody-registered"]}),
        )
        .await;
    assert_eq!(done["eventStatus"], "FAILED", "{done}");
    let user = seed::user_id(1);
    let done = env
        .write(
            "updateUsers",
            json!({"users": [{"clientUserId": user, "email": format!("{user}@example.com")}]}),
        )
        .await;
    assert_eq!(done["eventStatus"], "COMPLETE", "{done}");
    let after = [
        first("getAssets").await,
        first("getAssignments").await,
        first("getUsers").await,
    ];
    assert_eq!(before, after, "(assets, assignments, users) versionIds");
}

#[tokio::test]
async fn failed_user_writes_report_each_users_error_in_status_and_notifications() {
    let env = start().await;
    let (receiver, url) = Receiver::start().await;
    register(&env, &url).await;
    let existing = seed::user_id(2);
    let cases = [
        (
            "createUsers",
            json!({"users": [{"clientUserId": existing}]}),
            9716,
        ),
        (
            "updateUsers",
            json!({"users": [{"clientUserId": "strict-nobody"}]}),
            9609,
        ),
        (
            "retireUsers",
            json!({"users": [{"clientUserId": "strict-nobody"}]}),
            9609,
        ),
    ];
    for (key, body, number) in cases {
        let accepted = env
            .strict
            .post(key, &body, &schema::EVENT_RESPONSE)
            .await
            .unwrap();
        let id = accepted["eventId"].as_str().unwrap();
        let status = env.wait_event(id).await;
        assert_eq!(status["eventStatus"], "FAILED", "{key}: {status}");
        assert_eq!(status["numCompleted"], 0, "{key}: {status}");
        assert_eq!(
            status["failures"][0]["errorNumber"], number,
            "{key}: {status}"
        );
        assert_eq!(
            status["failures"][0]["errorInfo"]["clientUserIds"],
            json!([body["users"][0]["clientUserId"]]),
            "{key}: {status}"
        );
        let bodies = receiver
            .until(key, |b| b["notification"]["eventId"] == id)
            .await;
        check_notifications(&env, &bodies);
        let notes = of_event(&bodies, id);
        assert!(
            notes
                .iter()
                .all(|n| n["notification"]["result"] == "FAILURE"
                    && n["notification"]["error"]["errorNumber"] == number),
            "{key}: {notes:?}"
        );
    }
}

#[tokio::test]
async fn an_associate_beyond_the_available_licenses_fails_the_rest_with_9709() {
    let env = start().await;
    let (receiver, url) = Receiver::start().await;
    register(&env, &url).await;
    let adam = seed::adam_id(7);
    let q = [("adamId", adam.clone())];
    let asset = &env.strict.all("getAssets", &q).await.unwrap().records[0];
    let available = asset["availableCount"].as_i64().unwrap();
    env.admin_post("refund", json!({"adamId": adam, "count": available - 1}))
        .await;
    let serials = ["STRICT-S1", "STRICT-S2", "STRICT-S3"];
    let body =
        json!({"assets": [{"adamId": adam, "pricingParam": "STDQ"}], "serialNumbers": serials});
    let accepted = env
        .strict
        .post("associateAssets", &body, &schema::EVENT_RESPONSE)
        .await
        .unwrap();
    let id = accepted["eventId"].as_str().unwrap();
    let status = env.wait_event(id).await;
    assert_eq!(status["eventStatus"], "FAILED", "{status}");
    assert_eq!(
        (
            status["numRequested"].as_i64(),
            status["numCompleted"].as_i64()
        ),
        (Some(3), Some(1))
    );
    let failure = &status["failures"][0];
    assert_eq!(failure["errorNumber"], 9709, "{status}");
    assert_eq!(
        failure["errorInfo"]["serialNumbers"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let bodies = receiver
        .until("9709", |b| {
            b["notification"]["error"]["errorNumber"] == 9709
        })
        .await;
    check_notifications(&env, &bodies);
    let after = &env.strict.all("getAssets", &q).await.unwrap().records[0];
    assert_eq!(after["availableCount"], 0, "{after}");
}
