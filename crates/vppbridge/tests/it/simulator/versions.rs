//! `versionId` per endpoint, `sinceVersionId`, and the `removedAssignments` extension.

use axum::http::StatusCode;
use serde_json::json;
use vppbridge_sim::SeedSpec;

use super::{Api, adam, assert_error, fast_config, serial, start};

/// The `versionId`s of Get Assets, Get Assignments and Get Users.
async fn versions(api: &Api) -> [String; 3] {
    let mut out = [String::new(), String::new(), String::new()];
    for (i, path) in ["assets", "assignments", "users"].iter().enumerate() {
        let (status, body) = api.get(path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        out[i] = body["versionId"].as_str().unwrap().to_owned();
    }
    out
}

fn small() -> vppbridge_sim::SimConfig {
    let mut config = fast_config();
    config.seed = SeedSpec {
        assets: 3,
        devices: 5,
        users: 3,
        assigned: 1.0,
        ..SeedSpec::default()
    };
    config
}

#[tokio::test]
async fn since_version_id_lists_what_is_assigned_and_retired_users_but_no_invented_field() {
    let api = start(small()).await;
    let [_, v0, u0] = versions(&api).await;

    let (_, unchanged) = api.get(&format!("assignments?sinceVersionId={v0}")).await;
    assert_eq!(unchanged["assignments"], json!([]));
    assert!(
        unchanged.get("removedAssignments").is_none(),
        "Apple documents no removedAssignments: {unchanged}"
    );

    api.write("assets/associate", json!({"assets": [{"adamId": adam(0), "pricingParam": "STDQ"}], "clientUserIds": ["user-000001"]})).await;
    api.write("assets/disassociate", json!({"assets": [{"adamId": adam(1), "pricingParam": "STDQ"}], "serialNumbers": [serial(0)]})).await;
    api.write(
        "users/retire",
        json!({"users": [{"clientUserId": "user-000003"}]}),
    )
    .await;

    let (status, delta) = api.get(&format!("assignments?sinceVersionId={v0}")).await;
    assert_eq!(status, StatusCode::OK, "{delta}");
    assert_eq!(
        delta["assignments"],
        json!([{"adamId": adam(0), "pricingParam": "STDQ", "clientUserId": "user-000001"}]),
        "the removed pair is not listed: Apple lists only active assignments"
    );
    assert!(delta.get("removedAssignments").is_none(), "{delta}");
    assert_ne!(delta["versionId"], v0.as_str());

    let (_, users) = api.get(&format!("users?sinceVersionId={u0}")).await;
    assert_eq!(users["users"].as_array().unwrap().len(), 1);
    assert_eq!(users["users"][0]["clientUserId"], "user-000003");
    assert_eq!(users["users"][0]["status"], "Retired");

    let v1 = delta["versionId"].as_str().unwrap();
    let (_, later) = api.get(&format!("assignments?sinceVersionId={v1}")).await;
    assert_eq!(later["assignments"], json!([]));
    assert_error(
        &api.get("assignments?sinceVersionId=nope").await,
        StatusCode::BAD_REQUEST,
        9721,
        "assignments",
    );
    assert_error(
        &api.get("users?sinceVersionId=nope").await,
        StatusCode::BAD_REQUEST,
        9721,
        "users",
    );
    assert_error(
        &api.get(&format!("users?sinceVersionId={v0}")).await,
        StatusCode::BAD_REQUEST,
        9721,
        "users given the assignments' versionId",
    );
}

#[tokio::test]
async fn the_removed_assignments_extension_lists_removed_pairs_only_when_turned_on() {
    let mut config = small();
    config.ext_removed_assignments = true;
    let api = start(config).await;
    let [_, v0, _] = versions(&api).await;
    let (_, unchanged) = api.get(&format!("assignments?sinceVersionId={v0}")).await;
    assert_eq!(unchanged["removedAssignments"], json!([]));

    api.write("assets/disassociate", json!({"assets": [{"adamId": adam(1), "pricingParam": "STDQ"}], "serialNumbers": [serial(0)]})).await;
    let removed = json!({"adamId": adam(2), "pricingParam": "STDQ", "serialNumber": serial(4)});
    assert_eq!(
        api.admin_post("assignments/remove", removed.clone()).await,
        StatusCode::NO_CONTENT
    );
    let (_, delta) = api.get(&format!("assignments?sinceVersionId={v0}")).await;
    assert_eq!(delta["assignments"], json!([]));
    assert_eq!(
        delta["removedAssignments"],
        json!([{"adamId": adam(1), "pricingParam": "STDQ", "serialNumber": serial(0)}, removed])
    );
}

#[tokio::test]
async fn each_endpoint_has_its_own_version_id_moved_only_by_its_records() {
    let api = start(small()).await;
    let [a0, s0, u0] = versions(&api).await;
    assert!(a0 != s0 && s0 != u0 && a0 != u0, "three distinct ids");

    api.write(
        "users/create",
        json!({"users": [{"clientUserId": "new-user", "email": "n@example.com"}]}),
    )
    .await;
    let [a1, s1, u1] = versions(&api).await;
    assert_eq!(
        (&a1, &s1),
        (&a0, &s0),
        "a new user changes no asset or assignment"
    );
    assert_ne!(u1, u0);

    api.write("assets/associate", json!({"assets": [{"adamId": adam(0), "pricingParam": "STDQ"}], "clientUserIds": ["new-user"]})).await;
    let [a2, s2, u2] = versions(&api).await;
    assert_ne!(a2, a1, "the asset's assignedCount changed");
    assert_ne!(s2, s1);
    assert_eq!(u2, u1, "no user record changed");

    api.write(
        "users/update",
        json!({"users": [{"clientUserId": "new-user", "email": "n@example.com"}]}),
    )
    .await;
    assert_eq!(
        versions(&api).await,
        [a2.clone(), s2.clone(), u2.clone()],
        "an update that changes nothing"
    );

    let status = api
        .admin_post(
            "purchase",
            json!({"adamId": adam(1), "pricingParam": "STDQ", "count": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let [a3, s3, u3] = versions(&api).await;
    assert_ne!(a3, a2, "a purchase changes the asset's counts");
    assert_eq!((s3, u3), (s2, u2));
}

#[tokio::test]
async fn writes_that_change_nothing_move_no_version() {
    let api = start(small()).await;
    let before = versions(&api).await;
    // A serial the location never saw: COMPLETE, nothing removed.
    let done = api.write("assets/disassociate", json!({"assets": [{"adamId": adam(0), "pricingParam": "STDQ"}], "serialNumbers": ["UNKNOWN0001"]})).await;
    assert_eq!(done["eventStatus"], "COMPLETE");
    // A user that does not exist: the associate fails entirely (9609).
    let failed = api.write("assets/associate", json!({"assets": [{"adamId": adam(0), "pricingParam": "STDQ"}], "clientUserIds": ["nobody"]})).await;
    assert_eq!(failed["eventStatus"], "FAILED");
    assert_eq!(failed["failures"][0]["errorNumber"], 9609);
    // A pair already assigned.
    api.write("assets/associate", json!({"assets": [{"adamId": adam(0), "pricingParam": "STDQ"}], "serialNumbers": [serial(0)]})).await;
    // Retiring a user that does not exist.
    api.write(
        "users/retire",
        json!({"users": [{"clientUserId": "nobody"}]}),
    )
    .await;
    assert_eq!(versions(&api).await, before);
}
