//! JSON Schemas (2020-12) generated from the event types with `schemars`: one file per event
//! type (the whole CloudEvent with its typed `data`) plus Apple's notification envelope.
//!
//! [`all`] is the one list of every schema the project publishes; other event families
//! (changes, alerts) append theirs there. `vppbridge schemas write [DIR]` writes them, and a test
//! fails when the files in `schemas/` and the types disagree.
//!
//! This file depends on the families, never the reverse: each family builds its schemas with
//! [`CloudEvent::json_schema`].

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use schemars::JsonSchema;
use serde_json::Value;

use super::CloudEvent;
use super::notification::{
    AssetCountData, AssetManagementData, PlainData, SubscriptionCountData,
    SubscriptionManagementData, UserAssociatedData, UserManagementData, event_type_for,
};
use apple_vpp::types::NotificationEnvelope;

/// File name of Apple's envelope schema.
pub const ENVELOPE_FILE: &str = "apple.notification-envelope.json";

/// The file name of an event type's schema: `<event type>.json`.
pub fn file_name(event_type: &str) -> String {
    format!("{event_type}.json")
}

/// Every schema: (file name, schema), notification events first, then the envelope.
pub fn all() -> Vec<(String, Value)> {
    vec![
        notification::<AssetManagementData>("asset_management"),
        notification::<AssetCountData>("asset_count"),
        notification::<UserManagementData>("user_management"),
        notification::<UserAssociatedData>("user_associated"),
        notification::<PlainData>("test_notification"),
        notification::<SubscriptionManagementData>("subscription_management"),
        notification::<SubscriptionCountData>("subscription_count"),
        notification::<PlainData>("unknown"),
        (
            ENVELOPE_FILE.to_owned(),
            schemars::schema_for!(NotificationEnvelope).to_value(),
        ),
    ]
    .into_iter()
    .chain(
        super::changes::schemas()
            .into_iter()
            .chain(super::alerts::schemas())
            .chain(super::intents::schemas())
            .chain(super::user_intents::schemas())
            .map(|(event_type, schema)| (file_name(&event_type), schema)),
    )
    .chain(super::intents::value_schemas())
    .chain(super::user_intents::value_schemas())
    .collect()
}

/// The schema of a whole CloudEvent whose `data` is `T`, with its fixed attributes pinned.
fn notification<T: JsonSchema>(kind: &str) -> (String, Value) {
    let event_type = event_type_for(kind);
    let schema = CloudEvent::<T>::json_schema(&event_type);
    (file_name(&event_type), schema)
}

/// Writes every schema into `dir` as pretty JSON.
///
/// # Errors
/// When the folder or a file cannot be written.
pub fn write_all(dir: &Path) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, schema) in all() {
        let path = dir.join(&name);
        let mut text = serde_json::to_string_pretty(&schema)?;
        text.push('\n');
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(name);
    }
    Ok(written)
}

/// `vppbridge schemas write DIR`.
///
/// # Errors
/// When a file cannot be written.
pub fn write_command(dir: &Path) -> anyhow::Result<ExitCode> {
    let written = write_all(dir)?;
    println!("wrote {} schemas to {}", written.len(), dir.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_files_in_the_repository_match_the_types() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        let mut problems = Vec::new();
        let expected = all();
        for (name, schema) in &expected {
            match std::fs::read_to_string(dir.join(name)) {
                Ok(text) => match serde_json::from_str::<Value>(&text) {
                    Ok(v) if &v == schema => {}
                    Ok(_) => problems.push(format!("{name} differs from the types")),
                    Err(e) => problems.push(format!("{name} is not JSON: {e}")),
                },
                Err(e) => problems.push(format!("{name} cannot be read: {e}")),
            }
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".json") && !expected.iter().any(|(n, _)| *n == name) {
                    problems.push(format!("{name} has no type behind it"));
                }
            }
        }
        assert!(
            problems.is_empty(),
            "schemas/ and the event types disagree; run `cargo run -- schemas write` and review the diff:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn every_notification_kind_has_a_pinned_schema() {
        let schemas = all();
        for kind in super::super::notification::KINDS {
            let event_type = event_type_for(kind);
            let (_, schema) = schemas
                .iter()
                .find(|(n, _)| *n == file_name(&event_type))
                .unwrap_or_else(|| panic!("no schema for {kind}"));
            assert_eq!(schema["properties"]["type"]["const"], event_type.as_str());
            assert_eq!(
                schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
                "{kind}"
            );
        }
    }
}
