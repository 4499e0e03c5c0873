//! Turning one HTTP answer from Apple into either a JSON body or a typed [`AppleError`].
//!
//! Pure: no I/O. Every body is checked for a non-zero `errorNumber` whatever the HTTP status
//! (Apple has been seen answering 200 with an error body). Excerpts of unexpected bodies are
//! redacted: they never carry the content token or a notification secret.

use std::time::Duration;

use serde_json::Value;

use super::error::AppleError;
use super::types::ResponseErrorInfo;

/// Longest body excerpt kept in [`AppleError::Unexpected`].
const EXCERPT_CHARS: usize = 300;

/// JSON keys whose values are secrets, redacted from excerpts.
const SECRET_KEYS: [&str; 3] = ["notificationAuthToken", "token", "sToken"];

/// Classifies one answer. `secrets` (the content token, a notification secret being sent) are
/// removed from every text the error carries, even Apple's own messages.
///
/// # Errors
/// The [`AppleError`] the answer stands for.
pub fn classify(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    secrets: &[&str],
) -> Result<Value, AppleError> {
    classify_raw(status, retry_after, body, secrets).map_err(|e| scrub(e, secrets))
}

fn classify_raw(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    secrets: &[&str],
) -> Result<Value, AppleError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(err) = parsed.as_ref().and_then(error_in_body) {
        return Err(from_error_number(err, retry_after));
    }
    match status {
        429 => Err(AppleError::RateLimited { retry_after }),
        403 => Err(AppleError::Permission {
            error_number: None,
            message: excerpt(body, secrets),
        }),
        500..=599 => Err(AppleError::Transient {
            detail: format!("HTTP {status}"),
            retry_after,
        }),
        200..=299 => parsed.ok_or_else(|| AppleError::Unexpected {
            status,
            body_excerpt: format!("not JSON: {}", excerpt(body, secrets)),
        }),
        _ => Err(AppleError::Unexpected {
            status,
            body_excerpt: excerpt(body, secrets),
        }),
    }
}

/// Apple's error fields, when the body carries a non-zero `errorNumber`.
struct BodyError {
    number: i64,
    message: String,
    info: Option<ResponseErrorInfo>,
}

fn error_in_body(v: &Value) -> Option<BodyError> {
    let obj = v.as_object()?;
    let number = match obj.get("errorNumber")? {
        Value::Number(n) => n.as_i64()?,
        // Tolerate a quoted number; Apple's models say int32 but clients have seen strings.
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    if number == 0 {
        return None;
    }
    Some(BodyError {
        number,
        message: obj
            .get("errorMessage")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        info: obj
            .get("errorInfo")
            .and_then(|i| serde_json::from_value(i.clone()).ok()),
    })
}

fn from_error_number(e: BodyError, retry_after: Option<Duration>) -> AppleError {
    let Ok(n) = i32::try_from(e.number) else {
        return AppleError::Unexpected {
            status: 0,
            body_excerpt: format!("errorNumber {} out of range: {}", e.number, e.message),
        };
    };
    match n {
        9621 => AppleError::TokenExpired,
        9625 => AppleError::TokenRevoked,
        9601 | 9622 | 9722 => AppleError::TokenInvalid {
            error_number: n,
            message: e.message,
        },
        9637 | 9647 => AppleError::Permission {
            error_number: Some(n),
            message: e.message,
        },
        9646 => AppleError::RateLimited { retry_after },
        9603 | 9644 | 9729 => AppleError::Transient {
            detail: format!("Apple error {n}: {}", e.message),
            retry_after,
        },
        9000..=9999 => AppleError::Validation {
            error_number: n,
            message: e.message,
            error_info: e.info,
        },
        _ => AppleError::Unexpected {
            status: 0,
            body_excerpt: format!("unknown errorNumber {n}: {}", e.message),
        },
    }
}

/// Removes `secrets` from every text an error carries.
pub fn scrub(error: AppleError, secrets: &[&str]) -> AppleError {
    let clean = |s: String| scrub_text(s, secrets);
    match error {
        AppleError::TokenInvalid {
            error_number,
            message,
        } => AppleError::TokenInvalid {
            error_number,
            message: clean(message),
        },
        AppleError::Permission {
            error_number,
            message,
        } => AppleError::Permission {
            error_number,
            message: clean(message),
        },
        AppleError::Transient {
            detail,
            retry_after,
        } => AppleError::Transient {
            detail: clean(detail),
            retry_after,
        },
        AppleError::Validation {
            error_number,
            message,
            error_info,
        } => AppleError::Validation {
            error_number,
            message: clean(message),
            error_info,
        },
        AppleError::Unexpected {
            status,
            body_excerpt,
        } => AppleError::Unexpected {
            status,
            body_excerpt: clean(body_excerpt),
        },
        other => other,
    }
}

fn scrub_text(mut text: String, secrets: &[&str]) -> String {
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if text.contains(s) {
            text = text.replace(s, "[redacted]");
        }
    }
    text
}

/// The first few hundred characters of a body, secrets removed.
pub fn excerpt(body: &[u8], secrets: &[&str]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            redact(&mut v);
            v.to_string()
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let text = scrub_text(text, secrets);
    let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if SECRET_KEYS.contains(&k.as_str()) {
                    *val = Value::String("[redacted]".into());
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: i64) -> Vec<u8> {
        format!(r#"{{"errorNumber": {n}, "errorMessage": "m"}}"#).into_bytes()
    }

    type Case = (&'static str, u16, i64, fn(&AppleError) -> bool);

    #[test]
    fn error_numbers_map_to_what_the_caller_must_do_whatever_the_status() {
        let cases: [Case; 11] = [
            ("expired", 401, 9621, |e| {
                matches!(e, AppleError::TokenExpired)
            }),
            ("revoked", 200, 9625, |e| {
                matches!(e, AppleError::TokenRevoked)
            }),
            ("login", 401, 9601, |e| {
                matches!(e, AppleError::TokenInvalid { .. })
            }),
            ("v1 auth", 200, 9622, |e| {
                matches!(e, AppleError::TokenInvalid { .. })
            }),
            ("header", 401, 9722, |e| {
                matches!(e, AppleError::TokenInvalid { .. })
            }),
            ("facilitator", 403, 9637, |e| {
                matches!(e, AppleError::Permission { .. })
            }),
            ("legacy", 403, 9647, |e| {
                matches!(e, AppleError::Permission { .. })
            }),
            ("rate in 200", 200, 9646, |e| {
                matches!(e, AppleError::RateLimited { .. })
            }),
            ("internal", 500, 9603, |e| {
                matches!(e, AppleError::Transient { .. })
            }),
            ("maintenance", 200, 9644, |e| {
                matches!(e, AppleError::Transient { .. })
            }),
            ("page", 400, 9650, |e| {
                matches!(
                    e,
                    AppleError::Validation {
                        error_number: 9650,
                        ..
                    }
                )
            }),
        ];
        for (what, status, n, ok) in cases {
            let e = classify(status, None, &body(n), &[]).unwrap_err();
            assert!(ok(&e), "{what}: {n} gave {e:?}");
        }
    }

    #[test]
    fn statuses_without_an_error_body_are_classified_by_status() {
        assert!(matches!(
            classify(429, Some(Duration::from_secs(3)), b"", &[]),
            Err(AppleError::RateLimited { retry_after: Some(d) }) if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            classify(403, None, b"no", &[]),
            Err(AppleError::Permission {
                error_number: None,
                ..
            })
        ));
        assert!(matches!(
            classify(502, None, b"<html>", &[]),
            Err(AppleError::Transient { .. })
        ));
        assert!(matches!(
            classify(404, None, b"nope", &[]),
            Err(AppleError::Unexpected { status: 404, .. })
        ));
        assert!(matches!(
            classify(200, None, b"<html>", &[]),
            Err(AppleError::Unexpected { status: 200, .. })
        ));
        assert!(classify(200, None, br#"{"errorNumber": 0, "a": 1}"#, &[]).is_ok());
    }

    #[test]
    fn excerpts_never_carry_the_token_or_a_notification_secret() {
        let b = br#"{"notificationAuthToken": "hunter2", "echo": "BEARER-TOKEN-TEXT"}"#;
        let e = classify(404, None, b, &["BEARER-TOKEN-TEXT"])
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains("hunter2") && !e.contains("BEARER-TOKEN-TEXT"),
            "{e}"
        );
        let long = "x".repeat(1000);
        assert!(excerpt(long.as_bytes(), &[]).chars().count() <= EXCERPT_CHARS + 1);
    }
}
