//! Declarative licensing, as the MDM sees it: the value it writes in `vpp-desired`
//! ([`DesiredValue`]), the tracking record vppbridge keeps per key in `vpp-intents`
//! ([`IntentRecord`]), and the intent events published on `vpp.intents.<location>` (stream
//! `VPP_INTENTS`) when an intent reaches `applied`, `waiting` or `failed` ([`IntentEventData`]).
//!
//! Pure types, no I/O.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::CloudEvent;

/// File name of the `vpp-desired` value's schema in `schemas/`.
pub const DESIRED_SCHEMA_FILE: &str = "vppbridge.desired.json";
/// File name of the `vpp-intents` value's schema in `schemas/`.
pub const INTENT_RECORD_SCHEMA_FILE: &str = "vppbridge.intent-record.json";

/// What the MDM wants for one (asset, target) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    /// The target should hold a license of the asset.
    Assigned,
    /// The target should not hold one.
    Unassigned,
}

impl Desired {
    /// `assigned` or `unassigned`.
    pub fn as_str(self) -> &'static str {
        match self {
            Desired::Assigned => "assigned",
            Desired::Unassigned => "unassigned",
        }
    }
}

/// The value of a key in `vpp-desired` (written by the MDM, or by `vppbridge assign|unassign`).
/// The key says which pair; a key that is absent is not managed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesiredValue {
    /// `assigned` or `unassigned`.
    pub desired: Desired,
    /// Anything the MDM wants echoed back in the intent events (a request id, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// Where an intent stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum IntentState {
    /// Not sent to Apple yet (no record, or a record about an older desired value).
    Pending,
    /// Inside a request Apple accepted (or one being sent); waiting for its outcome.
    Submitted,
    /// Apple's state equals the desired state.
    Applied,
    /// No license left (9709): sent again when the asset has licenses available.
    Waiting,
    /// A permanent error (or a transient one retried too often): not retried until the
    /// desired value changes.
    Failed,
}

impl IntentState {
    /// Every state.
    pub const ALL: [IntentState; 5] = [
        IntentState::Pending,
        IntentState::Submitted,
        IntentState::Applied,
        IntentState::Waiting,
        IntentState::Failed,
    ];

    /// The snake case name.
    pub fn as_str(self) -> &'static str {
        match self {
            IntentState::Pending => "pending",
            IntentState::Submitted => "submitted",
            IntentState::Applied => "applied",
            IntentState::Waiting => "waiting",
            IntentState::Failed => "failed",
        }
    }
}

impl std::str::FromStr for IntentState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => IntentState::Pending,
            "submitted" => IntentState::Submitted,
            "applied" => IntentState::Applied,
            "waiting" => IntentState::Waiting,
            "failed" => IntentState::Failed,
            _ => {
                return Err(format!(
                    "unknown state {s:?}: use pending, submitted, applied, waiting or failed"
                ));
            }
        })
    }
}

/// vppbridge's tracking record of one key, in `vpp-intents` (same key as `vpp-desired`). It is
/// about the desired value at `desiredRevision`; a record about an older revision means the
/// current desired value is `pending`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntentRecord {
    /// The revision of the `vpp-desired` key this record is about.
    pub desired_revision: u64,
    /// What was desired at that revision.
    pub desired: Desired,
    /// Where it stands.
    pub state: IntentState,
    /// The request carrying it (a key of `vpp-intent-requests`), while submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Apple's `eventId` of the request that carried it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Apple's error number, when waiting or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_number: Option<i32>,
    /// Apple's message (or vppbridge's explanation), when waiting or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Requests sent for this desired value (transient failures are retried up to a bound).
    #[serde(default)]
    pub attempts: u32,
    /// When it was first submitted for this desired value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime<Utc>>,
    /// While waiting: the view's revision of the asset when Apple answered 9709. The key is
    /// tried again only once the asset has changed since (a purchase, a freed license), never
    /// on counts that have not yet caught up with the request that found no license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_revision: Option<u64>,
    /// When the state last changed.
    pub updated_at: DateTime<Utc>,
}

/// The final states an intent event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntentOutcome {
    /// `vppbridge.intent.applied.v1`.
    Applied,
    /// `vppbridge.intent.waiting.v1`.
    Waiting,
    /// `vppbridge.intent.failed.v1`.
    Failed,
}

impl IntentOutcome {
    /// Every outcome, in the order of the schema files.
    pub const ALL: [IntentOutcome; 3] = [
        IntentOutcome::Applied,
        IntentOutcome::Waiting,
        IntentOutcome::Failed,
    ];

    /// The state it reports.
    pub fn state(self) -> IntentState {
        match self {
            IntentOutcome::Applied => IntentState::Applied,
            IntentOutcome::Waiting => IntentState::Waiting,
            IntentOutcome::Failed => IntentState::Failed,
        }
    }

    /// The CloudEvents `type`: `vppbridge.intent.<state>.v1`.
    pub fn event_type(self) -> String {
        format!("vppbridge.intent.{}.v1", self.state().as_str())
    }
}

/// The subject of a location's intent events.
pub fn subject(location: &str) -> String {
    format!("vpp.intents.{location}")
}

/// `data` of every intent event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntentEventData {
    /// vppbridge's location id.
    pub location: String,
    /// The `vpp-desired` key.
    pub key: String,
    /// Product id.
    pub adam_id: String,
    /// `STDQ` or `PLUS`.
    pub pricing_param: String,
    /// The device, for a device intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// The user, for a user intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_user_id: Option<String>,
    /// What was desired.
    pub desired: Desired,
    /// `applied`, `waiting` or `failed`.
    pub state: IntentState,
    /// The MDM's metadata from the desired value, unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Apple's `eventId` of the request that carried it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Apple's error number, when waiting or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_number: Option<i32>,
    /// Apple's message, when waiting or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The revision of the desired key this outcome is about.
    pub desired_revision: u64,
}

/// (event type, schema) of every intent event.
pub fn schemas() -> Vec<(String, Value)> {
    IntentOutcome::ALL
        .iter()
        .map(|o| {
            let t = o.event_type();
            let schema = CloudEvent::<IntentEventData>::json_schema(&t);
            (t, schema)
        })
        .collect()
}

/// (file name, schema) of the two key-value values: `vpp-desired` and `vpp-intents`.
pub fn value_schemas() -> Vec<(String, Value)> {
    vec![
        (
            DESIRED_SCHEMA_FILE.to_owned(),
            schemars::schema_for!(DesiredValue).to_value(),
        ),
        (
            INTENT_RECORD_SCHEMA_FILE.to_owned(),
            schemars::schema_for!(IntentRecord).to_value(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_desired_value_reads_the_documented_json() {
        let v: DesiredValue =
            serde_json::from_str(r#"{"desired":"assigned","metadata":{"requestId":"r1"}}"#)
                .unwrap();
        assert_eq!(v.desired, Desired::Assigned);
        assert_eq!(v.metadata.unwrap()["requestId"], "r1");
        assert!(serde_json::from_str::<DesiredValue>(r#"{"desired":"maybe"}"#).is_err());
    }

    #[test]
    fn every_outcome_has_a_pinned_schema() {
        let s = schemas();
        assert_eq!(s.len(), 3);
        for (t, schema) in s {
            assert_eq!(schema["properties"]["type"]["const"], t.as_str());
        }
    }
}
