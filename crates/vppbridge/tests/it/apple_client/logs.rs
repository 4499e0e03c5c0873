//! Secrets never reach log lines or error messages, even when calls fail.

use apple_vpp::types::ClientConfigRequest;
use serde_json::json;

use super::fake::{Answer, Fake};
use super::{INNER_SECRET, client};

const NOTIFICATION_SECRET: &str = "NOTIFICATION-SECRET-do-not-log";

#[tokio::test]
async fn failing_calls_log_and_report_neither_the_content_token_nor_a_notification_secret() {
    let (logs, _guard) = crate::support::LogCapture::start();

    // Apple echoing the secrets back in error bodies, and failing in every way.
    let fake = Fake::start(|r, n| {
        let echo = format!(
            "{} {}",
            r.auth.clone().unwrap_or_default(),
            String::from_utf8_lossy(&r.body)
        );
        match (r.path.as_str(), n) {
            ("client/config", 0) => Answer::json(500, json!({"echo": echo})),
            ("client/config", _) => Answer::json(
                400,
                json!({"errorNumber": 9712, "errorMessage": echo, "notificationAuthToken": NOTIFICATION_SECRET}),
            ),
            ("assets", _) => Answer::json(404, json!({"echo": echo, "notificationAuthToken": NOTIFICATION_SECRET})),
            _ => Answer::json(401, json!({"errorNumber": 9625, "errorMessage": "revoked"})),
        }
    })
    .await;
    let c = client(&fake);
    let bearer = c.token().bearer().to_owned();
    let mut errors = Vec::new();
    let req = ClientConfigRequest {
        notification_url: Some("https://example.com/notifications/a".into()),
        notification_auth_token: Some(NOTIFICATION_SECRET.into()),
        ..Default::default()
    };
    errors.push(c.set_client_config(&req).await.unwrap_err());
    errors.push(c.assets_page(&Default::default()).await.unwrap_err());
    errors.push(c.users_page(&Default::default()).await.unwrap_err());

    let text = logs.text();
    assert!(
        text.contains("apple call will be retried"),
        "logs were captured: {text}"
    );
    assert!(text.contains("apple call failed"), "{text}");
    for e in &errors {
        let shown = format!("{e} {e:?}");
        for secret in [bearer.as_str(), INNER_SECRET, NOTIFICATION_SECRET] {
            assert!(!shown.contains(secret), "error shows a secret: {shown}");
        }
    }
    for secret in [bearer.as_str(), INNER_SECRET, NOTIFICATION_SECRET] {
        assert!(!text.contains(secret), "a log line shows a secret: {text}");
    }
}
