//! Per-location records in `vpp-state`: what the sync needs to go on incrementally, and the
//! guard that pauses a location. JSON values; `<location>.uid` is plain text (the receiver's).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `<location>.sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// `versionId` of the first page of the last assignments traversal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignments_version_id: Option<String>,
    /// `versionId` of the first page of the last users traversal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_version_id: Option<String>,
    /// When the last full sync finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full_sync: Option<DateTime<Utc>>,
    /// When the last incremental sync finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_incremental_sync: Option<DateTime<Utc>>,
    /// The last run's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_id: Option<String>,
    /// When the last run (of either kind) ended, successful or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<DateTime<Utc>>,
    /// The last run's error, when it failed (`None`: it succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// `<location>.guard`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GuardState {
    /// While true, no call is made to Apple for the location and its messages are held.
    #[serde(default)]
    pub paused: bool,
    /// `token_expired`, `token_revoked`, `token_invalid` or `ownership_conflict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The full explanation, with what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the location was paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// The content token's expiry (from the token file or Apple's `tokenExpirationDate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<DateTime<Utc>>,
    /// The `mdmInfo.id` Apple last reported for the location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// Whether that owner is this installation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_ok: Option<bool>,
}
