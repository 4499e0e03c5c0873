//! The two checks every scenario ends with: the notification stream holds every notification
//! answered 200 exactly once, and the view equals the simulator's truth.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::jetstream;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use tokio::time::Instant;
use vppbridge::nats::NOTIFICATIONS_STREAM;

use super::{Apple, LOCATION, LoadReport};

/// Every message of `VPP_NOTIFICATIONS`: (`Nats-Msg-Id`, CloudEvent `id`) per message, read with
/// an ordered consumer from the first message.
pub async fn stored_ids(js: &jetstream::Context) -> Vec<(String, String)> {
    let mut stream = js
        .get_stream(NOTIFICATIONS_STREAM)
        .await
        .expect("the notification stream exists");
    let count = stream.info().await.expect("stream info").state.messages;
    let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    if count == 0 {
        return out;
    }
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("consume the stream");
    while (out.len() as u64) < count {
        let msg = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("the stream delivers every stored message")
            .expect("the message stream does not end")
            .expect("a message");
        let header = msg
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let event: Value = serde_json::from_slice(&msg.payload).expect("a JSON CloudEvent");
        let id = event["id"].as_str().unwrap_or_default().to_owned();
        out.push((header, id));
    }
    out
}

/// Check 1: every notification answered 200 is in `VPP_NOTIFICATIONS` exactly once (by
/// `Nats-Msg-Id` and by CloudEvent id, which must agree); no notification is stored twice; and
/// nothing is stored that was not posted. Notifications never answered 200 may be missing.
pub async fn assert_stored_exactly_once(js: &jetstream::Context, report: &LoadReport) {
    let stored = stored_ids(js).await;
    let mut per_id: BTreeMap<&str, usize> = BTreeMap::new();
    for (header, event_id) in &stored {
        assert_eq!(header, event_id, "Nats-Msg-Id and CloudEvent id differ");
        *per_id.entry(header.as_str()).or_default() += 1;
    }
    let doubled: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "stored more than once: {doubled:?}");
    let expected = |id: &str| format!("{LOCATION}:{id}");
    let missing: Vec<_> = report
        .accepted
        .iter()
        .filter(|id| !per_id.contains_key(expected(id).as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} notifications answered 200 are not in the stream, e.g. {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    let posted: BTreeSet<String> = report.posted.iter().map(|id| expected(id)).collect();
    let foreign: Vec<_> = per_id.keys().filter(|k| !posted.contains(**k)).collect();
    assert!(foreign.is_empty(), "stored but never posted: {foreign:?}");
}

/// A location's licensing state in one comparable shape, read either from the view's buckets or
/// from the simulator's truth.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// (adamId, pricingParam) → (assigned, available, retired, total).
    pub assets: BTreeMap<(String, String), [i64; 4]>,
    /// (adamId, pricingParam, `d` serial | `u` clientUserId).
    pub assignments: BTreeSet<(String, String, String)>,
    /// clientUserId → status, active users only (retired ones may or may not be kept).
    pub users: BTreeMap<String, String>,
}

impl Snapshot {
    /// What differs from `other`, a few entries of each kind, for failure messages.
    pub fn diff(&self, other: &Snapshot) -> String {
        fn side<K: Ord + std::fmt::Debug>(a: &BTreeSet<K>, b: &BTreeSet<K>) -> String {
            let only_a: Vec<_> = a.difference(b).take(5).collect();
            let only_b: Vec<_> = b.difference(a).take(5).collect();
            format!(
                "{} only in the view {only_a:?}, {} only at Apple {only_b:?}",
                a.difference(b).count(),
                b.difference(a).count()
            )
        }
        let entries = |m: &BTreeMap<(String, String), [i64; 4]>| -> BTreeSet<String> {
            m.iter().map(|(k, v)| format!("{k:?}={v:?}")).collect()
        };
        let users = |m: &BTreeMap<String, String>| -> BTreeSet<String> {
            m.iter().map(|(k, v)| format!("{k}={v}")).collect()
        };
        format!(
            "assets: {}\nassignments: {}\nusers: {}",
            side(&entries(&self.assets), &entries(&other.assets)),
            side(&self.assignments, &other.assignments),
            side(&users(&self.users), &users(&other.users)),
        )
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn counts(a: &Value) -> [i64; 4] {
    [
        "assignedCount",
        "availableCount",
        "retiredCount",
        "totalCount",
    ]
    .map(|k| a[k].as_i64().unwrap_or(i64::MIN))
}

/// The simulator's truth (`/_sim/locations/{uId}/state`) as a [`Snapshot`].
pub fn truth_snapshot(truth: &Value) -> Snapshot {
    let list = |k: &str| truth[k].as_array().cloned().unwrap_or_default();
    let mut snap = Snapshot::default();
    for a in list("assets") {
        let key = (s(&a["adamId"]), s(&a["pricingParam"]));
        snap.assets.insert(key, counts(&a));
    }
    for a in list("assignments") {
        let target = match (a["serialNumber"].as_str(), a["clientUserId"].as_str()) {
            (Some(serial), _) => format!("d {serial}"),
            (None, Some(user)) => format!("u {user}"),
            (None, None) => panic!("an assignment without a target at Apple: {a}"),
        };
        snap.assignments
            .insert((s(&a["adamId"]), s(&a["pricingParam"]), target));
    }
    for u in list("users") {
        let status = s(&u["status"]);
        if status != "Retired" {
            snap.users.insert(s(&u["clientUserId"]), status);
        }
    }
    snap
}

/// Every (key, JSON value) of `bucket` under `<LOCATION>.`.
///
/// A NATS error (a cluster electing a new leader after a node came back) is returned, not a
/// panic: the caller polls until its deadline.
async fn bucket_entries(
    js: &jetstream::Context,
    bucket: &str,
) -> Result<Vec<(String, Value)>, String> {
    let kv = js
        .get_key_value(bucket)
        .await
        .map_err(|e| format!("bucket {bucket}: {e}"))?;
    let keys: Vec<String> = kv
        .keys()
        .await
        .map_err(|e| format!("keys of {bucket}: {e}"))?
        .try_filter(|k| futures::future::ready(k.starts_with(&format!("{LOCATION}."))))
        .try_collect()
        .await
        .map_err(|e| format!("keys of {bucket}: {e}"))?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let got = kv
            .get(&key)
            .await
            .map_err(|e| format!("{bucket}/{key}: {e}"))?;
        if let Some(bytes) = got {
            let value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{bucket}/{key} is not JSON: {e}"));
            out.push((key, value));
        }
    }
    Ok(out)
}

/// The view's buckets for [`LOCATION`] as a [`Snapshot`]. Assignment keys are
/// `<location>.<adamId>.<pricingParam>.<d|u>.<base64url id>` (`src/view/keys.rs`).
pub async fn view_snapshot(js: &jetstream::Context) -> Result<Snapshot, String> {
    use base64::Engine as _;
    let mut snap = Snapshot::default();
    for (_, a) in bucket_entries(js, vppbridge::nats::ASSETS_BUCKET).await? {
        let key = (s(&a["adamId"]), s(&a["pricingParam"]));
        snap.assets.insert(key, counts(&a));
    }
    for (key, _) in bucket_entries(js, vppbridge::nats::ASSIGNMENTS_BUCKET).await? {
        let parts: Vec<&str> = key.split('.').collect();
        let [_, adam, pp, kind, id] = parts[..] else {
            panic!("assignment key {key:?} is not <location>.<adamId>.<pp>.<d|u>.<id>");
        };
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_else(|| panic!("assignment key {key:?}: the id is not base64url"));
        snap.assignments
            .insert((adam.to_owned(), pp.to_owned(), format!("{kind} {id}")));
    }
    for (_, u) in bucket_entries(js, vppbridge::nats::USERS_BUCKET).await? {
        let status = s(&u["status"]);
        if status != "Retired" {
            snap.users.insert(s(&u["clientUserId"]), status);
        }
    }
    Ok(snap)
}

/// Check 2: the view equals the simulator's truth, within `limit` (the worker may still be
/// verifying when the load ends); on timeout, the difference.
pub async fn assert_view_matches_truth(js: &jetstream::Context, apple: &Apple, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let truth = truth_snapshot(&apple.truth().await);
        let difference = match view_snapshot(js).await {
            Ok(view) if view == truth => {
                assert!(
                    !truth.assignments.is_empty(),
                    "a comparison of two empty states proves nothing"
                );
                return;
            }
            Ok(view) => view.diff(&truth),
            Err(e) => format!("the view could not be read: {e}"),
        };
        assert!(
            Instant::now() < deadline,
            "the view differs from Apple's truth after {limit:?}:\n{difference}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
