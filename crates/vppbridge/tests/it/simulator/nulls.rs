//! JSON `null` in write requests is answered like a missing member (Go clients send `null` for
//! empty slices).

use axum::http::StatusCode;
use serde_json::json;

use super::{adam, assert_error, fast_config, serial, start};

#[tokio::test]
async fn a_null_list_is_answered_like_a_missing_one() {
    let api = start(fast_config()).await;
    let bad = StatusCode::BAD_REQUEST;
    let asset = json!([{"adamId": adam(0), "pricingParam": "STDQ"}]);
    let cases = [
        (
            "assets/associate",
            json!({"assets": asset, "serialNumbers": null, "clientUserIds": null}),
            json!({"assets": asset}),
            9719,
        ),
        (
            "assets/disassociate",
            json!({"assets": null, "serialNumbers": [serial(0)]}),
            json!({"serialNumbers": [serial(0)]}),
            9718,
        ),
        (
            "assets/revoke",
            json!({"serialNumbers": null, "clientUserIds": null}),
            json!({}),
            9719,
        ),
        ("users/create", json!({"users": null}), json!({}), 9720),
    ];
    for (path, with_null, without, number) in cases {
        let missing = api.post(path, without).await;
        assert_error(&missing, bad, number, path);
        let null = api.post(path, with_null).await;
        assert_eq!(null, missing, "{path}: null answered like missing");
    }
    // A null beside a real list is ignored: the write goes through.
    let (status, body) = api
        .post(
            "assets/associate",
            json!({"assets": asset, "serialNumbers": [serial(0)], "clientUserIds": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["eventId"].is_string());
    // A null member of a user is a missing member too.
    let (status, body) = api
        .post(
            "users/create",
            json!({"users": [{"clientUserId": "go-user", "email": null, "managedAppleId": null}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
