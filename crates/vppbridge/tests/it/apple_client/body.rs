//! The client's cap on response bodies.

use apple_vpp::{AppleClient, AppleError};
use serde_json::json;

use super::fake::{Answer, Fake};
use super::{config, token};

#[tokio::test]
async fn a_body_larger_than_the_cap_is_an_error_and_not_retried() {
    // A valid Event Status answer padded past the cap: the client must stop reading, not
    // decode it.
    let padding = "x".repeat(64 * 1024);
    let fake = Fake::start(move |_, _| {
        Answer::ok(json!({"eventStatus": "COMPLETE", "eventType": "ASSOCIATE",
            "numRequested": 1, "numCompleted": 1, "uId": "1", "padding": padding}))
    })
    .await;
    let mut cfg = config(fake.base_url());
    cfg.max_response_bytes = 16 * 1024;
    let c = AppleClient::new(&cfg, token(), None).unwrap();
    let err = c.event_status("e1").await.unwrap_err();
    assert!(
        matches!(err, AppleError::Unexpected { .. }),
        "not a plain error: {err:?}"
    );
    assert!(err.to_string().contains("max_response_bytes"), "{err}");
    assert_eq!(
        fake.requests().len(),
        1,
        "an oversized answer is not retried"
    );
    // The same answer under the default cap is read.
    let c = AppleClient::new(&config(fake.base_url()), token(), None).unwrap();
    c.event_status("e2").await.unwrap();
}
