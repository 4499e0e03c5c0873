//! Alert events: a location needs an operator (token expired, revoked, not accepted or near
//! expiry, another MDM took it over). Published on `vpp.alerts.<location>` (stream `VPP_ALERTS`); the kind is in
//! the CloudEvents `type`.
//!
//! Pure types, no I/O.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a location needs attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Apple answered 9621: the content token expired. The location is paused.
    TokenExpired,
    /// Apple answered 9625: the content token was revoked. The location is paused.
    TokenRevoked,
    /// Another MDM's `mdmInfo` is on the location. The location is paused.
    OwnershipConflict,
    /// The content token expires in 30 days or less. Nothing is paused.
    TokenExpiring,
    /// Apple does not accept the content token (9601, 9622, 9722). The location is paused.
    TokenInvalid,
}

impl AlertKind {
    /// Every kind, in the order of the schema files.
    pub const ALL: [AlertKind; 5] = [
        AlertKind::TokenExpired,
        AlertKind::TokenRevoked,
        AlertKind::OwnershipConflict,
        AlertKind::TokenExpiring,
        AlertKind::TokenInvalid,
    ];

    /// The snake case name: metric label, paused reason, part of the event type.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::TokenExpired => "token_expired",
            AlertKind::TokenRevoked => "token_revoked",
            AlertKind::OwnershipConflict => "ownership_conflict",
            AlertKind::TokenExpiring => "token_expiring",
            AlertKind::TokenInvalid => "token_invalid",
        }
    }

    /// The kind named by [`AlertKind::as_str`] (the paused reason kept in `vpp-state`).
    pub fn from_name(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The CloudEvents `type`: `vppbridge.alert.<kind>.v1`.
    pub fn event_type(self) -> String {
        format!("vppbridge.alert.{}.v1", self.as_str())
    }

    /// Whether the location stops calling Apple until an operator acts.
    pub fn pauses(self) -> bool {
        !matches!(self, AlertKind::TokenExpiring)
    }
}

/// The other MDM's identity, for an ownership conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForeignMdm {
    /// Their `mdmInfo.id`.
    pub id: String,
    /// Their `mdmInfo.name`.
    pub name: String,
    /// Their `mdmInfo.metadata`.
    pub metadata: String,
}

/// `data` of every alert event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertData {
    /// vppbridge's location id.
    pub location: String,
    /// `token_expired`, `token_revoked`, `ownership_conflict`, `token_expiring` or
    /// `token_invalid`.
    pub kind: AlertKind,
    /// What happened and what the operator should do.
    pub message: String,
    /// Whether the location is now paused.
    pub paused: bool,
    /// The content token's expiry, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub token_expires_at: Option<DateTime<Utc>>,
    /// The MDM that now holds the location, for an ownership conflict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign_mdm: Option<ForeignMdm>,
}

/// `vpp.alerts.<location>` (every kind on one subject per location, in order).
pub fn subject(location: &str, _kind: AlertKind) -> String {
    format!("vpp.alerts.{location}")
}

/// The JSON Schema (2020-12) of each alert event, keyed by CloudEvents type (`type`,
/// `specversion` and `datacontenttype` pinned).
pub fn schemas() -> Vec<(String, serde_json::Value)> {
    AlertKind::ALL
        .iter()
        .map(|k| {
            let schema = super::CloudEvent::<AlertData>::json_schema(&k.event_type());
            (k.event_type(), schema)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_token_expiring_leaves_the_location_running() {
        for k in AlertKind::ALL {
            assert_eq!(k.pauses(), k != AlertKind::TokenExpiring, "{k:?}");
        }
        assert_eq!(
            AlertKind::OwnershipConflict.event_type(),
            "vppbridge.alert.ownership_conflict.v1"
        );
    }

    #[test]
    fn alert_schemas_are_2020_12() {
        let s = schemas();
        assert_eq!(s.len(), 5);
        assert_eq!(
            s[0].1["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }
}
