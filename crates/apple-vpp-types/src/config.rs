//! `service/config` and `client/config`. The notification secret is redacted in `Debug`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::common::{Common, ErrorResponse, MdmInfo};

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
