//! What a location's content token may do: Apple's content-manager privileges (apple-api.md
//! §2) and the calls each allows.
//!
//! Pure: the gate in `routes` asks [`TokenMode::allows`] before any handler runs.

use serde::{Deserialize, Serialize};

/// The privileges behind a location's token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TokenMode {
    /// A content manager with the Manage and Purchase privileges: every call.
    #[default]
    Full,
    /// A read-only content manager: Get Assets, Get Assignments, Get Users (and the other
    /// reads: Client Config's GET, Event Status); every write is refused with 9637 (403).
    ReadOnly,
    /// A content manager who can manage but not purchase: Apple's API has no purchase call, so
    /// every call is allowed (purchases happen in the portal, `/_sim/.../purchase` here).
    NoPurchase,
}

impl TokenMode {
    /// Whether a token in this mode may make the Apple call `method path`.
    pub(crate) fn allows(self, method: &axum::http::Method, path: &str) -> bool {
        match self {
            TokenMode::Full | TokenMode::NoPurchase => true,
            // Service Config needs no token; every other POST changes something.
            TokenMode::ReadOnly => {
                *method != axum::http::Method::POST || path == "/mdm/v2/service/config"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;

    #[test]
    fn a_read_only_token_may_read_but_not_write() {
        let cases = [
            (Method::GET, "/mdm/v2/assets", true),
            (Method::GET, "/mdm/v2/assignments", true),
            (Method::GET, "/mdm/v2/users", true),
            (Method::GET, "/mdm/v2/client/config", true),
            (Method::GET, "/mdm/v2/status", true),
            (Method::POST, "/mdm/v2/assets/associate", false),
            (Method::POST, "/mdm/v2/assets/disassociate", false),
            (Method::POST, "/mdm/v2/assets/revoke", false),
            (Method::POST, "/mdm/v2/users/create", false),
            (Method::POST, "/mdm/v2/users/update", false),
            (Method::POST, "/mdm/v2/users/retire", false),
            (Method::POST, "/mdm/v2/client/config", false),
        ];
        for (method, path, allowed) in cases {
            assert_eq!(
                TokenMode::ReadOnly.allows(&method, path),
                allowed,
                "read-only {method} {path}"
            );
            assert!(
                TokenMode::Full.allows(&method, path),
                "full {method} {path}"
            );
            assert!(
                TokenMode::NoPurchase.allows(&method, path),
                "no-purchase {method} {path}"
            );
        }
    }
}
