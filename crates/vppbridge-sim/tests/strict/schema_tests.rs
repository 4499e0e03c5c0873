//! The strict checks themselves can fail: each kind of departure from apple-api.md is refused.

use serde_json::json;

use super::schema::{self, violations};

fn event() -> serde_json::Value {
    json!({"eventId": "e1", "uId": "2049025000431439",
           "tokenExpirationDate": "2030-11-08T22:33:22+0000"})
}

#[test]
fn a_documented_answer_passes() {
    assert_eq!(
        violations(&event(), &schema::EVENT_RESPONSE),
        Vec::<String>::new()
    );
}

#[test]
fn each_departure_from_the_document_is_refused_naming_the_field() {
    let cases = [
        ("an unknown field", "removedAssignments", json!([])),
        ("a missing uId", "uId", serde_json::Value::Null),
        (
            "a date with a colon offset",
            "tokenExpirationDate",
            json!("2030-11-08T22:33:22+00:00"),
        ),
        ("a number for a string", "eventId", json!(7)),
        (
            "an mdmInfo without metadata",
            "mdmInfo",
            json!({"id": "a", "name": "b"}),
        ),
    ];
    for (what, field, value) in cases {
        let mut body = event();
        if value.is_null() {
            body.as_object_mut().unwrap().remove(field);
        } else {
            body[field] = value;
        }
        let found = violations(&body, &schema::EVENT_RESPONSE);
        assert!(
            found.iter().any(|v| v.contains(field)),
            "{what} not refused: {found:?}"
        );
    }
}

#[test]
fn values_outside_the_documented_sets_are_refused() {
    let asset = json!({"adamId": "1", "pricingParam": "GOLD", "productType": "App",
        "assignedCount": 1, "availableCount": 4_294_967_296_i64, "retiredCount": 0,
        "totalCount": 1, "deviceAssignable": "yes", "revocable": true,
        "supportedPlatforms": ["Android"]});
    let found = violations(&asset, &schema::RESPONSE_ASSET);
    for field in [
        "pricingParam",
        "availableCount",
        "deviceAssignable",
        "supportedPlatforms[0]",
    ] {
        assert!(
            found.iter().any(|v| v.contains(field)),
            "{field}: {found:?}"
        );
    }
}
