//! The hostile bodies: every field with values of the wrong type, and structural attacks
//! (nesting, invalid UTF-8, duplicate keys, huge numbers, smuggled headers).

use serde_json::{Value, json};

/// A valid ASSET_MANAGEMENT envelope, the base every wrong-type variant starts from.
fn asset_management(u_id: &str) -> Value {
    json!({
        "notificationId": "6e6e51b1-9e2f-42b1-affa-cddac94c8ebc",
        "notificationType": "ASSET_MANAGEMENT",
        "uId": u_id,
        "notification": {
            "type": "ASSOCIATE",
            "result": "SUCCESS",
            "eventId": "1451d195-7818-44cc-844e-efd2557084c4",
            "assignments": [
                {"adamId": "409203825", "pricingParam": "STDQ", "serialNumber": "C02000000000"}
            ]
        }
    })
}

pub fn asset_count(u_id: &str) -> Value {
    json!({
        "notificationId": "0b8e1c8f-4d8e-4a0e-9a55-2f3c4c7a1b11",
        "notificationType": "ASSET_COUNT",
        "uId": u_id,
        "notification": {"adamId": "409203825", "pricingParam": "STDQ", "countDelta": 5}
    })
}

fn user_management(u_id: &str) -> Value {
    json!({
        "notificationId": "7a6f2c10-9f6e-4c57-8c1d-3f3b2a9e0d22",
        "notificationType": "USER_MANAGEMENT",
        "uId": u_id,
        "notification": {
            "type": "CREATE",
            "result": "SUCCESS",
            "eventId": "5c0d7b4e-4c8d-4f4b-8a2e-6b3f1e2d9c33",
            "users": [{"clientUserId": "user-000001", "userId": "2131234", "status": "Registered"}]
        }
    })
}

/// Sets the value at a dotted path (`notification.assignments[0].adamId`).
fn replaced(mut body: Value, path: &str, with: Value) -> Value {
    let mut slot = &mut body;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, i)) => (k, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        slot = &mut slot[key];
        if let Some(i) = index {
            slot = &mut slot[i];
        }
    }
    *slot = with;
    body
}

/// Builds a valid body.
type Base = fn(&str) -> Value;

/// Every field of the three payloads with the values of the wrong type for it: 400 naming it.
pub fn wrong_types(u_id: &str) -> Vec<(String, Vec<u8>, String)> {
    let not_string = || vec![json!(null), json!(true), json!(12), json!([]), json!({})];
    let not_adam_id = || {
        vec![
            json!(null),
            json!(true),
            json!(-1),
            json!(1.5),
            json!([]),
            json!({}),
        ]
    };
    let not_object = || vec![json!(null), json!(true), json!(12), json!("x"), json!([])];
    // `assignments` and `users` may be left out, and null reads as left out.
    let not_array = || vec![json!(true), json!(12), json!("x"), json!({})];
    let not_integer = || {
        vec![
            json!(null),
            json!(true),
            json!(1.5),
            json!("5"),
            json!([]),
            json!({}),
        ]
    };
    let cases: Vec<(Base, &str, Vec<Value>)> = vec![
        (asset_management, "notificationId", not_string()),
        (asset_management, "notificationType", not_string()),
        (asset_management, "uId", not_string()),
        (asset_management, "notification", not_object()),
        (asset_management, "notification.type", not_string()),
        (asset_management, "notification.result", not_string()),
        (asset_management, "notification.eventId", not_string()),
        (asset_management, "notification.assignments", not_array()),
        (
            asset_management,
            "notification.assignments[0]",
            not_object(),
        ),
        (
            asset_management,
            "notification.assignments[0].adamId",
            not_adam_id(),
        ),
        (
            asset_management,
            "notification.assignments[0].pricingParam",
            vec![json!(true), json!(12), json!([]), json!({})],
        ),
        (
            asset_management,
            "notification.assignments[0].serialNumber",
            vec![json!(true), json!(12), json!([]), json!({})],
        ),
        (asset_count, "notification.adamId", not_adam_id()),
        (asset_count, "notification.countDelta", not_integer()),
        (user_management, "notification.type", not_string()),
        (user_management, "notification.users", not_array()),
        (user_management, "notification.users[0]", not_object()),
        (
            user_management,
            "notification.users[0].clientUserId",
            not_string(),
        ),
    ];
    let mut out = Vec::new();
    for (base, path, values) in cases {
        for v in values {
            let name = format!("{path} = {v}");
            let body = serde_json::to_vec(&replaced(base(u_id), path, v)).unwrap();
            out.push((name, body, path.to_owned()));
        }
    }
    out
}

/// Hostile bodies that must get 400 (the structural ones name no field).
pub fn malformed(u_id: &str) -> Vec<(&'static str, Vec<u8>)> {
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut deep_inside = asset_management(u_id);
    let mut nested = json!(1);
    for _ in 0..40 {
        nested = json!({ "x": nested });
    }
    deep_inside["notification"]["extra"] = nested;
    let mut bad_utf8 = serde_json::to_vec(&asset_management(u_id)).unwrap();
    let at = bad_utf8
        .windows(4)
        .position(|w| w == b"6e6e")
        .expect("the id is in the body");
    bad_utf8.splice(at..at + 2, [0xC3, 0x28]);
    let mut bad_key = serde_json::to_vec(&asset_count(u_id)).unwrap();
    let at = bad_key.windows(5).position(|w| w == b"count").unwrap();
    bad_key.splice(at..at + 1, [0xFF]);
    let envelope = |notification: &str| {
        format!(
            r#"{{"notificationId":"n-1","notificationType":"ASSET_COUNT","uId":"{u_id}","notification":{notification}}}"#
        )
        .into_bytes()
    };
    vec![
        ("100,000 nested arrays", deep_array.into_bytes()),
        (
            "40 nested objects inside the notification",
            serde_json::to_vec(&deep_inside).unwrap(),
        ),
        ("invalid UTF-8 in a string", bad_utf8),
        ("invalid UTF-8 in a key", bad_key),
        (
            "duplicate top-level notificationId",
            format!(r#"{{"notificationId":"a","notificationId":"b","notificationType":"TEST_NOTIFICATION","uId":"{u_id}","notification":{{}}}}"#).into_bytes(),
        ),
        (
            "duplicate key inside an assignment",
            format!(r#"{{"notificationId":"a","notificationType":"ASSET_MANAGEMENT","uId":"{u_id}","notification":{{"type":"ASSOCIATE","result":"SUCCESS","eventId":"e","assignments":[{{"adamId":"1","adamId":"2","pricingParam":"STDQ","serialNumber":"S"}}]}}}}"#).into_bytes(),
        ),
        (
            "adamId beyond u64",
            envelope(r#"{"adamId":123456789012345678901234567890,"pricingParam":"STDQ","countDelta":1}"#),
        ),
        (
            "countDelta beyond i64",
            envelope(r#"{"adamId":"1","pricingParam":"STDQ","countDelta":99999999999999999999}"#),
        ),
        (
            "countDelta 1e400",
            envelope(r#"{"adamId":"1","pricingParam":"STDQ","countDelta":1e400}"#),
        ),
        (
            "notificationId carrying a header",
            format!("{{\"notificationId\":\"a\\r\\nNats-Msg-Id: school:b\",\"notificationType\":\"TEST_NOTIFICATION\",\"uId\":\"{u_id}\",\"notification\":{{}}}}").into_bytes(),
        ),
        (
            "notificationId of 10,000 characters",
            format!(r#"{{"notificationId":"{}","notificationType":"TEST_NOTIFICATION","uId":"{u_id}","notification":{{}}}}"#, "x".repeat(10_000)).into_bytes(),
        ),
        ("empty body", Vec::new()),
        ("a JSON string", br#""notification""#.to_vec()),
        ("two JSON objects", b"{}{}".to_vec()),
        ("truncated JSON", br#"{"notificationId":"a","notif"#.to_vec()),
    ]
}
