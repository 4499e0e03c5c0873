//! The errors an Apple call ends with, typed by what the caller must do about them.

use std::time::Duration;

use super::types::{MdmInfo, ResponseErrorInfo};

/// What went wrong with a call to Apple. Never carries the content token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppleError {
    /// 9621: the content token expired; download a new one in Apple School Manager / Apple
    /// Business (Settings → Apps and Books).
    #[error(
        "Apple error 9621: the content token has expired; download a new .vpptoken in Apple School Manager or Apple Business and replace the token file"
    )]
    TokenExpired,
    /// 9625: the token was revoked (a new one was downloaded, or an admin revoked it).
    #[error(
        "Apple error 9625: the content token was revoked; download a new .vpptoken and replace the token file"
    )]
    TokenRevoked,
    /// 9601, 9622, 9722: Apple does not accept the token or the header.
    #[error(
        "Apple error {error_number}: the content token was not accepted ({message}); check that the token file holds the whole .vpptoken"
    )]
    TokenInvalid {
        /// Apple's error number.
        error_number: i32,
        /// Apple's message.
        message: String,
    },
    /// 9637, 9647 or HTTP 403: the token lacks the rights for this call.
    #[error("Apple refused the call for lack of rights ({}): the token is read-only, a facilitator's or a legacy token; use a content manager token with the Manage privilege", error_number.map(|n| n.to_string()).unwrap_or_else(|| "HTTP 403".into()))]
    Permission {
        /// Apple's error number, when there was one.
        error_number: Option<i32>,
        /// Apple's message.
        message: String,
    },
    /// 9646 or HTTP 429: too many requests.
    #[error("Apple is rate limiting this location (9646/429){}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// Apple's `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// 9603, 9644, 9729, HTTP 5xx, timeouts and connection errors.
    #[error("Apple is temporarily unavailable: {detail}")]
    Transient {
        /// What happened.
        detail: String,
        /// Apple's `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// Any other 9xxx error: the request itself is wrong.
    #[error("Apple rejected the request with error {error_number}: {message}")]
    Validation {
        /// Apple's error number.
        error_number: i32,
        /// Apple's message.
        message: String,
        /// The entities concerned, when Apple says.
        error_info: Option<ResponseErrorInfo>,
    },
    /// Another MDM's `mdmInfo` is on the location.
    #[error("another MDM manages this location now: mdmInfo id {:?} (name {:?}, metadata {:?}) instead of ours {ours:?}; run `vppbridge register --take-over` only if that is intended", theirs.id, theirs.name, theirs.metadata)]
    OwnershipConflict {
        /// Our `mdmInfo.id`.
        ours: String,
        /// What Apple holds.
        theirs: MdmInfo,
    },
    /// Anything else (unparseable body, unexpected status).
    #[error("unexpected answer from Apple: HTTP {status}: {body_excerpt}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// The first few hundred characters of the body.
        body_excerpt: String,
    },
}

impl AppleError {
    /// Whether retrying the same call later may succeed (rate limited or transient).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            AppleError::RateLimited { .. } | AppleError::Transient { .. }
        )
    }

    /// Apple's error number, when the error carries one.
    pub fn error_number(&self) -> Option<i32> {
        match self {
            AppleError::TokenExpired => Some(9621),
            AppleError::TokenRevoked => Some(9625),
            AppleError::TokenInvalid { error_number, .. } => Some(*error_number),
            AppleError::Permission { error_number, .. } => *error_number,
            AppleError::RateLimited { .. } => Some(9646),
            AppleError::Validation { error_number, .. } => Some(*error_number),
            _ => None,
        }
    }
}
