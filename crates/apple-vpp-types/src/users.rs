//! `GET users`: its query, response and records.

use serde::{Deserialize, Serialize};

use crate::common::{Common, PageInfo};

/// A user as Apple reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResponseUser {
    /// The MDM's own stable id for the user.
    pub client_user_id: String,
    /// The user's email, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Hash of the associated Apple Account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_hash: Option<String>,
    /// Invitation code while the user is registered but not associated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_code: Option<String>,
    /// `Registered`, `Associated`, `Retired` or `Deleted`.
    #[serde(default)]
    pub status: String,
}

/// `GET users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GetUsersResponse {
    /// The users on this page.
    #[serde(default)]
    pub users: Vec<ResponseUser>,
    /// Page fields.
    #[serde(flatten)]
    pub page: PageInfo,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// Query of `GET users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UsersQuery {
    /// Page to read (zero-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_index: Option<u32>,
    /// Only users that are not retired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_only: Option<bool>,
    /// Only retired users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_only: Option<bool>,
    /// Only this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_user_id: Option<String>,
    /// Only records changed since this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_version_id: Option<String>,
}
