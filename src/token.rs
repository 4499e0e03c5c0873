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
    /// Reads and parses a `.vpptoken` file. (Minimal stand-in until the foundation's parser lands.)
    ///
    /// # Errors
    /// When the file cannot be read or is not a content token.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        use base64::Engine;
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
        let text = text.trim().to_owned();
        let json = base64::engine::general_purpose::STANDARD
            .decode(&text)
            .map_err(|e| format!("{} is not a .vpptoken (not Base64): {e}", path.display()))?;
        let v: serde_json::Value = serde_json::from_slice(&json)
            .map_err(|e| format!("{} is not a .vpptoken (not JSON): {e}", path.display()))?;
        let expires_at = v["expDate"]
            .as_str()
            .and_then(crate::apple::types::parse_apple_date)
            .ok_or_else(|| format!("{} has no valid expDate", path.display()))?;
        Ok(ContentToken {
            org_name: v["orgName"].as_str().unwrap_or_default().to_owned(),
            expires_at,
            bearer: SecretString::from(text),
        })
    }

    /// The `Authorization: Bearer` value (the whole Base64 text). Handle with care.
    pub fn bearer(&self) -> &str {
        self.bearer.expose_secret()
    }
}

/// `vppbridge token inspect FILE`.
pub fn inspect_command(_file: &Path) -> ExitCode {
    ExitCode::FAILURE
}
