//! Authentication, Service/Client Config reads, pagination, filters and `sinceVersionId`.

use apple_vpp::types::{
    GetAssetsResponse, GetAssignmentsResponse, GetUsersResponse, ServiceConfigResponse,
};
use axum::http::StatusCode;
use serde_json::{Value, json};
use vppbridge_sim::SeedSpec;

use super::{adam, assert_error, fast_config, serial, start};

#[tokio::test]
async fn each_authentication_failure_answers_its_documented_error_number() {
    let api = start(fast_config()).await;
    let url = format!("{}assets", api.base);
    let send = |auth: Option<&str>| {
        let mut req = api.http.get(&url);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        async move {
            let r = req.send().await.unwrap();
            (
                StatusCode::from_u16(r.status().as_u16()).unwrap(),
                r.json::<Value>().await.unwrap(),
            )
        }
    };
    assert_error(
        &send(None).await,
        StatusCode::UNAUTHORIZED,
        9722,
        "no header",
    );
    assert_error(
        &send(Some("Basic abc")).await,
        StatusCode::UNAUTHORIZED,
        9722,
        "not Bearer",
    );
    assert_error(
        &send(Some("Bearer ")).await,
        StatusCode::UNAUTHORIZED,
        9722,
        "empty token",
    );
    assert_error(
        &send(Some("Bearer bm9wZQ==")).await,
        StatusCode::UNAUTHORIZED,
        9601,
        "unknown",
    );
    let good = format!("Bearer {}", api.token);
    assert_eq!(send(Some(&good)).await.0, StatusCode::OK);

    assert_eq!(
        api.admin_post("expire-token", json!({})).await,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &send(Some(&good)).await,
        StatusCode::UNAUTHORIZED,
        9621,
        "expired",
    );
    assert_eq!(
        api.admin_post("revoke-token", json!({})).await,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &send(Some(&good)).await,
        StatusCode::UNAUTHORIZED,
        9625,
        "revoked",
    );

    let log = api.admin_get("requests").await;
    let numbers: Vec<_> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["errorNumber"].clone())
        .collect();
    assert_eq!(
        numbers,
        [
            json!(9722),
            json!(9722),
            json!(9722),
            json!(9601),
            Value::Null,
            json!(9621),
            json!(9625)
        ]
    );
}

#[tokio::test]
async fn service_config_needs_no_token_and_lists_limits_urls_types_and_errors() {
    let mut config = fast_config();
    config.max_requests_per_second = 7;
    let api = start(config).await;
    let r = api
        .http
        .get(format!("{}service/config", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: ServiceConfigResponse = r.json().await.unwrap();
    assert_eq!(body.limits["maxRequestPerSecond"], 7);
    assert_eq!(body.limits["maxAssets"], 25);
    assert_eq!(body.limits["maxSerialNumbers"], 1000);
    assert_eq!(
        body.urls["getAssignments"],
        format!("{}assignments", api.base)
    );
    assert_eq!(body.urls["eventStatus"], format!("{}status", api.base));
    assert!(
        body.notification_types
            .iter()
            .any(|t| t == "ASSET_MANAGEMENT")
    );
    assert!(body.error_codes.iter().any(|e| e.error_number == 9646));
}

#[tokio::test]
async fn every_response_carries_uid_and_token_expiration_date_and_mdm_info_once_set() {
    let api = start(fast_config()).await;
    let (_, assets) = api.get("assets").await;
    assert_eq!(assets["uId"], api.u_id.as_str());
    let exp = assets["tokenExpirationDate"].as_str().unwrap();
    assert!(exp.ends_with("+0000"), "{exp}");
    assert!(assets.get("mdmInfo").is_none());
    let foreign = json!({"id": "other-mdm", "name": "Other", "metadata": "x"});
    assert_eq!(
        api.admin_post("mdm-info", foreign.clone()).await,
        StatusCode::NO_CONTENT
    );
    for path in ["assets", "assignments", "users", "client/config"] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["mdmInfo"], foreign, "{path}");
        assert_eq!(body["uId"], api.u_id.as_str(), "{path}");
        assert!(body["tokenExpirationDate"].is_string(), "{path}");
    }
}

#[tokio::test]
async fn paginated_reads_cover_the_truth_and_end_without_next_page_index() {
    let mut config = fast_config();
    config.page_size = 7;
    config.seed = SeedSpec {
        assets: 12,
        devices: 20,
        users: 9,
        assigned: 0.3,
        ..SeedSpec::default()
    };
    let api = start(config).await;
    let truth = api.state().await;

    let mut all = Vec::new();
    let mut next = Some(0);
    let mut version = None;
    while let Some(i) = next {
        let (status, body) = api.get(&format!("assignments?pageIndex={i}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page: GetAssignmentsResponse = serde_json::from_value(body).unwrap();
        assert_eq!(page.page.current_page_index, i);
        assert_eq!(page.page.size as usize, page.assignments.len());
        assert!(page.assignments.len() <= 7);
        version.get_or_insert(page.page.version_id.clone());
        assert_eq!(
            Some(&page.page.version_id),
            version.as_ref(),
            "no mutation, same version"
        );
        all.extend(page.assignments);
        next = page.page.next_page_index;
    }
    let truth_assignments: Vec<_> =
        serde_json::from_value::<Vec<_>>(truth["assignments"].clone()).unwrap();
    assert!(truth_assignments.len() > 7, "the seed spans several pages");
    assert_eq!(all, truth_assignments);

    let (_, first) = api.get("assignments").await;
    let pages = first["totalPages"].as_u64().unwrap();
    assert_error(
        &api.get(&format!("assignments?pageIndex={pages}")).await,
        StatusCode::BAD_REQUEST,
        9650,
        "past the end",
    );
    assert_error(
        &api.get("assets?pageIndex=-1").await,
        StatusCode::BAD_REQUEST,
        9650,
        "negative",
    );

    let (_, users) = api.get("users?pageIndex=1").await;
    let users: GetUsersResponse = serde_json::from_value(users).unwrap();
    assert_eq!(users.users.len(), 2);
    assert_eq!(users.page.next_page_index, None);
    assert_eq!(users.users[1].client_user_id, "user-000009");

    let (_, assets) = api.get("assets?pageIndex=1").await;
    let assets: GetAssetsResponse = serde_json::from_value(assets).unwrap();
    assert_eq!(assets.page.total_pages, 2);
    assert_eq!(assets.assets.len(), 5);
}

#[tokio::test]
async fn every_documented_filter_narrows_the_reads() {
    let mut config = fast_config();
    config.seed = SeedSpec {
        assets: 10,
        devices: 10,
        users: 3,
        assigned: 1.0,
        ..SeedSpec::default()
    };
    let api = start(config).await;
    let count = |v: &Value, key: &str| v[key].as_array().unwrap().len();

    let (_, books) = api.get("assets?productType=Book").await;
    assert_eq!(count(&books, "assets"), 2);
    assert!(
        books["assets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["deviceAssignable"] == false)
    );
    let (_, assignable) = api.get("assets?deviceAssignable=true&revocable=true").await;
    assert_eq!(count(&assignable, "assets"), 8);
    let (_, one) = api.get(&format!("assets?adamId={}", adam(3))).await;
    assert_eq!(count(&one, "assets"), 1);
    assert_eq!(one["assets"][0]["assignedCount"], 10);
    assert_eq!(one["assets"][0]["availableCount"], 3);
    let (_, none) = api.get("assets?minAvailableCount=4").await;
    assert_eq!(
        count(&none, "assets"),
        2,
        "only the unassigned books have 13 free"
    );
    let (_, busy) = api
        .get("assets?minAssignedCount=10&maxAssignedCount=10")
        .await;
    assert_eq!(count(&busy, "assets"), 8);
    let (_, plus) = api.get("assets?pricingParam=PLUS").await;
    assert_eq!(count(&plus, "assets"), 0);

    let (_, by_serial) = api
        .get(&format!("assignments?serialNumber={}", serial(4)))
        .await;
    assert_eq!(count(&by_serial, "assignments"), 8);
    let (_, by_asset) = api.get(&format!("assignments?adamId={}", adam(0))).await;
    assert_eq!(count(&by_asset, "assignments"), 10);
    let (_, pair) = api
        .get(&format!(
            "assignments?adamId={}&serialNumber={}",
            adam(0),
            serial(0)
        ))
        .await;
    assert_eq!(count(&pair, "assignments"), 1);

    let (_, users) = api.get("users?clientUserId=user-000002").await;
    assert_eq!(users["users"][0]["email"], "user-000002@example.com");
    assert_eq!(users["users"][0]["status"], "Registered");
}

#[tokio::test]
async fn a_location_of_100000_assignments_pages_through_in_full() {
    let mut config = fast_config();
    config.seed = SeedSpec {
        assets: 125,
        devices: 1000,
        users: 0,
        assigned: 1.0,
        ..SeedSpec::default()
    };
    let api = start(config).await;
    let mut next = Some(0);
    let mut total = 0;
    let mut last = None;
    while let Some(i) = next {
        let (status, body) = api.get(&format!("assignments?pageIndex={i}")).await;
        assert_eq!(status, StatusCode::OK);
        let page: GetAssignmentsResponse = serde_json::from_value(body).unwrap();
        assert_eq!(page.page.total_pages, 100);
        total += page.assignments.len();
        let first = page.assignments.first().cloned();
        assert!(last < first, "pages continue in order");
        last = page.assignments.last().cloned();
        next = page.page.next_page_index;
    }
    assert_eq!(total, 100_000);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let api = start(fast_config()).await;
    assert_eq!(api.get("assets").await.0, StatusCode::OK);
    let url = format!("{}service/config", api.base);
    api.sim.shutdown().await;
    assert!(api.http.get(url).send().await.is_err());
}

#[tokio::test]
async fn each_location_has_its_own_token_and_state() {
    let mut config = fast_config();
    config.seed.locations = 2;
    let api = start(config).await;
    let locations = api.sim.locations();
    assert_eq!(locations.len(), 2);
    assert_ne!(locations[0].token_text, locations[1].token_text);
    let listed = api.admin_get("locations").await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let other = locations.iter().find(|l| l.u_id != api.u_id).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["uId"] == other.u_id.as_str() && l["token"] == other.token_text.as_str())
    );

    api.write("assets/associate", json!({"assets": [{"adamId": adam(0), "pricingParam": "STDQ"}], "serialNumbers": [serial(0)]})).await;
    let r = api
        .http
        .get(format!("{}assignments", api.base))
        .bearer_auth(&other.token_text)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["uId"], other.u_id.as_str());
    assert_eq!(
        body["assignments"],
        json!([]),
        "the other location is untouched"
    );
    let (_, mine) = api.get("assignments").await;
    assert_eq!(mine["assignments"].as_array().unwrap().len(), 1);
}
