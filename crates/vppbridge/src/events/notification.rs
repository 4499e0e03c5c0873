//! Notification events: one per notification Apple delivered and vppbridge stored.
//!
//! Subject `vpp.notifications.<location>.<type>`, CloudEvents `type`
//! `vppbridge.notification.<type>.v1` with `<type>` in lower snake case (`asset_management`,
//! ..., `unknown`). `data` keeps Apple's camelCase names with normalised values, and `data.raw`
//! holds Apple's original `notification` object unchanged.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Fields every notification event's `data` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationMeta {
    /// vppbridge's location id (the configured slug).
    pub location: String,
    /// Apple's library id for the location.
    pub u_id: String,
    /// Apple's notification id (opaque).
    pub notification_id: String,
    /// Apple's `notificationType` exactly as received.
    pub notification_type: String,
}

/// What a management notification reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
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

/// Outcome of a management notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It worked for the listed targets.
    Success,
    /// It failed for the listed targets.
    Failure,
}

/// One (asset, target) pair: exactly one of `serialNumber` and `clientUserId` is set.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentRef {
    /// Product id, always a string.
    pub adam_id: String,
    /// `STDQ` or `PLUS`.
    pub pricing_param: String,
    /// The device, for a device assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// The user, for a user assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_user_id: Option<String>,
}

/// The view's form of an assignment Apple listed: no user state, and only the serial number
/// when Apple sends both targets.
impl From<&apple_vpp::types::Assignment> for AssignmentRef {
    fn from(a: &apple_vpp::types::Assignment) -> Self {
        AssignmentRef {
            adam_id: a.adam_id.0.clone(),
            pricing_param: a.pricing_param.clone(),
            serial_number: a.serial_number.clone(),
            client_user_id: if a.serial_number.is_some() {
                None
            } else {
                a.client_user_id.clone()
            },
        }
    }
}

/// Apple's error, as carried by a failure notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventError {
    /// Apple's error number.
    pub error_number: i32,
    /// Apple's message.
    pub error_message: String,
}

/// A user, as reported in user notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    /// The MDM's stable id for the user.
    pub client_user_id: String,
    /// Email, if Apple sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Apple Account hash, once associated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_hash: Option<String>,
    /// Invitation code, while registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_code: Option<String>,
    /// `Registered`, `Associated`, `Retired` (or `Deleted`).
    pub status: String,
}

/// `data` of `vppbridge.notification.asset_management.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetManagementData {
    /// Common fields.
    #[serde(flatten)]
    pub meta: NotificationMeta,
    /// The originating request's event id.
    pub event_id: String,
    /// associate, disassociate or revoke.
    pub action: Action,
    /// success or failure.
    pub result: Outcome,
    /// The pairs concerned.
    pub assignments: Vec<AssignmentRef>,
    /// Apple's error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
    /// Apple's `notification` object, unchanged.
    pub raw: serde_json::Value,
}

/// `data` of `vppbridge.notification.asset_count.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetCountData {
    /// Common fields.
    #[serde(flatten)]
    pub meta: NotificationMeta,
    /// Product id.
    pub adam_id: String,
    /// `STDQ` or `PLUS`.
    pub pricing_param: String,
    /// Change of the asset's total.
    pub count_delta: i64,
    /// Apple's `notification` object, unchanged.
    pub raw: serde_json::Value,
}

/// `data` of `vppbridge.notification.user_management.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserManagementData {
    /// Common fields.
    #[serde(flatten)]
    pub meta: NotificationMeta,
    /// The originating request's event id.
    pub event_id: String,
    /// create, update or retire.
    pub action: Action,
    /// success or failure.
    pub result: Outcome,
    /// The users concerned.
    pub users: Vec<UserRef>,
    /// Apple's error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
    /// Apple's `notification` object, unchanged.
    pub raw: serde_json::Value,
}

/// `data` of `vppbridge.notification.user_associated.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAssociatedData {
    /// Common fields.
    #[serde(flatten)]
    pub meta: NotificationMeta,
    /// Users who accepted their invitation.
    pub users: Vec<UserRef>,
    /// Apple's `notification` object, unchanged.
    pub raw: serde_json::Value,
}

/// `data` of `vppbridge.notification.subscription_management.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionManagementData {
    /// Common fields.
    #[serde(flatten)]
    pub meta: NotificationMeta,
    /// The originating request's event id, when Apple sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The action in lower case, when Apple sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// success or failure, when Apple sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Outcome>,
    /// `{adamId (string), clientUserId, renewing}` entries.
    pub assignments: Vec<SubscriptionAssignment>,
    /// Apple's error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
    /// Apple's `notification` object, unchanged.
    pub raw: serde_json::Value,
}

/// A subscription assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionAssignment {
    /// Product id, as a string (Apple sends a number here).
    pub adam_id: String,
    /// The user.
    pub client_user_id: String,
    /// Whether the subscription renews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewing: Option<bool>,
}

/// `data` of `vppbridge.notification.subscription_count.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionCountData {
    /// Common fields.
    #[serde(flatten)]
    pub meta: NotificationMeta,
    /// Product id, as a string (Apple sends a number here).
    pub adam_id: String,
    /// Parent product id, as a string, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_adam_id: Option<String>,
    /// Apple's `counts` object, unchanged.
    pub counts: serde_json::Value,
    /// Apple's `notification` object, unchanged.
    pub raw: serde_json::Value,
}

/// `data` of `vppbridge.notification.test_notification.v1` and
/// `vppbridge.notification.unknown.v1`: the common fields and Apple's object unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlainData {
    /// Common fields.
    #[serde(flatten)]
    pub meta: NotificationMeta,
    /// Apple's `notification` object, unchanged.
    pub raw: serde_json::Value,
}

/// A normalised notification, one variant per event type.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// ASSET_MANAGEMENT.
    AssetManagement(AssetManagementData),
    /// ASSET_COUNT.
    AssetCount(AssetCountData),
    /// USER_MANAGEMENT.
    UserManagement(UserManagementData),
    /// USER_ASSOCIATED.
    UserAssociated(UserAssociatedData),
    /// TEST_NOTIFICATION.
    Test(PlainData),
    /// SUBSCRIPTION_MANAGEMENT.
    SubscriptionManagement(SubscriptionManagementData),
    /// SUBSCRIPTION_COUNT.
    SubscriptionCount(SubscriptionCountData),
    /// Any other type, kept whole.
    Unknown(PlainData),
}

impl Notification {
    /// The lower snake case type used in subjects and event types (`asset_management`, ...,
    /// `unknown`).
    pub fn kind(&self) -> &'static str {
        match self {
            Notification::AssetManagement(_) => "asset_management",
            Notification::AssetCount(_) => "asset_count",
            Notification::UserManagement(_) => "user_management",
            Notification::UserAssociated(_) => "user_associated",
            Notification::Test(_) => "test_notification",
            Notification::SubscriptionManagement(_) => "subscription_management",
            Notification::SubscriptionCount(_) => "subscription_count",
            Notification::Unknown(_) => "unknown",
        }
    }

    /// The CloudEvents `type`: `vppbridge.notification.<kind>.v1`.
    pub fn event_type(&self) -> String {
        event_type_for(self.kind())
    }

    /// The fields every variant carries.
    pub fn meta(&self) -> &NotificationMeta {
        match self {
            Notification::AssetManagement(d) => &d.meta,
            Notification::AssetCount(d) => &d.meta,
            Notification::UserManagement(d) => &d.meta,
            Notification::UserAssociated(d) => &d.meta,
            Notification::Test(d) | Notification::Unknown(d) => &d.meta,
            Notification::SubscriptionManagement(d) => &d.meta,
            Notification::SubscriptionCount(d) => &d.meta,
        }
    }

    /// The CloudEvents `subject`: the `eventId` where there is one, else the `adamId`, else none.
    pub fn subject(&self) -> Option<String> {
        match self {
            Notification::AssetManagement(d) => Some(d.event_id.clone()),
            Notification::UserManagement(d) => Some(d.event_id.clone()),
            Notification::AssetCount(d) => Some(d.adam_id.clone()),
            Notification::SubscriptionCount(d) => Some(d.adam_id.clone()),
            Notification::SubscriptionManagement(d) => d.event_id.clone(),
            Notification::UserAssociated(_) | Notification::Test(_) | Notification::Unknown(_) => {
                None
            }
        }
    }

    /// The `data` object as JSON.
    pub fn data_json(&self) -> serde_json::Value {
        let v = match self {
            Notification::AssetManagement(d) => serde_json::to_value(d),
            Notification::AssetCount(d) => serde_json::to_value(d),
            Notification::UserManagement(d) => serde_json::to_value(d),
            Notification::UserAssociated(d) => serde_json::to_value(d),
            Notification::Test(d) | Notification::Unknown(d) => serde_json::to_value(d),
            Notification::SubscriptionManagement(d) => serde_json::to_value(d),
            Notification::SubscriptionCount(d) => serde_json::to_value(d),
        };
        // Serialising these plain structs (strings, numbers, JSON values) cannot fail.
        v.unwrap_or(serde_json::Value::Null)
    }

    /// Rebuilds a notification from a published event's `type` and `data`.
    ///
    /// # Errors
    /// When `event_type` is not a notification type vppbridge publishes, or `data` does not
    /// match the type's shape.
    pub fn from_event(event_type: &str, data: serde_json::Value) -> Result<Self, String> {
        let kind = event_type
            .strip_prefix("vppbridge.notification.")
            .and_then(|s| s.strip_suffix(".v1"))
            .ok_or_else(|| format!("`{event_type}` is not a vppbridge notification event type"))?;
        let e = |err: serde_json::Error| format!("data of a `{event_type}` event: {err}");
        Ok(match kind {
            "asset_management" => {
                Notification::AssetManagement(serde_json::from_value(data).map_err(e)?)
            }
            "asset_count" => Notification::AssetCount(serde_json::from_value(data).map_err(e)?),
            "user_management" => {
                Notification::UserManagement(serde_json::from_value(data).map_err(e)?)
            }
            "user_associated" => {
                Notification::UserAssociated(serde_json::from_value(data).map_err(e)?)
            }
            "test_notification" => Notification::Test(serde_json::from_value(data).map_err(e)?),
            "subscription_management" => {
                Notification::SubscriptionManagement(serde_json::from_value(data).map_err(e)?)
            }
            "subscription_count" => {
                Notification::SubscriptionCount(serde_json::from_value(data).map_err(e)?)
            }
            "unknown" => Notification::Unknown(serde_json::from_value(data).map_err(e)?),
            other => {
                return Err(format!(
                    "`{other}` is not a notification kind vppbridge knows"
                ));
            }
        })
    }
}

/// `vppbridge.notification.<kind>.v1`.
pub fn event_type_for(kind: &str) -> String {
    format!("vppbridge.notification.{kind}.v1")
}

/// Every notification kind, in the order of the schema files.
pub const KINDS: [&str; 8] = [
    "asset_management",
    "asset_count",
    "user_management",
    "user_associated",
    "test_notification",
    "subscription_management",
    "subscription_count",
    "unknown",
];
