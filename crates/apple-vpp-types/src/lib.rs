//! Apple's App and Book Management (v2) wire types, shared by the client ([`crate::apple`]) and
//! the simulator ([`crate::simulator`]) so the two cannot drift apart.
//!
//! Written from `shared/apple-api.md`. Every response type tolerates unknown fields; `adamId` is
//! accepted as a string or a number and always normalised to a string ([`AdamId`]). Types that
//! carry a secret (`notificationAuthToken`) redact it in `Debug`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// The date format Apple uses for `tokenExpirationDate` and the content token's `expDate`
/// (`2030-11-08T22:33:22+0000`: offset without a colon).
pub const APPLE_DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%z";

/// Parses an Apple date (`2030-11-08T22:33:22+0000`); also accepts RFC 3339 (`+00:00`, `Z`) and a
/// date without an offset (read as UTC), since Apple's examples are not uniform.
pub fn parse_apple_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_str(s, APPLE_DATE_FORMAT) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|n| Utc.from_utc_datetime(&n))
}

/// Formats a date the way Apple does (`2030-11-08T22:33:22+0000`).
pub fn format_apple_date(d: DateTime<Utc>) -> String {
    d.format(APPLE_DATE_FORMAT).to_string()
}

/// An App Store product id. Apple sends it as a string almost everywhere and as a number in some
/// payloads (subscriptions); it is always held as a string.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct AdamId(pub String);

impl AdamId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AdamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for AdamId {
    fn from(s: &str) -> Self {
        AdamId(s.to_owned())
    }
}

impl From<String> for AdamId {
    fn from(s: String) -> Self {
        AdamId(s)
    }
}

impl<'de> Deserialize<'de> for AdamId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            U(u64),
            I(i64),
        }
        Ok(AdamId(match Raw::deserialize(d)? {
            Raw::S(s) => s,
            Raw::U(n) => n.to_string(),
            Raw::I(n) => n.to_string(),
        }))
    }
}

/// The MDM that manages a location, as set through Client Config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MdmInfo {
    /// The identifier the MDM uses for the organisation.
    #[serde(default)]
    pub id: String,
    /// The MDM's name.
    #[serde(default)]
    pub name: String,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: String,
}

/// Fields Apple adds to (almost) every authenticated response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Common {
    /// The library (location) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u_id: Option<String>,
    /// Token expiry, present at least within the warning period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expiration_date: Option<String>,
    /// The managing MDM, once one has set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_info: Option<MdmInfo>,
}

/// Pagination fields of the paginated reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    /// Zero-based index of this page.
    #[serde(default)]
    pub current_page_index: u32,
    /// Present while more pages remain; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_index: Option<u32>,
    /// Records on this page.
    #[serde(default)]
    pub size: u32,
    /// Pages in the whole result (may change during a traversal).
    #[serde(default)]
    pub total_pages: u32,
    /// The state of the whole dataset; changes on every mutation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// One entry of Service Config's `errorCodes`, and the body of a failed call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// Apple's error number (9xxx).
    pub error_number: i32,
    /// Apple's message.
    #[serde(default)]
    pub error_message: String,
    /// The entities the error concerns, when Apple says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_info: Option<ResponseErrorInfo>,
}

/// The entities an error concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResponseErrorInfo {
    /// Assets concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<Asset>,
    /// User ids concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_user_ids: Vec<String>,
    /// Serial numbers concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serial_numbers: Vec<String>,
}

/// `GET service/config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConfigResponse {
    /// All known error numbers and messages.
    #[serde(default)]
    pub error_codes: Vec<ErrorResponse>,
    /// Current request limits (`maxAssets`, `maxRequestPerSecond`, ...).
    #[serde(default)]
    pub limits: BTreeMap<String, i64>,
    /// Supported notification types.
    #[serde(default)]
    pub notification_types: Vec<String>,
    /// Current endpoint URLs.
    #[serde(default)]
    pub urls: BTreeMap<String, String>,
}

/// `GET`/`POST client/config` response.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfigResponse {
    /// ISO alpha-2 country of the location.
    #[serde(rename = "countryISO2ACode", default)]
    pub country_iso2a_code: String,
    /// `volumestore` or `enterprisestore`.
    #[serde(default)]
    pub default_platform: String,
    /// The location's name.
    #[serde(default)]
    pub location_name: String,
    /// The current notification secret, when Apple echoes it (secret: redacted in `Debug`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_auth_token: Option<String>,
    /// The current notification URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_url: Option<String>,
    /// The types currently subscribed.
    #[serde(default)]
    pub subscribed_notification_types: Vec<String>,
    /// `https://school.apple.com` or `https://business.apple.com`.
    #[serde(rename = "websiteURL", default)]
    pub website_url: String,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

impl fmt::Debug for ClientConfigResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfigResponse")
            .field("country_iso2a_code", &self.country_iso2a_code)
            .field("default_platform", &self.default_platform)
            .field("location_name", &self.location_name)
            .field(
                "notification_auth_token",
                &self.notification_auth_token.as_ref().map(|_| "[redacted]"),
            )
            .field("notification_url", &self.notification_url)
            .field(
                "subscribed_notification_types",
                &self.subscribed_notification_types,
            )
            .field("website_url", &self.website_url)
            .field("common", &self.common)
            .finish()
    }
}

/// `POST client/config` body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfigRequest {
    /// The MDM taking charge of the location (all three fields required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_info: Option<MdmInfo>,
    /// HTTPS URL Apple posts notifications to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_url: Option<String>,
    /// Bearer secret Apple sends back with each notification (secret: redacted in `Debug`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_auth_token: Option<String>,
    /// The complete set of types to subscribe to (replaces the old set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_types: Option<Vec<String>>,
}

impl fmt::Debug for ClientConfigRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfigRequest")
            .field("mdm_info", &self.mdm_info)
            .field("notification_url", &self.notification_url)
            .field(
                "notification_auth_token",
                &self.notification_auth_token.as_ref().map(|_| "[redacted]"),
            )
            .field("notification_types", &self.notification_types)
            .finish()
    }
}

/// An asset: the pair (adamId, pricingParam).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    /// Product id.
    pub adam_id: AdamId,
    /// `STDQ` (standard quality) or `PLUS` (high quality).
    #[serde(default = "default_pricing_param")]
    pub pricing_param: String,
}

/// Apple's default pricing parameter, used when a payload leaves it out.
pub fn default_pricing_param() -> String {
    "STDQ".to_owned()
}

/// An asset with its counts, as in Get Assets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResponseAsset {
    /// Product id.
    pub adam_id: AdamId,
    /// `STDQ` or `PLUS`.
    #[serde(default = "default_pricing_param")]
    pub pricing_param: String,
    /// `App` or `Book`.
    #[serde(default)]
    pub product_type: String,
    /// Licenses assigned.
    #[serde(default)]
    pub assigned_count: i64,
    /// Licenses available.
    #[serde(default)]
    pub available_count: i64,
    /// Licenses retired.
    #[serde(default)]
    pub retired_count: i64,
    /// Licenses in total.
    #[serde(default)]
    pub total_count: i64,
    /// Whether the asset can be assigned to a device serial number.
    #[serde(default)]
    pub device_assignable: bool,
    /// Whether the asset can be revoked.
    #[serde(default)]
    pub revocable: bool,
    /// Platforms the asset supports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_platforms: Vec<String>,
}

/// `GET assets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GetAssetsResponse {
    /// The assets on this page.
    #[serde(default)]
    pub assets: Vec<ResponseAsset>,
    /// Page fields.
    #[serde(flatten)]
    pub page: PageInfo,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

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

/// `GET assignments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GetAssignmentsResponse {
    /// The assignments on this page.
    #[serde(default)]
    pub assignments: Vec<Assignment>,
    /// vppbridge simulator extension: with `sinceVersionId`, the assignments removed since that
    /// version (Apple does not document how removals appear; see the simulator's docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_assignments: Option<Vec<Assignment>>,
    /// Page fields.
    #[serde(flatten)]
    pub page: PageInfo,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

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

/// Query of `GET assets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AssetsQuery {
    /// Page to read (zero-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_index: Option<u32>,
    /// Only this product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adam_id: Option<String>,
    /// `App` or `Book`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_type: Option<String>,
    /// `STDQ` or `PLUS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_param: Option<String>,
    /// Only revocable (or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocable: Option<bool>,
    /// Only device-assignable (or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_assignable: Option<bool>,
    /// Inclusive lower bound of `availableCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available_count: Option<i64>,
    /// Inclusive upper bound of `availableCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_available_count: Option<i64>,
    /// Inclusive lower bound of `assignedCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_assigned_count: Option<i64>,
    /// Inclusive upper bound of `assignedCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_assigned_count: Option<i64>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_id_accepts_strings_and_numbers() {
        let a: Asset =
            serde_json::from_str(r#"{"adamId": 408709785, "pricingParam": "STDQ"}"#).unwrap();
        let b: Asset =
            serde_json::from_str(r#"{"adamId": "408709785", "pricingParam": "STDQ"}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(serde_json::to_value(&a).unwrap()["adamId"], "408709785");
    }

    #[test]
    fn apple_dates_parse_without_a_colon_in_the_offset() {
        let d = parse_apple_date("2023-09-26T08:30:39+0000").unwrap();
        assert_eq!(d.to_rfc3339(), "2023-09-26T08:30:39+00:00");
        assert_eq!(format_apple_date(d), "2023-09-26T08:30:39+0000");
        assert!(parse_apple_date("yesterday").is_none());
    }

    #[test]
    fn client_config_debug_redacts_the_notification_secret() {
        let r = ClientConfigResponse {
            notification_auth_token: Some("hunter2-secret".into()),
            ..Default::default()
        };
        assert!(!format!("{r:?}").contains("hunter2"));
        let q = ClientConfigRequest {
            notification_auth_token: Some("hunter2-secret".into()),
            ..Default::default()
        };
        assert!(!format!("{q:?}").contains("hunter2"));
    }

    #[test]
    fn conformance_client_config_response_parses() {
        let body =
            include_str!("../../../fixtures/conformance/server_token_client_config_response.json");
        let r: ClientConfigResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.common.u_id.as_deref(), Some("981060278089131045"));
        assert_eq!(r.country_iso2a_code, "DE");
        assert_eq!(r.website_url, "https://business.apple.com");
        assert_eq!(
            r.subscribed_notification_types,
            ["ASSET_COUNT", "ASSET_MANAGEMENT"]
        );
        assert_eq!(r.common.mdm_info.as_ref().unwrap().name, "Zentral");
        let exp = parse_apple_date(r.common.token_expiration_date.as_deref().unwrap()).unwrap();
        assert_eq!(exp.to_rfc3339(), "2023-09-26T08:30:39+00:00");
    }
}
