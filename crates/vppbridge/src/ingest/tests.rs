use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::events::notification::{Action, Outcome};

fn envelope(kind: &str, notification: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "notification": notification,
        "notificationId": "01654971-0d81-467a-9e62-bf8e15e8dabd",
        "notificationType": kind,
        "uId": "2049025000431439",
    }))
    .unwrap()
}

fn err(body: &[u8]) -> IngestError {
    parse_notification("school", body).expect_err("the body is refused")
}

#[test]
fn asset_management_example_is_normalised_with_lower_case_action_and_result() {
    let raw = json!({
        "assignments": [
            {"adamId": "408709785", "pricingParam": "STDQ", "serialNumber": "C02XXXXXXX"},
            {"adamId": 408709785, "pricingParam": "STDQ", "clientUserId": "client-100"}
        ],
        "eventId": "87cbc650-16cc-4f9e-a833-e622f377a9f7",
        "result": "SUCCESS",
        "type": "ASSOCIATE"
    });
    let n = parse_notification("school", &envelope("ASSET_MANAGEMENT", raw.clone())).unwrap();
    let Notification::AssetManagement(d) = &n else {
        panic!("{n:?}")
    };
    assert_eq!(d.action, Action::Associate);
    assert_eq!(d.result, Outcome::Success);
    assert_eq!(d.event_id, "87cbc650-16cc-4f9e-a833-e622f377a9f7");
    assert_eq!(d.assignments[1].adam_id, "408709785");
    assert_eq!(
        d.assignments[1].client_user_id.as_deref(),
        Some("client-100")
    );
    assert_eq!(
        d.assignments[0].serial_number.as_deref(),
        Some("C02XXXXXXX")
    );
    assert_eq!(d.raw, raw, "raw is Apple's object unchanged");
    assert_eq!(d.meta.location, "school");
    assert_eq!(n.subject().as_deref(), Some(d.event_id.as_str()));
    let data = n.data_json();
    assert_eq!(data["action"], "associate");
    assert_eq!(data["result"], "success");
    assert_eq!(data["uId"], "2049025000431439");
}

#[test]
fn asset_management_failure_carries_the_error() {
    let raw = json!({"assignments": [], "error": {"errorNumber": 9709,
        "errorMessage": "There aren't enough assets available to complete this association."},
        "eventId": "f743928c", "result": "FAILURE", "type": "ASSOCIATE"});
    let Notification::AssetManagement(d) =
        parse_notification("s", &envelope("ASSET_MANAGEMENT", raw)).unwrap()
    else {
        panic!()
    };
    assert_eq!(d.result, Outcome::Failure);
    let e = d.error.unwrap();
    assert_eq!(e.error_number, 9709);
    assert!(e.error_message.starts_with("There aren't"));
}

#[test]
fn asset_count_example_keeps_a_negative_delta() {
    let raw = json!({"adamId": "408709785", "countDelta": -12, "pricingParam": "STDQ"});
    let n = parse_notification("s", &envelope("ASSET_COUNT", raw)).unwrap();
    let Notification::AssetCount(d) = &n else {
        panic!()
    };
    assert_eq!(d.count_delta, -12);
    assert_eq!(d.adam_id, "408709785");
    assert_eq!(n.subject().as_deref(), Some("408709785"));
}

#[test]
fn user_management_example_lists_users() {
    let raw = json!({"eventId": "e0def1f8-9158-4343-9c52-8dd32da50b9b", "result": "SUCCESS",
        "type": "CREATE", "users": [{"clientUserId": "client-100", "email": "client-100@apple.com",
        "inviteCode": "f551b37da07146628e8dcbe0111f0364", "status": "Registered"}]});
    let Notification::UserManagement(d) =
        parse_notification("s", &envelope("USER_MANAGEMENT", raw)).unwrap()
    else {
        panic!()
    };
    assert_eq!(d.action, Action::Create);
    assert_eq!(d.users[0].client_user_id, "client-100");
    assert_eq!(d.users[0].status, "Registered");
}

#[test]
fn user_associated_example_lists_the_associated_users() {
    let raw = json!({"associatedUsers": [{"clientUserId": "client-100", "email": "client-100@apple.com",
        "idHash": "leSKk3IaE2vk2KLmv2k3/200D3=", "inviteCode": "f551b37d", "status": "Associated"}]});
    let n = parse_notification("s", &envelope("USER_ASSOCIATED", raw)).unwrap();
    let Notification::UserAssociated(d) = &n else {
        panic!()
    };
    assert_eq!(
        d.users[0].id_hash.as_deref(),
        Some("leSKk3IaE2vk2KLmv2k3/200D3=")
    );
    assert_eq!(n.subject(), None);
}

#[test]
fn subscription_types_turn_integer_adam_ids_into_strings() {
    let raw = json!({"parentAdamId": 54321, "adamId": 12345, "counts": {"available":
        {"renewing": 1, "expiring": 2}, "total": {"renewing": 3, "expiring": 4}}});
    let Notification::SubscriptionCount(d) =
        parse_notification("s", &envelope("SUBSCRIPTION_COUNT", raw)).unwrap()
    else {
        panic!()
    };
    assert_eq!(d.adam_id, "12345");
    assert_eq!(d.parent_adam_id.as_deref(), Some("54321"));
    let raw = json!({"assignments": [{"adamId": 12345, "clientUserId": "u1", "renewing": true}],
        "eventId": "ev", "result": "SUCCESS", "type": "ASSOCIATE"});
    let Notification::SubscriptionManagement(d) =
        parse_notification("s", &envelope("SUBSCRIPTION_MANAGEMENT", raw)).unwrap()
    else {
        panic!()
    };
    assert_eq!(d.assignments[0].adam_id, "12345");
    assert_eq!(d.action.as_deref(), Some("associate"));
    assert_eq!(d.result, Some(Outcome::Success));
}

#[test]
fn unknown_types_are_kept_whole() {
    let raw = json!({"whatever": [1, {"x": "y"}]});
    let n = parse_notification("s", &envelope("UNLIMITED_ASSET", raw.clone())).unwrap();
    let Notification::Unknown(d) = &n else {
        panic!()
    };
    assert_eq!(d.raw, raw);
    assert_eq!(d.meta.notification_type, "UNLIMITED_ASSET");
    assert_eq!(n.kind(), "unknown");
}

#[test]
fn conformance_notifications_are_each_read_as_their_type() {
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "test notification",
            include_bytes!("../../../../fixtures/conformance/server_token_test_notification.json"),
            "test_notification",
        ),
        (
            "asset count",
            include_bytes!(
                "../../../../fixtures/conformance/server_token_asset_count_notification.json"
            ),
            "asset_count",
        ),
        (
            "associate",
            include_bytes!(
                "../../../../fixtures/conformance/server_token_associate_success_notification.json"
            ),
            "asset_management",
        ),
        (
            "disassociate",
            include_bytes!(
                "../../../../fixtures/conformance/server_token_disassociate_success_notification.json"
            ),
            "asset_management",
        ),
    ];
    for (what, body, kind) in cases {
        let n = parse_notification("zentral", body).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(n.kind(), kind, "{what}");
        assert_eq!(n.meta().u_id, "981060278089131045", "{what}");
    }
    let Notification::AssetManagement(d) = parse_notification(
        "z",
        include_bytes!(
            "../../../../fixtures/conformance/server_token_disassociate_success_notification.json"
        ),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(d.action, Action::Disassociate);
    assert_eq!(
        d.assignments[0].serial_number.as_deref(),
        Some("C02000000000")
    );
    let Notification::AssetCount(d) = parse_notification(
        "z",
        include_bytes!(
            "../../../../fixtures/conformance/server_token_asset_count_notification.json"
        ),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!((d.adam_id.as_str(), d.count_delta), ("361304891", 1));
}

#[test]
fn each_bad_body_is_refused_naming_the_field() {
    let ok = |n: serde_json::Value| envelope("ASSET_COUNT", n);
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("not json", b"{nope".to_vec(), None),
        ("an array", b"[]".to_vec(), None),
        ("no notificationId", br#"{"notificationType":"X","uId":"1","notification":{}}"#.to_vec(), Some("notificationId")),
        ("numeric uId", br#"{"notificationId":"a","notificationType":"X","uId":1,"notification":{}}"#.to_vec(), Some("uId")),
        ("empty type", br#"{"notificationId":"a","notificationType":"","uId":"1","notification":{}}"#.to_vec(), Some("notificationType")),
        ("notification a string", br#"{"notificationId":"a","notificationType":"X","uId":"1","notification":"x"}"#.to_vec(), Some("notification")),
        ("no countDelta", ok(json!({"adamId": "1"})), Some("notification.countDelta")),
        ("countDelta a string", ok(json!({"adamId": "1", "countDelta": "3"})), Some("notification.countDelta")),
        ("countDelta overflows", br#"{"notificationId":"a","notificationType":"ASSET_COUNT","uId":"1","notification":{"adamId":"1","countDelta":99999999999999999999}}"#.to_vec(), Some("notification.countDelta")),
        ("negative adamId", ok(json!({"adamId": -1, "countDelta": 1})), Some("notification.adamId")),
        ("bad action", envelope("ASSET_MANAGEMENT", json!({"eventId": "e", "result": "SUCCESS", "type": "CREATE"})), Some("notification.type")),
        ("bad result", envelope("ASSET_MANAGEMENT", json!({"eventId": "e", "result": "MAYBE", "type": "ASSOCIATE"})), Some("notification.result")),
        ("assignment without target", envelope("ASSET_MANAGEMENT", json!({"eventId": "e", "result": "SUCCESS", "type": "ASSOCIATE", "assignments": [{"adamId": "1"}]})), Some("notification.assignments[0].serialNumber")),
        ("errorNumber overflows i32", envelope("ASSET_MANAGEMENT", json!({"eventId": "e", "result": "FAILURE", "type": "ASSOCIATE", "error": {"errorNumber": 5_000_000_000i64}})), Some("notification.error.errorNumber")),
        ("user without id", envelope("USER_ASSOCIATED", json!({"associatedUsers": [{"email": "x"}]})), Some("notification.associatedUsers[0].clientUserId")),
        ("id with a newline", br#"{"notificationId":"a\nb","notificationType":"X","uId":"1","notification":{}}"#.to_vec(), Some("notificationId")),
    ];
    for (what, body, field) in cases {
        let e = err(&body);
        assert_eq!(e.field.as_deref(), field, "{what}: {e}");
    }
}

#[test]
fn duplicate_keys_are_refused_at_any_level() {
    let top = br#"{"notificationId":"a","notificationId":"b","notificationType":"X","uId":"1","notification":{}}"#;
    let e = err(top);
    assert!(e.detail.contains("duplicate key `notificationId`"), "{e}");
    let nested = br#"{"notificationId":"a","notificationType":"ASSET_COUNT","uId":"1","notification":{"adamId":"1","countDelta":1,"countDelta":2}}"#;
    let e = err(nested);
    assert!(e.detail.contains("notification.countDelta"), "{e}");
}

#[test]
fn invalid_utf8_and_deep_nesting_are_refused() {
    let mut body =
        br#"{"notificationId":"a","notificationType":"X","uId":"1","notification":{"k":""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(br#""}}"#);
    assert!(err(&body).detail.contains("UTF-8"));

    let deep = format!(
        r#"{{"notificationId":"a","notificationType":"X","uId":"1","notification":{{"k":{}1{}}}}}"#,
        "[".repeat(MAX_DEPTH),
        "]".repeat(MAX_DEPTH)
    );
    assert!(
        err(deep.as_bytes()).detail.contains("nesting deeper"),
        "deep"
    );
    let fine = format!(
        r#"{{"notificationId":"a","notificationType":"X","uId":"1","notification":{{"k":{}1{}}}}}"#,
        "[".repeat(MAX_DEPTH - 3),
        "]".repeat(MAX_DEPTH - 3)
    );
    assert!(parse_notification("s", fine.as_bytes()).is_ok());
}

#[test]
fn outgoing_event_has_the_contract_subject_id_and_attributes() {
    let n = parse_notification(
        "school",
        &envelope("ASSET_COUNT", json!({"adamId": "1", "countDelta": 2})),
    )
    .unwrap();
    let t = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    let out = outgoing(&n, t).unwrap();
    assert_eq!(out.subject, "vpp.notifications.school.asset_count");
    assert_eq!(out.msg_id, "school:01654971-0d81-467a-9e62-bf8e15e8dabd");
    let v: serde_json::Value = serde_json::from_slice(&out.payload).unwrap();
    assert_eq!(v["specversion"], "1.0");
    assert_eq!(v["id"], out.msg_id.as_str());
    assert_eq!(v["source"], "vppbridge/school");
    assert_eq!(v["type"], "vppbridge.notification.asset_count.v1");
    assert_eq!(v["time"], "2026-01-02T03:04:05.000Z");
    assert_eq!(v["datacontenttype"], "application/json");
    assert_eq!(v["subject"], "1");
    assert_eq!(v["data"]["pricingParam"], "STDQ");
    assert_eq!(v["data"]["notificationType"], "ASSET_COUNT");
}

#[test]
fn values_the_worker_cannot_key_and_absurd_deltas_are_refused_naming_the_field() {
    let count = |v: serde_json::Value| envelope("ASSET_COUNT", v);
    let manage = |a: serde_json::Value| {
        envelope(
            "ASSET_MANAGEMENT",
            json!({"assignments": [a], "eventId": "e", "result": "SUCCESS", "type": "ASSOCIATE"}),
        )
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "adamId with a dot",
            count(json!({"adamId": "1.2", "countDelta": 1})),
            "notification.adamId",
        ),
        (
            "adamId wildcard",
            count(json!({"adamId": ">", "countDelta": 1})),
            "notification.adamId",
        ),
        (
            "pricingParam with a space",
            count(json!({"adamId": "1", "pricingParam": "ST DQ", "countDelta": 1})),
            "notification.pricingParam",
        ),
        (
            "pricingParam empty",
            count(json!({"adamId": "1", "pricingParam": "", "countDelta": 1})),
            "notification.pricingParam",
        ),
        (
            "delta beyond the bound",
            count(json!({"adamId": "1", "countDelta": MAX_COUNT_DELTA + 1})),
            "notification.countDelta",
        ),
        (
            "delta i64::MIN",
            count(json!({"adamId": "1", "countDelta": i64::MIN})),
            "notification.countDelta",
        ),
        (
            "assignment adamId",
            manage(json!({"adamId": "a*b", "serialNumber": "S"})),
            "notification.assignments[0].adamId",
        ),
        (
            "assignment empty serial",
            manage(json!({"adamId": "1", "serialNumber": ""})),
            "notification.assignments[0].serialNumber",
        ),
        (
            "user empty id",
            envelope(
                "USER_MANAGEMENT",
                json!({"users": [{"clientUserId": ""}], "eventId": "e", "result": "SUCCESS", "type": "CREATE"}),
            ),
            "notification.users[0].clientUserId",
        ),
        (
            "subscription adamId",
            envelope("SUBSCRIPTION_COUNT", json!({"adamId": "x.y", "counts": {}})),
            "notification.adamId",
        ),
    ];
    for (what, body, field) in cases {
        let e = err(&body);
        assert_eq!(e.field.as_deref(), Some(field), "{what}: {e}");
    }
    let edge = count(json!({"adamId": "1", "countDelta": -MAX_COUNT_DELTA}));
    assert!(
        parse_notification("school", &edge).is_ok(),
        "the bound itself is accepted"
    );
}
