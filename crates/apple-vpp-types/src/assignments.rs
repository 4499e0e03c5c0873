//! `GET assignments`: its query, response and records.

use serde::{Deserialize, Serialize};

use crate::common::{AdamId, Common, PageInfo, default_pricing_param};

/// One license assignment: an asset and a device serial number or a user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// Product id.
    pub adam_id: AdamId,
    /// `STDQ` or `PLUS`.
    #[serde(default = "default_pricing_param")]
    pub pricing_param: String,
    /// The device, for a device assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// The user, for a user assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_user_id: Option<String>,
    /// The user's Apple Account hash (with `includeUserState`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_hash: Option<String>,
    /// The user's status (with `includeUserState`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_status: Option<String>,
}

/// `GET assignments`: only what Apple documents (apple-api.md §6.2). The simulator's
/// `removedAssignments` extension is not here, so no client code can come to depend on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GetAssignmentsResponse {
    /// The assignments on this page.
    #[serde(default)]
    pub assignments: Vec<Assignment>,
    /// Page fields.
    #[serde(flatten)]
    pub page: PageInfo,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// Query of `GET assignments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentsQuery {
    /// Page to read (zero-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_index: Option<u32>,
    /// Only this product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adam_id: Option<String>,
    /// Only this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_user_id: Option<String>,
    /// Only this device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// `STDQ` or `PLUS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_param: Option<String>,
    /// Only records changed since this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_version_id: Option<String>,
    /// Leave out assignments of retired/inactive users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_inactive_users: Option<bool>,
    /// Add `userStatus` and `idHash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_user_state: Option<bool>,
}
