//! Client Config's documented validation errors (apple-api.md §4.2), through the strict
//! client; a refused Client Config stores nothing.

use serde_json::json;

use super::errors::expect;
use super::{Receiver, schema, start};

/// A Client Config body with only this `mdmInfo`.
fn mdm(id: String, name: String, metadata: String) -> serde_json::Value {
    json!({"mdmInfo": {"id": id, "name": name, "metadata": metadata}})
}

#[tokio::test]
async fn client_config_answers_its_documented_validation_errors() {
    let env = start().await;
    let (_receiver, url) = Receiver::start().await;
    let max = env.strict.limit("maxNotificationLength");
    let long = |n: usize| "x".repeat(n + 1);
    let s = &env.strict;
    let cases = [
        ("an array for a body", json!([]), 9602),
        (
            "mdmInfo without metadata",
            json!({"mdmInfo": {"id": "a", "name": "b"}}),
            9723,
        ),
        (
            "mdmInfo with a null name",
            json!({"mdmInfo": {"id": "a", "name": null, "metadata": "c"}}),
            9723,
        ),
        (
            "mdmInfo id too long",
            mdm(long(s.limit("maxMdmIdLength")), "b".into(), "c".into()),
            9724,
        ),
        (
            "mdmInfo name too long",
            mdm("a".into(), long(s.limit("maxMdmNameLength")), "c".into()),
            9725,
        ),
        (
            "mdmInfo metadata too long",
            mdm(
                "a".into(),
                "b".into(),
                long(s.limit("maxMdmMetadataLength")),
            ),
            9713,
        ),
        (
            "a URL without a token",
            json!({"notificationUrl": url}),
            9710,
        ),
        (
            "a token without a URL",
            json!({"notificationAuthToken": "t"}),
            9710,
        ),
        (
            "a URL too long",
            json!({
                "notificationUrl": format!("{url}?{}", long(max)),
                "notificationAuthToken": "t",
            }),
            9711,
        ),
        (
            "a token too long",
            json!({"notificationUrl": url, "notificationAuthToken": long(max)}),
            9711,
        ),
        (
            "not a URL",
            json!({"notificationUrl": "not a url", "notificationAuthToken": "t"}),
            9712,
        ),
        (
            "not HTTP(S)",
            json!({"notificationUrl": "ftp://127.0.0.1/notify", "notificationAuthToken": "t"}),
            9712,
        ),
        (
            "a receiver that refuses the test notification",
            json!({"notificationUrl": url, "notificationAuthToken": "not-the-receivers-secret"}),
            9728,
        ),
        (
            "an unreachable URL",
            json!({"notificationUrl": "http://127.0.0.1:9/notify", "notificationAuthToken": "t"}),
            9728,
        ),
    ];
    for (what, body, number) in cases {
        let got = s.post("clientConfig", &body, &schema::CLIENT_CONFIG).await;
        expect(&format!("client config: {what}"), got, number);
    }
    let config = s
        .get("clientConfig", &[], &schema::CLIENT_CONFIG)
        .await
        .unwrap();
    assert!(
        config.get("mdmInfo").is_none() && config.get("notificationUrl").is_none(),
        "a refused Client Config stores nothing: {config}"
    );
}
