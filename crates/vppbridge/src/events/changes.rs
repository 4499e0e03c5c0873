//! Change events: one per real change of the view, published by the worker and the sync on
//! `vpp.changes.<location>.<kind>` (stream `VPP_CHANGES`).
//!
//! CloudEvents `type` `vppbridge.<family>.<what>.v1`; `data` carries the location, the view key,
//! the old and new value (`null` when absent) and the cause (a notification or a sync run).
//! Pure types, no I/O: the worker's `changes` module builds and publishes them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::notification::{Action, AssignmentRef, EventError, UserRef};
use apple_vpp::types::ResponseAsset;

/// What caused a change: exactly one of the two ids is set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cause {
    /// The notification whose delta or verification made the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<String>,
    /// The sync run that found the difference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_run_id: Option<String>,
}

impl Cause {
    /// Caused by a notification.
    pub fn notification(id: impl Into<String>) -> Self {
        Cause {
            notification_id: Some(id.into()),
            sync_run_id: None,
        }
    }

    /// Caused by a sync run.
    pub fn sync(run_id: impl Into<String>) -> Self {
        Cause {
            notification_id: None,
            sync_run_id: Some(run_id.into()),
        }
    }

    /// A short text for logs and hashes (`notification:<id>` or `sync:<id>`).
    pub fn label(&self) -> String {
        match (&self.notification_id, &self.sync_run_id) {
            (Some(n), _) => format!("notification:{n}"),
            (None, Some(s)) => format!("sync:{s}"),
            (None, None) => "unknown".to_owned(),
        }
    }
}

/// `data` of every change event except `assignment.failed`: `old` → `new` of one view key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeData<T> {
    /// vppbridge's location id.
    pub location: String,
    /// The view key (bucket-relative), e.g. `school.408709785.STDQ.d.<encoded serial>`.
    pub key: String,
    /// The value before (`null`: the key did not exist).
    pub old: Option<T>,
    /// The value after (`null`: the key was removed).
    pub new: Option<T>,
    /// What caused it.
    pub cause: Cause,
}

/// `data` of `vppbridge.assignment.failed.v1`: Apple reported a failure for this target; the view
/// is left as it is (`old` = `new` = the current value) until the verification says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentFailedData {
    /// vppbridge's location id.
    pub location: String,
    /// The view key of the (asset, target) pair.
    pub key: String,
    /// The view's value for the key (`null`: not assigned).
    pub old: Option<AssignmentRef>,
    /// The same as `old`: a failure changes nothing by itself.
    pub new: Option<AssignmentRef>,
    /// The pair Apple failed on.
    pub assignment: AssignmentRef,
    /// What was attempted.
    pub action: Action,
    /// The originating request's event id.
    pub event_id: String,
    /// Apple's error.
    pub error: EventError,
    /// What caused it (the failure notification).
    pub cause: Cause,
}

/// The kinds of change event: subject token, CloudEvents type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A license was assigned.
    AssignmentAdded,
    /// A license was unassigned.
    AssignmentRemoved,
    /// Apple failed an assignment request for a target.
    AssignmentFailed,
    /// An asset's counts or flags changed (or it appeared or vanished).
    AssetCounts,
    /// A user appeared, changed or vanished.
    UserChanged,
}

impl ChangeKind {
    /// Every kind, in the order of the schema files.
    pub const ALL: [ChangeKind; 5] = [
        ChangeKind::AssignmentAdded,
        ChangeKind::AssignmentRemoved,
        ChangeKind::AssignmentFailed,
        ChangeKind::AssetCounts,
        ChangeKind::UserChanged,
    ];

    /// The last subject token: `vpp.changes.<location>.<token>`.
    pub fn subject_token(self) -> &'static str {
        match self {
            ChangeKind::AssignmentAdded => "assignment_added",
            ChangeKind::AssignmentRemoved => "assignment_removed",
            ChangeKind::AssignmentFailed => "assignment_failed",
            ChangeKind::AssetCounts => "asset_counts",
            ChangeKind::UserChanged => "user_changed",
        }
    }

    /// The CloudEvents `type`.
    pub fn event_type(self) -> &'static str {
        match self {
            ChangeKind::AssignmentAdded => "vppbridge.assignment.added.v1",
            ChangeKind::AssignmentRemoved => "vppbridge.assignment.removed.v1",
            ChangeKind::AssignmentFailed => "vppbridge.assignment.failed.v1",
            ChangeKind::AssetCounts => "vppbridge.asset.counts.v1",
            ChangeKind::UserChanged => "vppbridge.user.changed.v1",
        }
    }
}

/// `vpp.changes.<location>.<kind>`.
pub fn subject(location: &str, kind: ChangeKind) -> String {
    format!("vpp.changes.{location}.{}", kind.subject_token())
}

/// The JSON Schema (2020-12) of each change event, keyed by CloudEvents type (`type`,
/// `specversion` and `datacontenttype` pinned).
pub fn schemas() -> Vec<(String, serde_json::Value)> {
    use super::CloudEvent;
    ChangeKind::ALL
        .iter()
        .map(|k| {
            let t = k.event_type();
            let schema = match k {
                ChangeKind::AssignmentAdded | ChangeKind::AssignmentRemoved => {
                    CloudEvent::<ChangeData<AssignmentRef>>::json_schema(t)
                }
                ChangeKind::AssignmentFailed => CloudEvent::<AssignmentFailedData>::json_schema(t),
                ChangeKind::AssetCounts => CloudEvent::<ChangeData<AssetValue>>::json_schema(t),
                ChangeKind::UserChanged => CloudEvent::<ChangeData<UserValue>>::json_schema(t),
            };
            (t.to_owned(), schema)
        })
        .collect()
}

/// An asset as the view holds it: Apple's counts and flags, `adamId` always a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetValue {
    /// Product id.
    pub adam_id: String,
    /// `STDQ` or `PLUS`.
    pub pricing_param: String,
    /// `App` or `Book`.
    #[serde(default)]
    pub product_type: String,
    /// Licenses assigned.
    pub assigned_count: i64,
    /// Licenses available.
    pub available_count: i64,
    /// Licenses retired.
    pub retired_count: i64,
    /// Licenses in total.
    pub total_count: i64,
    /// Whether the asset can be assigned to a device.
    pub device_assignable: bool,
    /// Whether the asset can be revoked.
    pub revocable: bool,
    /// Platforms the asset supports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_platforms: Vec<String>,
}

impl From<&ResponseAsset> for AssetValue {
    fn from(a: &ResponseAsset) -> Self {
        AssetValue {
            adam_id: a.adam_id.0.clone(),
            pricing_param: a.pricing_param.clone(),
            product_type: a.product_type.clone(),
            assigned_count: a.assigned_count,
            available_count: a.available_count,
            retired_count: a.retired_count,
            total_count: a.total_count,
            device_assignable: a.device_assignable,
            revocable: a.revocable,
            supported_platforms: a.supported_platforms.clone(),
        }
    }
}

/// A user as the view holds it.
pub type UserValue = UserRef;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_kind_has_a_2020_12_schema_named_by_its_type() {
        let s = schemas();
        assert_eq!(s.len(), 5);
        for (name, schema) in &s {
            assert!(
                name.starts_with("vppbridge.") && name.ends_with(".v1"),
                "{name}"
            );
            assert_eq!(
                schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
                "{name}"
            );
            assert!(schema["properties"]["data"].is_object(), "{name}: {schema}");
        }
    }

    #[test]
    fn a_cause_serialises_only_the_id_it_has() {
        let v = serde_json::to_value(Cause::notification("n-1")).unwrap();
        assert_eq!(v, serde_json::json!({"notificationId": "n-1"}));
        let v = serde_json::to_value(Cause::sync("run-1")).unwrap();
        assert_eq!(v, serde_json::json!({"syncRunId": "run-1"}));
    }
}
