//! Telling a content token from the files people confuse with it, and decoding it.
//! Pure: bytes in, fields or a [`TokenError`] out.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde_json::Value;

use super::error::TokenError;

/// DER encoding of the PKCS#7 OID prefix 1.2.840.113549.1.7 (signed/enveloped data).
const PKCS7_OID: [u8; 10] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07];

/// The fields of a content token, before the date is parsed.
pub struct Fields {
    pub bearer: String,
    pub exp_date: String,
    pub org_name: String,
}

/// Decodes a content token, or says what the bytes are instead.
pub fn decode(bytes: &[u8]) -> Result<Fields, TokenError> {
    if is_pkcs7_der(bytes) {
        return Err(TokenError::AdeServerToken {
            form: "DER-encoded PKCS#7",
        });
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(TokenError::NotBase64);
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(TokenError::Empty);
    }
    recognise_text(text)?;
    // Wrapped Base64 is tolerated: all whitespace goes, also from the bearer value.
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let decoded = STANDARD
        .decode(&compact)
        .or_else(|_| STANDARD_NO_PAD.decode(&compact))
        .map_err(|_| TokenError::NotBase64)?;
    if is_pkcs7_der(&decoded) {
        return Err(TokenError::AdeServerToken {
            form: "Base64 PKCS#7 without its MIME header",
        });
    }
    let value: Value = serde_json::from_slice(&decoded).map_err(|_| TokenError::NotJson)?;
    let Value::Object(obj) = value else {
        return Err(TokenError::NotJson);
    };
    let field = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (token, exp_date, org_name) = (field("token"), field("expDate"), field("orgName"));
    let missing: Vec<&'static str> = [
        ("token", token.is_none()),
        ("expDate", exp_date.is_none()),
        ("orgName", org_name.is_none()),
    ]
    .into_iter()
    .filter_map(|(k, absent)| absent.then_some(k))
    .collect();
    match (exp_date, org_name) {
        (Some(exp_date), Some(org_name)) if missing.is_empty() => Ok(Fields {
            bearer: compact,
            exp_date,
            org_name,
        }),
        _ => Err(TokenError::MissingFields { missing }),
    }
}

/// Recognises S/MIME, PEM and JSON text before trying Base64.
fn recognise_text(text: &str) -> Result<(), TokenError> {
    let head: String = text
        .chars()
        .take(2048)
        .collect::<String>()
        .to_ascii_lowercase();
    if head.starts_with("mime-version:")
        || head.contains("application/pkcs7-mime")
        || head.contains("application/x-pkcs7-mime")
        || head.contains("smime.p7m")
    {
        return Err(TokenError::AdeServerToken {
            form: "an S/MIME message",
        });
    }
    if let Some(rest) = text.strip_prefix("-----BEGIN ") {
        let label = rest.split("-----").next().unwrap_or_default().trim();
        return Err(match label {
            "PKCS7" | "CMS" => TokenError::AdeServerToken {
                form: "PEM-encoded PKCS#7",
            },
            l if l.contains("CERTIFICATE") => TokenError::Pem {
                kind: "certificate".into(),
            },
            l if l.contains("PRIVATE KEY") => TokenError::Pem {
                kind: "private key".into(),
            },
            l => TokenError::Pem {
                kind: format!("{l} block"),
            },
        });
    }
    if text.starts_with('{') && serde_json::from_str::<Value>(text).is_ok() {
        return Err(TokenError::DecodedJson);
    }
    Ok(())
}

/// A DER SEQUENCE that carries the PKCS#7 content-type OID near its start.
fn is_pkcs7_der(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x30)
        && bytes[..bytes.len().min(64)]
            .windows(PKCS7_OID.len())
            .any(|w| w == PKCS7_OID)
}
