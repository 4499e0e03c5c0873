//! nats-server killed with SIGKILL in the middle of a 5,000-notification load and restarted on
//! the same store: whatever was answered 200 is stored exactly once, and vppbridge recovers
//! without a restart of its own.

use super::support::{
    Bridge, Load, LoadOptions, apple, assert_stored_exactly_once, bridge_config, deliver,
};
use crate::support::nats;
use vppbridge::simulator::Faults;

#[tokio::test]
async fn nats_server_killed_mid_load_and_restarted_loses_and_doubles_nothing_answered_200() {
    let mut nats = nats().await;
    let apple = apple(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = bridge_config(&nats.url(), dir.path());
    apple.configure(&mut config);
    let bridge = Bridge::start(&config, dir.path(), &["--no-worker"]).await;
    let url = bridge.notification_url();

    let notes = apple.true_associations(5000).await;
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

    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let mut all = report;
    all.posted.extend(after.posted);
    all.accepted.extend(after.accepted);
    assert_stored_exactly_once(&js, &all).await;
}
