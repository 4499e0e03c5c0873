//! The notifications Apple posts: the envelope, each type's payload, the type names.

use serde::{Deserialize, Serialize};

use crate::assignments::Assignment;
use crate::common::{AdamId, ErrorResponse, default_pricing_param};
use crate::users::ResponseUser;
use crate::writes::EventType;

/// The envelope of every notification Apple posts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationEnvelope {
    /// Type-specific payload.
    pub notification: serde_json::Value,
    /// Opaque id, the same on every delivery of one notification.
    pub notification_id: String,
    /// `ASSET_MANAGEMENT`, `ASSET_COUNT`, ...
    pub notification_type: String,
    /// The location (library) id.
    pub u_id: String,
}

/// Result of a management notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationResult {
    /// The work succeeded for the listed targets.
    Success,
    /// The work failed for the listed targets.
    Failure,
}

/// `ASSET_MANAGEMENT` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetManagementNotification {
    /// The (asset, target) pairs concerned (at most 100).
    #[serde(default)]
    pub assignments: Vec<Assignment>,
    /// The failure, when `result` is FAILURE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorResponse>,
    /// The id returned by the originating POST.
    pub event_id: String,
    /// SUCCESS or FAILURE.
    pub result: NotificationResult,
    /// ASSOCIATE, DISASSOCIATE or REVOKE.
    #[serde(rename = "type")]
    pub kind: EventType,
}

/// `ASSET_COUNT` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetCountNotification {
    /// Product id.
    pub adam_id: AdamId,
    /// Change of the asset's total (positive: more licenses).
    pub count_delta: i64,
    /// `STDQ` or `PLUS`.
    #[serde(default = "default_pricing_param")]
    pub pricing_param: String,
}

/// `USER_MANAGEMENT` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserManagementNotification {
    /// The id returned by the originating POST.
    pub event_id: String,
    /// The failure, when `result` is FAILURE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorResponse>,
    /// SUCCESS or FAILURE.
    pub result: NotificationResult,
    /// CREATE, UPDATE or RETIRE.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The users concerned.
    #[serde(default)]
    pub users: Vec<ResponseUser>,
}

/// `USER_ASSOCIATED` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAssociatedNotification {
    /// Users who accepted their invitation.
    #[serde(default)]
    pub associated_users: Vec<ResponseUser>,
}

/// The notification types Apple documents, as sent in `notificationType`.
pub mod notification_type {
    /// Result of associate / disassociate / revoke.
    pub const ASSET_MANAGEMENT: &str = "ASSET_MANAGEMENT";
    /// Purchase, transfer or refund.
    pub const ASSET_COUNT: &str = "ASSET_COUNT";
    /// Result of users create / update / retire.
    pub const USER_MANAGEMENT: &str = "USER_MANAGEMENT";
    /// A user accepted an invitation.
    pub const USER_ASSOCIATED: &str = "USER_ASSOCIATED";
    /// Sent while Client Config is posted.
    pub const TEST_NOTIFICATION: &str = "TEST_NOTIFICATION";
    /// Subscription assignments (2026).
    pub const SUBSCRIPTION_MANAGEMENT: &str = "SUBSCRIPTION_MANAGEMENT";
    /// Subscription counts (2026).
    pub const SUBSCRIPTION_COUNT: &str = "SUBSCRIPTION_COUNT";
    /// Listed by Apple, payload undocumented (2026).
    pub const UNLIMITED_ASSET: &str = "UNLIMITED_ASSET";
    /// The types a location can subscribe to (Client Config's `notificationTypes`).
    pub const SUBSCRIBABLE: [&str; 7] = [
        ASSET_MANAGEMENT,
        USER_MANAGEMENT,
        USER_ASSOCIATED,
        ASSET_COUNT,
        SUBSCRIPTION_MANAGEMENT,
        SUBSCRIPTION_COUNT,
        UNLIMITED_ASSET,
    ];
}
