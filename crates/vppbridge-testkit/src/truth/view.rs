//! The view's side: a location's values in `vpp-assets`, `vpp-assignments` and `vpp-users`,
//! read as the event contract documents them, each checked to sit under the key the README's
//! layout gives it (`<location>.<adamId>.<pricingParam>`,
//! `<location>.<adamId>.<pricingParam>.<d|u>.<id>`, `<location>.<id>`, ids in base64url without
//! padding). The keys are rebuilt here from that documented layout, not with the worker's key
//! functions, so a key bug in the worker shows as a [`Difference::Misfiled`].

use async_nats::jetstream::{self, consumer};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt;
use serde::Deserialize;

use super::compare::{Counts, Difference, Snapshot, Target, target};
use super::{ASSETS_BUCKET, ASSIGNMENTS_BUCKET, TruthError, USERS_BUCKET};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ViewAsset {
    adam_id: String,
    pricing_param: String,
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ViewAssignment {
    adam_id: String,
    pricing_param: String,
    serial_number: Option<String>,
    client_user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ViewUser {
    client_user_id: String,
    status: String,
}

/// The key the documented layout gives an asset.
fn asset_key(location: &str, adam_id: &str, pricing_param: &str) -> String {
    format!("{location}.{adam_id}.{pricing_param}")
}

/// The key the documented layout gives an assignment.
fn assignment_key(location: &str, adam_id: &str, pricing_param: &str, t: &Target) -> String {
    let (kind, id) = match t {
        Target::Device(s) => ("d", s),
        Target::User(u) => ("u", u),
    };
    format!(
        "{}.{kind}.{}",
        asset_key(location, adam_id, pricing_param),
        URL_SAFE_NO_PAD.encode(id)
    )
}

/// The key the documented layout gives a user.
fn user_key(location: &str, client_user_id: &str) -> String {
    format!("{location}.{}", URL_SAFE_NO_PAD.encode(client_user_id))
}

/// Notes a value found under `key` whose own key is `expected`, when they differ.
fn filed(snap: &mut Snapshot, bucket: &str, key: &str, expected: String) {
    if key != expected {
        snap.problems.push(Difference::Misfiled {
            key: format!("{bucket}/{key}"),
            expected,
        });
    }
}

/// Reads `location`'s part of the view. A value that is not what vppbridge writes is kept as a
/// [`Difference::Unreadable`], one under another key than its own as a
/// [`Difference::Misfiled`] (neither can equal any truth).
///
/// # Errors
/// [`TruthError::View`] when a bucket cannot be read.
pub async fn read_view(js: &jetstream::Context, location: &str) -> Result<Snapshot, TruthError> {
    let mut snap = Snapshot::default();
    for (key, value) in live_values(js, ASSETS_BUCKET, location).await? {
        match serde_json::from_slice::<ViewAsset>(&value) {
            Ok(a) => {
                let expected = asset_key(location, &a.adam_id, &a.pricing_param);
                filed(&mut snap, ASSETS_BUCKET, &key, expected);
                snap.assets.insert((a.adam_id, a.pricing_param), a.counts);
            }
            Err(_) => snap
                .problems
                .push(Difference::Unreadable(format!("{ASSETS_BUCKET}/{key}"))),
        }
    }
    for (key, value) in live_values(js, ASSIGNMENTS_BUCKET, location).await? {
        let parsed = serde_json::from_slice::<ViewAssignment>(&value)
            .ok()
            .and_then(|a| {
                let t = target(a.serial_number.as_ref(), a.client_user_id.as_ref())?;
                Some(((a.adam_id, a.pricing_param), t))
            });
        match parsed {
            Some(((adam_id, pricing_param), t)) => {
                let expected = assignment_key(location, &adam_id, &pricing_param, &t);
                filed(&mut snap, ASSIGNMENTS_BUCKET, &key, expected);
                snap.assignments.insert(((adam_id, pricing_param), t));
            }
            None => snap.problems.push(Difference::Unreadable(format!(
                "{ASSIGNMENTS_BUCKET}/{key}"
            ))),
        }
    }
    for (key, value) in live_values(js, USERS_BUCKET, location).await? {
        match serde_json::from_slice::<ViewUser>(&value) {
            Ok(u) => {
                filed(
                    &mut snap,
                    USERS_BUCKET,
                    &key,
                    user_key(location, &u.client_user_id),
                );
                snap.users.insert(u.client_user_id, u.status);
            }
            Err(_) => snap
                .problems
                .push(Difference::Unreadable(format!("{USERS_BUCKET}/{key}"))),
        }
    }
    Ok(snap)
}

/// The live keys under `<location>.` in `bucket` with their values: one pass over the bucket's
/// stream (last message per key), not one request per key, so a 100,000-key view reads in one go.
async fn live_values(
    js: &jetstream::Context,
    bucket: &'static str,
    location: &str,
) -> Result<Vec<(String, bytes::Bytes)>, TruthError> {
    let err = |detail: String| TruthError::View {
        bucket,
        location: location.to_owned(),
        detail,
    };
    let store = js
        .get_key_value(bucket)
        .await
        .map_err(|e| err(e.to_string()))?;
    let consumer = store
        .stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: js.client().new_inbox(),
            filter_subject: format!("{}{location}.>", store.prefix),
            deliver_policy: consumer::DeliverPolicy::LastPerSubject,
            replay_policy: consumer::ReplayPolicy::Instant,
            ..Default::default()
        })
        .await
        .map_err(|e| err(e.to_string()))?;
    let mut out = Vec::new();
    if consumer.cached_info().num_pending == 0 {
        return Ok(out);
    }
    let mut messages = consumer.messages().await.map_err(|e| err(e.to_string()))?;
    while let Some(m) = messages.next().await {
        let m = m.map_err(|e| err(e.to_string()))?;
        let pending = m.info().map_err(|e| err(e.to_string()))?.pending;
        // Deletes and purges carry a `KV-Operation` header; puts carry none.
        let deleted = m
            .headers
            .as_ref()
            .and_then(|h| h.get("KV-Operation"))
            .is_some();
        if !deleted && let Some(key) = m.subject.as_str().strip_prefix(store.prefix.as_str()) {
            out.push((key.to_owned(), m.payload.clone()));
        }
        if pending == 0 {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        assert_eq!(asset_key("school", "1", "STDQ"), "school.1.STDQ");
        assert_eq!(
            assignment_key("school", "1", "STDQ", &Target::Device("A.B C".into())),
            "school.1.STDQ.d.QS5CIEM"
        );
        assert_eq!(
            assignment_key("school", "1", "STDQ", &Target::User("u1".into())),
            "school.1.STDQ.u.dTE"
        );
        assert_eq!(user_key("school", "u>1"), "school.dT4x");
    }

    #[test]
    fn a_value_under_another_key_than_its_own_is_a_problem() {
        let mut snap = Snapshot::default();
        filed(
            &mut snap,
            USERS_BUCKET,
            "school.dTE",
            user_key("school", "u1"),
        );
        assert!(snap.problems.is_empty());
        filed(
            &mut snap,
            USERS_BUCKET,
            "school.dTI",
            user_key("school", "u1"),
        );
        assert_eq!(
            snap.problems,
            vec![Difference::Misfiled {
                key: "vpp-users/school.dTI".into(),
                expected: "school.dTE".into()
            }]
        );
    }
}
