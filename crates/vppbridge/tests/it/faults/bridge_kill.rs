//! vppbridge itself killed with SIGKILL and restarted: in the middle of a notification load
//! (the receiver), and in the middle of reconciliation (the worker). Periodic syncs are off, so
//! only the notifications bring the view to Apple's truth.

use std::time::Duration;

use async_nats::jetstream;
use vppbridge_sim::Faults;

use super::support::{
    Bridge, Load, LoadOptions, apple, assert_stored_exactly_once, assert_view_matches_truth,
    bridge_config, deliver, eventually,
};
use crate::support::nats;

#[tokio::test]
async fn vppbridge_killed_mid_load_and_restarted_loses_and_doubles_nothing_answered_200() {
    let nats = nats().await;
    let apple = apple(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = bridge_config(&nats.url(), dir.path());
    apple.configure(&mut config);
    let mut bridge = Bridge::start(&config, dir.path(), &[]).await;
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    assert_view_matches_truth(&js, &apple, Duration::from_secs(30)).await;

    let notes = apple.associate_everything(3000).await;
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
    assert_stored_exactly_once(&js, &report).await;
    assert_view_matches_truth(&js, &apple, Duration::from_secs(60)).await;
}

/// The worker's durable consumer: (messages acknowledged, messages still to acknowledge).
async fn consumer_progress(js: &jetstream::Context, durable: &str) -> Option<(u64, u64)> {
    let stream = js
        .get_stream(vppbridge::nats::NOTIFICATIONS_STREAM)
        .await
        .ok()?;
    let mut consumer: jetstream::consumer::PullConsumer =
        stream.get_consumer(durable).await.ok()?;
    let info = consumer.info().await.ok()?;
    let done = info.ack_floor.stream_sequence;
    let left = info.num_pending + info.num_ack_pending as u64;
    Some((done, left))
}

#[tokio::test]
async fn vppbridge_killed_during_reconciliation_and_restarted_reaches_apples_truth() {
    let nats = nats().await;
    // Slow Apple calls keep the worker busy long enough to be caught half-way.
    let apple = apple(Faults {
        latency_ms: 30,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = bridge_config(&nats.url(), dir.path());
    apple.configure(&mut config);
    let durable = config.worker.durable_name.clone();
    // The receiver alone first: the whole load is stored before the worker starts on it.
    let mut bridge = Bridge::start(&config, dir.path(), &["--no-worker"]).await;
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let notes = apple.associate_everything(3000).await;
    let report = deliver(&bridge.notification_url(), notes, LoadOptions::default()).await;
    assert_eq!(report.accepted.len(), 3000, "{:?}", report.statuses);

    bridge.restart_with(&[]).await;
    eventually(
        Duration::from_secs(60),
        "the worker part-way through the notifications",
        || async {
            let (done, left) = consumer_progress(&js, &durable).await?;
            (done > 0 && left > 0).then_some(())
        },
    )
    .await;
    bridge.kill().await;
    bridge.restart().await;

    assert_stored_exactly_once(&js, &report).await;
    assert_view_matches_truth(&js, &apple, Duration::from_secs(60)).await;
    eventually(
        Duration::from_secs(30),
        "every notification acknowledged",
        || async {
            let (_, left) = consumer_progress(&js, &durable).await?;
            (left == 0).then_some(())
        },
    )
    .await;
    bridge.assert_serving().await;
}
