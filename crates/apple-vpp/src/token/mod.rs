//! Content tokens (`.vpptoken`): parsing, recognising the files people confuse with them, and
//! `vppbridge token inspect`.
//!
//! A content token is Base64 text that decodes to JSON `{token, expDate, orgName}` (any key
//! order). The bearer Apple expects is the whole Base64 text, not the inner `token`. The secret
//! never leaves [`ContentToken::bearer`]: not in `Debug`, errors or logs. Must not do I/O beyond
//! reading the token file.

mod detect;
mod error;

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::types::{format_apple_date, parse_apple_date};

pub use error::TokenError;

/// Days before expiry from which a token counts as expiring soon.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// A parsed content token. The bearer value is the whole Base64 text; it is never printed.
#[derive(Clone)]
pub struct ContentToken {
    /// The organisation (`orgName`).
    pub org_name: String,
    /// Expiry (`expDate`).
    pub expires_at: DateTime<Utc>,
    bearer: SecretString,
}

impl std::fmt::Debug for ContentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentToken")
            .field("org_name", &self.org_name)
            .field("expires_at", &self.expires_at)
            .field("bearer", &"[redacted]")
            .finish()
    }
}

/// The JSON inside a `.vpptoken`, as written by [`ContentToken::encode`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    token: &'a str,
    exp_date: String,
    org_name: &'a str,
}

impl ContentToken {
    /// The `Authorization: Bearer` value (the whole Base64 text). Handle with care.
    pub fn bearer(&self) -> &str {
        self.bearer.expose_secret()
    }

    /// Parses the text of a `.vpptoken` file.
    ///
    /// # Errors
    /// A [`TokenError`] naming what the text is instead (an ADE server token, a PEM file, not
    /// Base64, ...) and which file to use.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        Self::parse_bytes(text.as_bytes())
    }

    /// Parses the bytes of a `.vpptoken` file (binary input is recognised, not refused blindly).
    ///
    /// # Errors
    /// As [`ContentToken::parse`].
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, TokenError> {
        let fields = detect::decode(bytes)?;
        let expires_at = parse_apple_date(&fields.exp_date).ok_or_else(|| TokenError::BadDate {
            value: fields.exp_date.clone(),
        })?;
        Ok(ContentToken {
            org_name: fields.org_name,
            expires_at,
            bearer: SecretString::from(fields.bearer),
        })
    }

    /// Reads and parses a `.vpptoken` file.
    ///
    /// # Errors
    /// [`TokenError::Unreadable`] when the file cannot be read, else as
    /// [`ContentToken::parse`], wrapped in [`TokenError::InFile`] to name the file.
    pub fn from_file(path: &Path) -> Result<Self, TokenError> {
        let bytes = std::fs::read(path).map_err(|source| TokenError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_bytes(&bytes).map_err(|e| TokenError::InFile {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// The text of a `.vpptoken` file for `org`, expiring at `expires_at`, with the inner
    /// secret `inner_token`: what Apple's portal hands out. For the simulator and tests.
    pub fn encode(org: &str, expires_at: DateTime<Utc>, inner_token: &str) -> String {
        let wire = Wire {
            token: inner_token,
            exp_date: format_apple_date(expires_at),
            org_name: org,
        };
        // A struct of three strings always serialises: there is no error to surface.
        let json = serde_json::to_vec(&wire).expect("a struct of strings serialises");
        STANDARD.encode(json)
    }

    /// Whole days until expiry (negative once expired).
    pub fn days_left(&self, now: DateTime<Utc>) -> i64 {
        (self.expires_at - now).num_days()
    }

    /// Valid, expiring within [`EXPIRY_WARNING_DAYS`], or expired, at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> TokenStatus {
        if self.expires_at <= now {
            TokenStatus::Expired
        } else if self.expires_at - now <= chrono::Duration::days(EXPIRY_WARNING_DAYS) {
            TokenStatus::ExpiresSoon
        } else {
            TokenStatus::Valid
        }
    }
}

/// A token's state at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// More than [`EXPIRY_WARNING_DAYS`] left.
    Valid,
    /// Expires within [`EXPIRY_WARNING_DAYS`].
    ExpiresSoon,
    /// Expired.
    Expired,
}

#[cfg(test)]
mod tests;
