//! nats-server killed with SIGKILL in the middle of a 5,000-notification load and restarted on
//! the same store: whatever was answered 200 is stored exactly once, and vppbridge recovers
//! without a restart of its own; the worker, in the same process, brings the view to Apple's
//! truth from the notifications alone (periodic syncs are off).

use std::time::Duration;

use super::support::{
    Bridge, Load, LoadOptions, apple, assert_stored_exactly_once, assert_view_matches_truth,
    bridge_config, deliver,
};
use crate::support::nats;
use vppbridge_sim::Faults;

#[tokio::test]
async fn nats_server_killed_mid_load_and_restarted_loses_and_doubles_nothing_answered_200() {
    let mut nats = nats().await;
    let apple = apple(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = bridge_config(&nats.url(), dir.path());
    apple.configure(&mut config);
    let bridge = Bridge::start(&config, dir.path(), &[]).await;
    let url = bridge.notification_url();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    // The initial full sync; from here on only notifications bring the view to Apple's truth.
    assert_view_matches_truth(&js, &apple, Duration::from_secs(30)).await;

    let notes = apple.associate_everything(5000).await;
    let load = Load::spawn(&url, notes, LoadOptions::default());
    load.wait_accepted(1500).await;
    nats.kill().await;
    let accepted_at_kill = load.accepted();
    // The outage lasts until the senders have seen it, not for a fixed time.
    load.wait_failed(32).await;
    nats.restart().await.expect("nats-server comes back");
    let report = load.finish().await;

    assert!(
        report.statuses.get(&503).copied().unwrap_or(0) > 0,
        "the kill happened during the load: {:?}",
        report.statuses
    );
    assert!(
        report.accepted.len() > accepted_at_kill,
        "notifications were accepted after the restart: {:?}",
        report.statuses
    );
    let after = deliver(
        &url,
        apple.true_associations(100).await,
        LoadOptions {
            tries: 1,
            ..LoadOptions::default()
        },
    )
    .await;
    assert_eq!(
        after.accepted.len(),
        100,
        "every notification is accepted at once after the restart: {:?}",
        after.statuses
    );

    let mut all = report;
    all.posted.extend(after.posted);
    all.accepted.extend(after.accepted);
    assert_stored_exactly_once(&js, &all).await;
    assert_view_matches_truth(&js, &apple, Duration::from_secs(60)).await;
}
