//! Synchronous validation of every write, asynchronous completion, Event Status and licenses.

use apple_vpp::types::StatusResponse;
use axum::http::StatusCode;
use serde_json::{Value, json};
use vppbridge_sim::SeedSpec;

use super::{adam, assert_error, fast_config, serial, start};

fn assets(ids: impl IntoIterator<Item = usize>) -> Value {
    json!(
        ids.into_iter()
            .map(|i| json!({"adamId": adam(i), "pricingParam": "STDQ"}))
            .collect::<Vec<_>>()
    )
}

fn serials(n: usize) -> Value {
    json!((0..n).map(serial).collect::<Vec<_>>())
}

#[tokio::test]
async fn asset_writes_are_refused_with_each_documented_validation_error() {
    let mut config = fast_config();
    config.seed = SeedSpec {
        assets: 30,
        ..SeedSpec::default()
    };
    let api = start(config).await;
    let bad = StatusCode::BAD_REQUEST;
    let cases = [
        ("no assets", json!({"serialNumbers": ["S1"]}), 9718),
        ("no targets", json!({"assets": assets([0])}), 9719),
        (
            "26 assets",
            json!({"assets": assets(0..26), "clientUserIds": ["u"]}),
            9700,
        ),
        (
            "1001 users",
            json!({"assets": assets([0]), "clientUserIds": (0..1001).map(|i| format!("u{i}")).collect::<Vec<_>>()}),
            9701,
        ),
        (
            "1001 serials",
            json!({"assets": assets([0]), "serialNumbers": serials(1001)}),
            9702,
        ),
        (
            "duplicate asset",
            json!({"assets": assets([0, 0]), "serialNumbers": ["S1"]}),
            9703,
        ),
        (
            "duplicate user",
            json!({"assets": assets([0]), "clientUserIds": ["u", "u"]}),
            9704,
        ),
        (
            "duplicate serial",
            json!({"assets": assets([0]), "serialNumbers": ["S1", "S1"]}),
            9705,
        ),
        (
            "book to a device",
            json!({"assets": assets([4]), "serialNumbers": ["S1"]}),
            9707,
        ),
    ];
    for (what, body, number) in cases {
        assert_error(
            &api.post("assets/associate", body.clone()).await,
            bad,
            number,
            what,
        );
        assert_error(
            &api.post("assets/disassociate", body).await,
            bad,
            number,
            what,
        );
    }
    assert_error(
        &api.post("assets/revoke", json!({})).await,
        bad,
        9719,
        "revoke nothing",
    );
    assert_error(
        &api.post("assets/revoke", json!({"serialNumbers": serials(101)}))
            .await,
        bad,
        9702,
        "101 revokes",
    );
    assert_error(
        &api.post("assets/revoke", json!({"clientUserIds": ["a", "a"]}))
            .await,
        bad,
        9704,
        "dup revoke",
    );
    assert_error(
        &api.post("assets/associate", json!("not an object")).await,
        bad,
        9602,
        "bad JSON",
    );
    assert!(
        api.state().await["assignments"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was queued"
    );
}

#[tokio::test]
async fn user_writes_are_refused_with_each_documented_validation_error() {
    let api = start(fast_config()).await;
    let bad = StatusCode::BAD_REQUEST;
    let many: Vec<_> = (0..101)
        .map(|i| json!({"clientUserId": format!("u{i}")}))
        .collect();
    let cases = [
        ("no users", json!({"users": []}), 9720),
        ("101 users", json!({"users": many}), 9714),
        (
            "duplicate",
            json!({"users": [{"clientUserId": "a"}, {"clientUserId": "a"}]}),
            9715,
        ),
        (
            "bad email",
            json!({"users": [{"clientUserId": "a", "email": "not-an-email"}]}),
            9717,
        ),
    ];
    for (what, body, number) in cases {
        for path in ["users/create", "users/update", "users/retire"] {
            assert_error(&api.post(path, body.clone()).await, bad, number, what);
        }
    }
}

#[tokio::test]
async fn wrong_content_type_wrong_method_and_unknown_event_are_refused() {
    let api = start(fast_config()).await;
    let r = api
        .http
        .post(format!("{}assets/associate", api.base))
        .bearer_auth(&api.token)
        .header("Content-Type", "text/plain")
        .body(r#"{"assets": []}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(r.json::<Value>().await.unwrap()["errorNumber"], 9727);
    let r = api
        .http
        .put(format!("{}assets/associate", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["errorNumber"], 9726);
    let r = api
        .http
        .delete(format!("{}assets", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_error(
        &api.get("status?eventId=no-such-event").await,
        StatusCode::BAD_REQUEST,
        9708,
        "unknown event",
    );
}

#[tokio::test]
async fn an_associate_is_pending_then_complete_with_the_cross_product_counted() {
    let mut config = fast_config();
    config.event_delay = std::time::Duration::from_millis(300);
    let api = start(config).await;
    let (status, r) = api
        .post("assets/associate", json!({"assets": assets([0, 1]), "serialNumbers": [serial(0), serial(1)], "clientUserIds": ["user-000001"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["uId"], api.u_id.as_str());
    let id = r["eventId"].as_str().unwrap();
    let (_, pending) = api.get(&format!("status?eventId={id}")).await;
    assert_eq!(pending["eventStatus"], "PENDING");
    let done: StatusResponse = serde_json::from_value(api.wait_event(id).await).unwrap();
    assert_eq!(serde_json::to_value(done.event_status).unwrap(), "COMPLETE");
    assert_eq!((done.num_requested, done.num_completed), (6, 6));
    assert_eq!(
        api.state().await["assignments"].as_array().unwrap().len(),
        6
    );
    let (_, asset) = api.get(&format!("assets?adamId={}", adam(0))).await;
    assert_eq!(asset["assets"][0]["assignedCount"], 3);
}

#[tokio::test]
async fn an_associate_beyond_the_licenses_fails_the_rest_with_9709() {
    let mut config = fast_config();
    config.seed.licenses_per_asset = Some(3);
    let api = start(config).await;
    let done = api
        .write("assets/associate", json!({"assets": assets([0]), "serialNumbers": serials(5), "clientUserIds": ["nobody"]}))
        .await;
    assert_eq!(done["eventStatus"], "FAILED");
    assert_eq!(done["numRequested"], 6);
    assert_eq!(done["numCompleted"], 3);
    let failures = done["failures"].as_array().unwrap();
    let by_number = |n: i64| {
        failures
            .iter()
            .find(|f| f["errorNumber"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_number(9709)["errorInfo"]["serialNumbers"],
        json!([serial(3), serial(4)])
    );
    assert_eq!(
        by_number(9609)["errorInfo"]["clientUserIds"],
        json!(["nobody"])
    );
    let (_, asset) = api.get(&format!("assets?adamId={}", adam(0))).await;
    assert_eq!(asset["assets"][0]["availableCount"], 0);
}

#[tokio::test]
async fn disassociate_revoke_and_user_writes_change_the_truth() {
    let mut config = fast_config();
    config.seed = SeedSpec {
        assets: 5,
        devices: 3,
        users: 2,
        assigned: 1.0,
        ..SeedSpec::default()
    };
    let api = start(config).await;
    api.write(
        "assets/associate",
        json!({"assets": assets([0, 4]), "clientUserIds": ["user-000001"]}),
    )
    .await;
    let done = api
        .write(
            "assets/revoke",
            json!({"clientUserIds": ["user-000001"], "serialNumbers": [serial(0)]}),
        )
        .await;
    assert_eq!(done["eventStatus"], "COMPLETE");
    let (_, left) = api.get("assignments?clientUserId=user-000001").await;
    assert_eq!(
        left["assignments"],
        json!([{"adamId": adam(4), "pricingParam": "STDQ", "clientUserId": "user-000001"}]),
        "books are not revocable"
    );
    let (_, device) = api
        .get(&format!("assignments?serialNumber={}", serial(0)))
        .await;
    assert_eq!(device["assignments"], json!([]));
    api.write(
        "assets/disassociate",
        json!({"assets": assets([1]), "serialNumbers": [serial(1)]}),
    )
    .await;
    let (_, one) = api.get(&format!("assignments?adamId={}", adam(1))).await;
    assert_eq!(one["assignments"].as_array().unwrap().len(), 1);

    let done = api.write("users/create", json!({"users": [{"clientUserId": "new", "email": "new@example.com"}, {"clientUserId": "managed", "managedAppleId": "m@corp.example"}, {"clientUserId": "user-000002"}]})).await;
    assert_eq!(done["eventStatus"], "FAILED");
    assert_eq!(done["failures"][0]["errorNumber"], 9716);
    assert_eq!(done["numCompleted"], 2);
    let (_, created) = api.get("users?clientUserId=new").await;
    assert_eq!(created["users"][0]["status"], "Registered");
    assert!(created["users"][0]["inviteCode"].is_string());
    let (_, managed) = api.get("users?clientUserId=managed").await;
    assert_eq!(managed["users"][0]["status"], "Associated");
    assert!(managed["users"][0]["idHash"].is_string());
    let done = api.write("users/update", json!({"users": [{"clientUserId": "new", "email": "renamed@example.com"}, {"clientUserId": "ghost"}]})).await;
    assert_eq!(done["failures"][0]["errorNumber"], 9609);
    let (_, renamed) = api.get("users?clientUserId=new").await;
    assert_eq!(renamed["users"][0]["email"], "renamed@example.com");
    let to_new = json!({"assets": assets([1]), "clientUserIds": ["new"]});
    assert_eq!(
        api.write("assets/associate", to_new).await["eventStatus"],
        "COMPLETE"
    );
    api.write("users/retire", json!({"users": [{"clientUserId": "new"}]}))
        .await;
    let (_, active) = api.get("users?activeOnly=true").await;
    assert_eq!(active["users"].as_array().unwrap().len(), 3);
    let (_, retired) = api.get("users?retiredOnly=true").await;
    assert_eq!(retired["users"][0]["clientUserId"], "new");
    let (_, kept) = api.get("assignments?clientUserId=new").await;
    assert_eq!(
        kept["assignments"].as_array().unwrap().len(),
        1,
        "retiring keeps assignments"
    );
    let (_, excluded) = api
        .get("assignments?excludeInactiveUsers=true&clientUserId=new")
        .await;
    assert_eq!(excluded["assignments"], json!([]));
    let (_, with_state) = api
        .get(&format!(
            "assignments?includeUserState=true&adamId={}",
            adam(1)
        ))
        .await;
    let statuses: Vec<_> = with_state["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.get("userStatus").cloned())
        .collect();
    assert_eq!(statuses, [json!("Retired")], "devices carry no user status");
    let (_, registered) = api
        .get("assignments?includeUserState=true&clientUserId=user-000001")
        .await;
    assert_eq!(registered["assignments"][0]["userStatus"], "Registered");
    let (_, again) = api.post("users/associate-nothing", json!({})).await;
    assert_eq!(again["errorNumber"], 9602, "unknown paths are refused");
}
