use std::path::PathBuf;

use chrono::{Duration, TimeZone, Utc};

use super::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/tokens")
        .join(name)
}

#[test]
fn a_valid_token_parses_and_its_bearer_is_the_whole_base64_text() {
    let text = std::fs::read_to_string(fixture("valid.vpptoken")).unwrap();
    let t = ContentToken::from_file(&fixture("valid.vpptoken")).unwrap();
    assert_eq!(t.org_name, "Fixture School");
    assert_eq!(
        t.expires_at,
        Utc.with_ymd_and_hms(2099, 11, 8, 22, 33, 22).unwrap()
    );
    assert_eq!(t.bearer(), text.trim());
}

#[test]
fn key_order_and_surrounding_whitespace_do_not_matter() {
    let t = ContentToken::from_file(&fixture("valid_key_order_and_whitespace.vpptoken")).unwrap();
    assert_eq!(t.org_name, "ORG12345");
    assert!(!t.bearer().contains(char::is_whitespace));
}

type Case = (&'static str, fn(&TokenError) -> bool, &'static str);

#[test]
fn each_wrong_file_is_recognised_for_what_it_is() {
    let cases: [Case; 11] = [
        (
            "empty.vpptoken",
            |e| matches!(e, TokenError::Empty),
            "empty",
        ),
        (
            "ade_server_token_smime.p7m",
            |e| matches!(e, TokenError::AdeServerToken { .. }),
            "Device Enrollment",
        ),
        (
            "ade_server_token_der_smime.p7m",
            |e| matches!(e, TokenError::AdeServerToken { .. }),
            "DER",
        ),
        (
            "ade_server_token.pem.p7m",
            |e| matches!(e, TokenError::AdeServerToken { .. }),
            "PEM-encoded PKCS#7",
        ),
        (
            "certificate.pem",
            |e| matches!(e, TokenError::Pem { .. }),
            "certificate",
        ),
        (
            "private_key.pem",
            |e| matches!(e, TokenError::Pem { .. }),
            "private key",
        ),
        (
            "not_base64.vpptoken",
            |e| matches!(e, TokenError::NotBase64),
            "not Base64",
        ),
        (
            "base64_not_json.vpptoken",
            |e| matches!(e, TokenError::NotJson),
            "not decode to JSON",
        ),
        (
            "missing_fields.vpptoken",
            |e| matches!(e, TokenError::MissingFields { .. }),
            "expDate",
        ),
        (
            "bad_date.vpptoken",
            |e| matches!(e, TokenError::BadDate { .. }),
            "next tuesday",
        ),
        (
            "decoded_json.vpptoken",
            |e| matches!(e, TokenError::DecodedJson),
            "as downloaded",
        ),
    ];
    for (file, is, says) in cases {
        let err = ContentToken::from_file(&fixture(file)).unwrap_err();
        assert!(is(err.kind()), "{file}: got {err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(says),
            "{file}: message {msg:?} should say {says:?}"
        );
        assert!(
            msg.contains(file),
            "{file}: message {msg:?} should name the file"
        );
        assert!(
            msg.contains(".vpptoken")
                || matches!(err.kind(), TokenError::BadDate { .. })
                || msg.contains("Apps and Books"),
            "{file}: message {msg:?} should say which file to use"
        );
    }
}

#[test]
fn a_missing_file_is_unreadable_and_named() {
    let err = ContentToken::from_file(&fixture("nope.vpptoken")).unwrap_err();
    assert!(matches!(err, TokenError::Unreadable { .. }));
    assert!(err.to_string().contains("nope.vpptoken"));
}

#[test]
fn encode_round_trips_and_nothing_prints_the_secret() {
    let exp = Utc.with_ymd_and_hms(2031, 1, 2, 3, 4, 5).unwrap();
    let text = ContentToken::encode("Sim Org", exp, "inner-secret-value");
    let t = ContentToken::parse(&format!("\n{text}\n")).unwrap();
    assert_eq!((t.org_name.as_str(), t.expires_at), ("Sim Org", exp));
    assert_eq!(t.bearer(), text);
    let debug = format!("{t:?}");
    assert!(!debug.contains(&text) && !debug.contains("inner-secret-value"));
}

#[test]
fn status_says_valid_expiring_or_expired() {
    let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let at = |d: Duration| ContentToken::parse(&ContentToken::encode("o", now + d, "s")).unwrap();
    assert_eq!(at(Duration::days(31)).status(now), TokenStatus::Valid);
    assert_eq!(at(Duration::days(29)).status(now), TokenStatus::ExpiresSoon);
    assert_eq!(at(Duration::days(-1)).status(now), TokenStatus::Expired);
    assert_eq!(at(Duration::days(29)).days_left(now), 29);
}
