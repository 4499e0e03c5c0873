//! The two checks every scenario ends with: the notification stream holds every notification
//! answered 200 exactly once, and the view equals the simulator's truth (the testkit's
//! [`vppbridge_testkit::truth`], the comparison the demo and the benchmarks use too).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use serde_json::Value;
use tokio::time::Instant;
use vppbridge::config::Config;
use vppbridge::nats::NOTIFICATIONS_STREAM;
use vppbridge_testkit::truth;

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

/// How long one reading of the view may take before it counts as failed and is tried again
/// (an ordered consumer can wait on a cluster that is electing a new stream leader).
const READ_LIMIT: Duration = Duration::from_secs(10);

/// Check 2: the view equals the simulator's truth, within `limit` (the worker may still be
/// verifying when the load ends); on timeout, the difference. The comparison is the testkit's
/// [`vppbridge_testkit::truth`] (assets with counts, assignments, users with status, each value
/// under its documented key), with the configuration's `sync.users_active_only` (the default,
/// which [`super::bridge_config`] keeps).
pub async fn assert_view_matches_truth(js: &jetstream::Context, apple: &Apple, limit: Duration) {
    let users_active_only = Config::default().sync.users_active_only;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + limit;
    loop {
        let apple_state = truth::fetch_truth(&http, &apple.sim.admin_url(), &apple.location.u_id)
            .await
            .expect("the simulator's admin API answers with the location's state");
        let expected = apple_state.snapshot(users_active_only);
        // A NATS error (a cluster electing a new leader after a node came back) is polled
        // through until the deadline, not a panic.
        let difference =
            match tokio::time::timeout(READ_LIMIT, truth::read_view(js, LOCATION)).await {
                Ok(Ok(view)) => {
                    let comparison = truth::compare(&view, &expected);
                    if comparison.matches() {
                        assert!(
                            comparison.truth_sizes.1 > 0,
                            "a comparison of two empty states proves nothing"
                        );
                        return;
                    }
                    comparison.to_string()
                }
                Ok(Err(e)) => format!("the view could not be read: {e}"),
                Err(_) => format!("reading the view took longer than {READ_LIMIT:?}"),
            };
        assert!(
            Instant::now() < deadline,
            "the view differs from Apple's truth after {limit:?}:\n{difference}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
