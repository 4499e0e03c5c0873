//! The asynchronous writes (`assets/associate|disassociate|revoke`, `users/create|update|
//! retire`), their [`EventResponse`], and `GET status` of the events they start.

use serde::{Deserialize, Serialize};

use crate::common::{Asset, Common, ErrorResponse};

/// `POST assets/associate` and `assets/disassociate` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ManageAssetsRequest {
    /// The assets (at most `maxAssets`).
    #[serde(default)]
    pub assets: Vec<Asset>,
    /// User targets (at most `maxClientUserIds`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_user_ids: Vec<String>,
    /// Device targets (at most `maxSerialNumbers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serial_numbers: Vec<String>,
}

/// `POST assets/revoke` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RevokeAssetsRequest {
    /// Users to revoke all revocable assets from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_user_ids: Vec<String>,
    /// Devices to revoke all revocable assets from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serial_numbers: Vec<String>,
}

/// A user in a create/update/retire request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RequestUser {
    /// The MDM's stable id for the user.
    pub client_user_id: String,
    /// Email for the invitation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Managed Apple Account, which lets Apple associate at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_apple_id: Option<String>,
}

/// `POST users/create|update|retire` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ManageUsersRequest {
    /// The users (at most `maxUsers`).
    #[serde(default)]
    pub users: Vec<RequestUser>,
}

/// Response of every write endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EventResponse {
    /// The id under which the work runs.
    pub event_id: String,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// State of an asynchronous event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventStatus {
    /// Still running.
    Pending,
    /// Done, every task completed.
    Complete,
    /// Done, some or all tasks failed.
    Failed,
}

/// Kind of asynchronous event (also the `type` of management notifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    /// Assets associated.
    Associate,
    /// Assets disassociated.
    Disassociate,
    /// Assets revoked.
    Revoke,
    /// Users created.
    Create,
    /// Users updated.
    Update,
    /// Users retired.
    Retire,
}

impl EventType {
    /// Lower-case action name used in vppbridge's events (`associate`, ...).
    pub fn action(self) -> &'static str {
        match self {
            EventType::Associate => "associate",
            EventType::Disassociate => "disassociate",
            EventType::Revoke => "revoke",
            EventType::Create => "create",
            EventType::Update => "update",
            EventType::Retire => "retire",
        }
    }
}

/// `GET status?eventId=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    /// PENDING, COMPLETE or FAILED (FAILED may be partial).
    pub event_status: EventStatus,
    /// What the event does.
    pub event_type: EventType,
    /// Total tasks.
    #[serde(default)]
    pub num_requested: i64,
    /// Tasks finished.
    #[serde(default)]
    pub num_completed: i64,
    /// Failures, with the entities concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<ErrorResponse>,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}
