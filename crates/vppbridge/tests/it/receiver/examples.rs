//! Notification bodies: apple-api.md's example of each type and the conformance files.

use serde_json::{Value, json};

pub fn envelope(id: &str, kind: &str, notification: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "notification": notification, "notificationId": id,
        "notificationType": kind, "uId": "2049025000431439"
    }))
    .unwrap()
}

/// apple-api.md §5's example of each type, one unknown type, and the four conformance files:
/// (body, expected kind, notification id).
pub fn every_example() -> Vec<(Vec<u8>, &'static str, String)> {
    let mut v = vec![
        (
            envelope(
                "01654971-0d81-467a-9e62-bf8e15e8dabd",
                "ASSET_MANAGEMENT",
                json!({
            "assignments": [
                {"adamId": "408709785", "pricingParam": "STDQ", "serialNumber": "C02XXXXXXX"},
                {"adamId": "408709785", "pricingParam": "STDQ", "clientUserId": "client-100"}],
            "eventId": "87cbc650-16cc-4f9e-a833-e622f377a9f7", "result": "SUCCESS", "type": "ASSOCIATE"}),
            ),
            "asset_management",
            "01654971-0d81-467a-9e62-bf8e15e8dabd".to_owned(),
        ),
        (
            envelope(
                "eba66-1bc1-4285-aa0a-7256293c5ca7",
                "ASSET_MANAGEMENT",
                json!({
            "assignments": [{"adamId": "408709785", "pricingParam": "STDQ", "clientUserId": "client-1"}],
            "error": {"errorNumber": 9709, "errorMessage": "There aren't enough assets available to complete this association."},
            "eventId": "f743928c-0000", "result": "FAILURE", "type": "ASSOCIATE"}),
            ),
            "asset_management",
            "eba66-1bc1-4285-aa0a-7256293c5ca7".to_owned(),
        ),
        (
            envelope(
                "n-count",
                "ASSET_COUNT",
                json!({"adamId": "408709785", "countDelta": -12, "pricingParam": "STDQ"}),
            ),
            "asset_count",
            "n-count".to_owned(),
        ),
        (
            envelope(
                "n-users",
                "USER_MANAGEMENT",
                json!({
            "eventId": "e0def1f8-9158-4343-9c52-8dd32da50b9b", "result": "SUCCESS", "type": "CREATE",
            "users": [{"clientUserId": "client-100", "email": "client-100@apple.com",
                       "inviteCode": "f551b37da07146628e8dcbe0111f0364", "status": "Registered"}]}),
            ),
            "user_management",
            "n-users".to_owned(),
        ),
        (
            envelope(
                "n-assoc",
                "USER_ASSOCIATED",
                json!({"associatedUsers": [{"clientUserId": "client-100",
            "email": "client-100@apple.com", "idHash": "leSKk3IaE2vk2KLmv2k3/200D3=",
            "inviteCode": "f551b37d", "status": "Associated"}]}),
            ),
            "user_associated",
            "n-assoc".to_owned(),
        ),
        (
            envelope("n-test", "TEST_NOTIFICATION", json!({})),
            "test_notification",
            "n-test".to_owned(),
        ),
        (
            envelope(
                "n-subcount",
                "SUBSCRIPTION_COUNT",
                json!({"parentAdamId": 54321, "adamId": 12345,
            "counts": {"available": {"renewing": 1, "expiring": 2}, "total": {"renewing": 3, "expiring": 4}}}),
            ),
            "subscription_count",
            "n-subcount".to_owned(),
        ),
        (
            envelope(
                "n-subman",
                "SUBSCRIPTION_MANAGEMENT",
                json!({
            "assignments": [{"adamId": 12345, "clientUserId": "client-1", "renewing": true}],
            "eventId": "ev-sub", "result": "SUCCESS", "type": "ASSOCIATE"}),
            ),
            "subscription_management",
            "n-subman".to_owned(),
        ),
        (
            envelope(
                "n-unlimited",
                "UNLIMITED_ASSET",
                json!({"anything": [1, 2, {"x": null}]}),
            ),
            "unknown",
            "n-unlimited".to_owned(),
        ),
    ];
    for (file, kind) in [
        ("server_token_test_notification.json", "test_notification"),
        ("server_token_asset_count_notification.json", "asset_count"),
        (
            "server_token_associate_success_notification.json",
            "asset_management",
        ),
        (
            "server_token_disassociate_success_notification.json",
            "asset_management",
        ),
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/conformance")
            .join(file);
        let body = std::fs::read(path).unwrap();
        let id = serde_json::from_slice::<Value>(&body).unwrap()["notificationId"]
            .as_str()
            .unwrap()
            .to_owned();
        v.push((body, kind, id));
    }
    v
}
