//! The public event contract: CloudEvents 1.0 (structured JSON) that vppbridge publishes on NATS.
//!
//! - [`notification`]: what the receiver publishes on `vpp.notifications.<location>.<type>`.
//! - [`changes`]: what the worker and the sync publish on `vpp.changes.<location>.<kind>` when the
//!   view changes.
//! - [`alerts`]: what the worker publishes on `vpp.alerts.<location>` when a location needs
//!   an operator.
//! - [`intents`]: declarative licensing: the `vpp-desired` value the MDM writes, the
//!   `vpp-intents` tracking record, and the intent events on `vpp.intents.<location>`.
//! - [`user_intents`]: declarative managed users: `vpp-desired-users`, `vpp-user-intents` and
//!   the user intent events.
//!
//! Pure types, no I/O. The JSON Schemas in `schemas/` are generated from these types
//! (`vppbridge schemas write`), and a test fails when the files and the types disagree.

pub mod alerts;
pub mod changes;
pub mod intents;
pub mod notification;
pub mod schemas;
pub mod user_intents;

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// CloudEvents spec version every vppbridge event carries.
pub const SPEC_VERSION: &str = "1.0";

/// A CloudEvents 1.0 event in structured JSON mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CloudEvent<T> {
    /// Always `1.0`.
    pub specversion: String,
    /// Unique per source; for notifications `<location>:<notificationId>`.
    pub id: String,
    /// `vppbridge/<location>`.
    pub source: String,
    /// `vppbridge.<family>.<kind>.v<N>`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When vppbridge produced the event (RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    #[schemars(with = "String")]
    pub time: DateTime<Utc>,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The `eventId`, `adamId` or key the event is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The payload.
    pub data: T,
}

impl<T> CloudEvent<T> {
    /// Builds an event with the fixed attributes filled in.
    pub fn new(
        id: String,
        location: &str,
        event_type: String,
        time: DateTime<Utc>,
        subject: Option<String>,
        data: T,
    ) -> Self {
        CloudEvent {
            specversion: SPEC_VERSION.to_owned(),
            id,
            source: format!("vppbridge/{location}"),
            event_type,
            time,
            datacontenttype: "application/json".to_owned(),
            subject,
            data,
        }
    }
}

impl<T: JsonSchema> CloudEvent<T> {
    /// The JSON Schema (2020-12) of this event with `type` = `event_type`: `type`, `specversion`
    /// and `datacontenttype` pinned to their constants and `time` marked as a date-time, which
    /// the generic type cannot express.
    pub fn json_schema(event_type: &str) -> Value {
        let mut schema = schemars::schema_for!(CloudEvent<T>).to_value();
        schema["title"] = Value::from(event_type);
        let props = &mut schema["properties"];
        props["type"]["const"] = Value::from(event_type);
        props["specversion"]["const"] = Value::from(SPEC_VERSION);
        props["datacontenttype"]["const"] = Value::from("application/json");
        props["time"]["format"] = Value::from("date-time");
        schema
    }
}

/// RFC 3339 with second precision and a `Z`, for CloudEvents' `time`.
mod rfc3339 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}
