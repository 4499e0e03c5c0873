//! Content tokens (`.vpptoken`). (Skeleton: the foundation issue fills in parsing and checks.)

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

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

impl ContentToken {
    /// The `Authorization: Bearer` value (the whole Base64 text). Handle with care.
    pub fn bearer(&self) -> &str {
        self.bearer.expose_secret()
    }
}

/// `vppbridge token inspect FILE`.
pub fn inspect_command(_file: &Path) -> ExitCode {
    ExitCode::FAILURE
}
