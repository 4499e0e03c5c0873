//! View keys: how a location, an asset and a target become a key-value key.
//!
//! - `vpp-assets`: `<location>.<adamId>.<pricingParam>`
//! - `vpp-assignments`: `<location>.<adamId>.<pricingParam>.<d|u>.<encoded id>` (`d` for a device
//!   serial number, `u` for a client user id)
//! - `vpp-users`: `<location>.<encoded clientUserId>`
//! - `vpp-state`: `<location>.sync`, `<location>.guard`, `<location>.uid`
//!
//! Serial numbers and user ids are Apple's or the MDM's free text, so they are encoded as
//! base64url without padding (RFC 4648 §5): the alphabet `A-Z a-z 0-9 - _` is valid in a key token
//! whatever the input (dots, spaces, `*`, `>` and non-ASCII included), and it decodes back
//! exactly. Location ids are slugs, adamIds digits and pricingParams `STDQ`/`PLUS`; anything else
//! there is refused rather than silently mangled.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::events::notification::AssignmentRef;

/// A key part that cannot be used as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` cannot be a {what} in a view key: use letters, digits, `-` or `_`")]
pub struct KeyError {
    /// Which part.
    pub what: &'static str,
    /// The value refused.
    pub value: String,
}

fn plain<'a>(what: &'static str, value: &'a str) -> Result<&'a str, KeyError> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(value)
    } else {
        Err(KeyError {
            what,
            value: value.to_owned(),
        })
    }
}

/// Encodes a serial number or user id as one key token (base64url, no padding).
pub fn encode_id(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Decodes [`encode_id`]'s output; `None` when it is not one.
pub fn decode_id(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()
}

/// `<location>.<adamId>.<pricingParam>`: an asset in `vpp-assets`, and the prefix of its
/// assignments in `vpp-assignments`.
///
/// # Errors
/// When a part is not a plain token.
pub fn asset_key(location: &str, adam_id: &str, pricing_param: &str) -> Result<String, KeyError> {
    Ok(format!(
        "{}.{}.{}",
        plain("location", location)?,
        plain("adamId", adam_id)?,
        plain("pricingParam", pricing_param)?
    ))
}

/// The key of one assignment in `vpp-assignments`.
///
/// # Errors
/// When a part is not a plain token, or the assignment names neither a serial nor a user.
pub fn assignment_key(location: &str, a: &AssignmentRef) -> Result<String, KeyError> {
    let asset = asset_key(location, &a.adam_id, &a.pricing_param)?;
    match (&a.serial_number, &a.client_user_id) {
        (Some(s), _) if !s.is_empty() => Ok(format!("{asset}.d.{}", encode_id(s))),
        (_, Some(u)) if !u.is_empty() => Ok(format!("{asset}.u.{}", encode_id(u))),
        _ => Err(KeyError {
            what: "target (serial number or client user id)",
            value: String::new(),
        }),
    }
}

/// The key of one user in `vpp-users`.
///
/// # Errors
/// When the location is not a plain token or the id is empty.
pub fn user_key(location: &str, client_user_id: &str) -> Result<String, KeyError> {
    if client_user_id.is_empty() {
        return Err(KeyError {
            what: "clientUserId",
            value: String::new(),
        });
    }
    Ok(format!(
        "{}.{}",
        plain("location", location)?,
        encode_id(client_user_id)
    ))
}

/// `<location>.sync`, `<location>.guard` or `<location>.uid` in `vpp-state`.
///
/// # Errors
/// When the location is not a plain token.
pub fn state_key(location: &str, what: &str) -> Result<String, KeyError> {
    Ok(format!("{}.{what}", plain("location", location)?))
}

/// The wildcard that matches every key of a location (or of an asset, given its prefix).
pub fn under(prefix: &str) -> String {
    format!("{prefix}.>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(serial: &str) -> AssignmentRef {
        AssignmentRef {
            adam_id: "408709785".into(),
            pricing_param: "STDQ".into(),
            serial_number: Some(serial.into()),
            client_user_id: None,
        }
    }

    #[test]
    fn any_serial_or_user_id_becomes_a_valid_key_token_and_decodes_back() {
        for id in [
            "C02XX",
            "a.b.c",
            "*",
            ">",
            "with space",
            "ünïcödé",
            "a/b=c",
            "-",
        ] {
            let token = encode_id(id);
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{id:?} → {token:?}"
            );
            assert_eq!(decode_id(&token).as_deref(), Some(id), "{id:?}");
        }
    }

    #[test]
    fn assignment_keys_separate_devices_from_users() {
        let d = assignment_key("school", &device("S1")).unwrap();
        let mut u = device("S1");
        u.serial_number = None;
        u.client_user_id = Some("S1".into());
        let u = assignment_key("school", &u).unwrap();
        assert_eq!(d, format!("school.408709785.STDQ.d.{}", encode_id("S1")));
        assert_eq!(u, format!("school.408709785.STDQ.u.{}", encode_id("S1")));
    }

    #[test]
    fn a_location_with_a_dot_is_refused_not_mangled() {
        assert!(asset_key("a.b", "1", "STDQ").is_err());
        assert!(
            assignment_key(
                "school",
                &AssignmentRef {
                    serial_number: None,
                    ..device("x")
                }
            )
            .is_err()
        );
    }
}
