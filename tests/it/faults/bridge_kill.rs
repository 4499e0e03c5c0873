//! vppbridge itself killed with SIGKILL and restarted: in the middle of a notification load (the
//! receiver), and in the middle of reconciliation (the worker).

use super::support::{Bridge, Load, LoadOptions, apple, assert_stored_exactly_once, bridge_config};
use crate::support::nats;
use vppbridge::simulator::Faults;

#[tokio::test]
async fn vppbridge_killed_mid_load_and_restarted_loses_and_doubles_nothing_answered_200() {
    let nats = nats().await;
    let apple = apple(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = bridge_config(&nats.url(), dir.path());
    apple.configure(&mut config);
    let mut bridge = Bridge::start(&config, dir.path(), &["--no-worker"]).await;

    let notes = apple.true_associations(3000).await;
    let load = Load::spawn(&bridge.notification_url(), notes, LoadOptions::default());
    load.wait_accepted(1000).await;
    bridge.kill().await;
    let accepted_at_kill = load.accepted();
    load.wait_failed(32).await;
    bridge.restart().await;
    let report = load.finish().await;

    assert!(
        report.statuses.get(&0).copied().unwrap_or(0) > 0,
        "the kill happened during the load: {:?}",
        report.statuses
    );
    assert!(
        report.accepted.len() > accepted_at_kill,
        "notifications were accepted after the restart: {:?}",
        report.statuses
    );
    bridge.assert_serving().await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    assert_stored_exactly_once(&js, &report).await;
}
