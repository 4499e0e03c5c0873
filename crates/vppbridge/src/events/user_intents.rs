//! Declarative managed users, as the MDM sees them: the value it writes in `vpp-desired-users`
//! ([`DesiredUserValue`]), vppbridge's tracking record per user in `vpp-user-intents`
//! ([`UserIntentRecord`]), and the events published on `vpp.intents.<location>` (stream
//! `VPP_INTENTS`, beside the asset intent events) when a user intent reaches `applied` or
//! `failed` ([`UserIntentEventData`]).
//!
//! Pure types, no I/O.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::CloudEvent;
use super::intents::IntentState;

/// File name of the `vpp-desired-users` value's schema in `schemas/`.
pub const DESIRED_USER_SCHEMA_FILE: &str = "vppbridge.desired-user.json";
/// File name of the `vpp-user-intents` value's schema in `schemas/`.
pub const USER_INTENT_RECORD_SCHEMA_FILE: &str = "vppbridge.user-intent-record.json";

/// What the MDM wants for one managed user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserDesired {
    /// The user should exist at Apple (created, then updated when `email` or
    /// `managedAppleId` change).
    Active,
    /// The user should be retired (`users/retire`); a user Apple does not list is already so.
    Retired,
}

impl UserDesired {
    /// `active` or `retired`.
    pub fn as_str(self) -> &'static str {
        match self {
            UserDesired::Active => "active",
            UserDesired::Retired => "retired",
        }
    }
}

/// The value of a key in `vpp-desired-users` (`<location>.<base64url clientUserId>`, the keys of
/// `vpp-users`), written by the MDM or `vppbridge users apply`. An absent key is not managed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DesiredUserValue {
    /// `active` or `retired`.
    pub desired: UserDesired,
    /// The email Apple should hold (its invitation goes there); absent: not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The Managed Apple Account, which lets Apple associate the user at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_apple_id: Option<String>,
    /// Anything the MDM wants echoed back in the events (a request id, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// Which Apple write a user needs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UserOp {
    /// `POST users/create`.
    Create,
    /// `POST users/update`.
    Update,
    /// `POST users/retire`.
    Retire,
}

impl UserOp {
    /// `create`, `update` or `retire` (the endpoint's last part).
    pub fn as_str(self) -> &'static str {
        match self {
            UserOp::Create => "create",
            UserOp::Update => "update",
            UserOp::Retire => "retire",
        }
    }
}

/// vppbridge's tracking record of one managed user, in `vpp-user-intents` (same key as
/// `vpp-desired-users`). It is about the desired value at `desiredRevision`; a record about an
/// older revision means the current desired value is `pending`. While `submitted` it names the
/// request (`requestId`, written before the POST) and, once Apple answered, its `eventId`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserIntentRecord {
    /// The revision of the `vpp-desired-users` key this record is about.
    pub desired_revision: u64,
    /// What was desired at that revision.
    pub desired: UserDesired,
    /// `pending`, `submitted`, `applied` or `failed` (users never wait for licenses).
    pub state: IntentState,
    /// The write that carries (or carried) it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<UserOp>,
    /// vppbridge's id of the request carrying it, while submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Apple's `eventId` of the request that carried it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Apple's error number, when failed (9716, 9635, 9641, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_number: Option<i32>,
    /// Apple's message, when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Requests sent for this desired value.
    #[serde(default)]
    pub attempts: u32,
    /// The `managedAppleId` Apple accepted for this user (the view does not show it, so a
    /// change is detected against this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_apple_id: Option<String>,
    /// Whether Apple has the user active, as this converger's last confirmed write left it
    /// (`true` after a create or update, `false` after a retire). Used when the view does not
    /// list the user, which happens when the notification of that write was lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apple_active: Option<bool>,
    /// When the request carrying it was recorded (before its POST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// When Apple accepted that request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime<Utc>>,
    /// When Event Status was last asked about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polled_at: Option<DateTime<Utc>>,
    /// When the state last changed.
    pub updated_at: DateTime<Utc>,
}

/// The final states a user intent event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserIntentOutcome {
    /// `vppbridge.user-intent.applied.v1`.
    Applied,
    /// `vppbridge.user-intent.failed.v1`.
    Failed,
}

impl UserIntentOutcome {
    /// Every outcome, in the order of the schema files.
    pub const ALL: [UserIntentOutcome; 2] = [UserIntentOutcome::Applied, UserIntentOutcome::Failed];

    /// The state it reports.
    pub fn state(self) -> IntentState {
        match self {
            UserIntentOutcome::Applied => IntentState::Applied,
            UserIntentOutcome::Failed => IntentState::Failed,
        }
    }

    /// The CloudEvents `type`: `vppbridge.user-intent.<state>.v1`.
    pub fn event_type(self) -> String {
        format!("vppbridge.user-intent.{}.v1", self.state().as_str())
    }
}

/// `data` of every user intent event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserIntentEventData {
    /// vppbridge's location id.
    pub location: String,
    /// The `vpp-desired-users` key.
    pub key: String,
    /// The MDM's id of the user.
    pub client_user_id: String,
    /// What was desired.
    pub desired: UserDesired,
    /// `applied` or `failed`.
    pub state: IntentState,
    /// The MDM's metadata from the desired value, unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Apple's `eventId` of the request that carried it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Apple's error number, when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_number: Option<i32>,
    /// Apple's message, when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The revision of the desired key this outcome is about.
    pub desired_revision: u64,
}

/// (event type, schema) of every user intent event.
pub fn schemas() -> Vec<(String, Value)> {
    UserIntentOutcome::ALL
        .iter()
        .map(|o| {
            let t = o.event_type();
            (
                t.clone(),
                CloudEvent::<UserIntentEventData>::json_schema(&t),
            )
        })
        .collect()
}

/// (file name, schema) of the two key-value values: `vpp-desired-users` and `vpp-user-intents`.
pub fn value_schemas() -> Vec<(String, Value)> {
    vec![
        (
            DESIRED_USER_SCHEMA_FILE.to_owned(),
            schemars::schema_for!(DesiredUserValue).to_value(),
        ),
        (
            USER_INTENT_RECORD_SCHEMA_FILE.to_owned(),
            schemars::schema_for!(UserIntentRecord).to_value(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_desired_user_reads_the_documented_json_and_refuses_a_typo() {
        let v: DesiredUserValue = serde_json::from_str(
            r#"{"desired":"active","email":"a@b.c","managedAppleId":"a@school.edu"}"#,
        )
        .unwrap();
        assert_eq!(v.desired, UserDesired::Active);
        assert_eq!(v.managed_apple_id.as_deref(), Some("a@school.edu"));
        assert!(serde_json::from_str::<DesiredUserValue>(r#"{"desired":"gone"}"#).is_err());
        assert!(
            serde_json::from_str::<DesiredUserValue>(r#"{"desired":"active","mail":"x"}"#).is_err()
        );
    }

    #[test]
    fn every_user_outcome_has_a_pinned_schema() {
        for (t, schema) in schemas() {
            assert!(t.starts_with("vppbridge.user-intent."), "{t}");
            assert_eq!(schema["properties"]["type"]["const"], t.as_str());
        }
    }
}
