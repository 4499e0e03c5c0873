//! The worker against the simulator: bursts, faults, crashes, competing workers, guards.

use vppbridge::simulator::SeedSpec;

use super::harness::*;
use super::support::*;

fn seed(assets: usize, devices: usize) -> SeedSpec {
    SeedSpec {
        locations: 1,
        assets,
        devices,
        users: 5,
        assigned: 0.0,
        seed: 7,
        licenses_per_asset: None,
    }
}

/// Verification reads in the request log: `GET assets` and `GET assignments`.
fn reads(log: &[Logged]) -> usize {
    log.iter()
        .filter(|r| {
            r.method == "GET" && (r.path.ends_with("/assets") || r.path.ends_with("/assignments"))
        })
        .count()
}

#[tokio::test]
async fn an_associate_of_25_assets_by_1000_devices_leaves_the_view_exact_with_few_reads() {
    let h = harness(seed(31, 1000)).await;
    let apps = h.apps().await;
    assert!(apps.len() >= 25);
    let w = h.worker().await;
    h.synced().await;
    h.clear_requests().await;
    let event = h.associate(&apps[..25], 1000).await;
    h.completed(&event).await;
    let started = std::time::Instant::now();
    h.converged(60).await;
    eprintln!(
        "view exact {:?} after the event completed",
        started.elapsed()
    );
    // Let any straggling verification finish before counting.
    eventually(20, "the consumer is idle", || consumer_idle(&h.env.js)).await;
    let log = h.requests().await;
    let n = reads(&log);
    eprintln!("{n} verification reads for 25 assets");
    assert!(
        n <= 30,
        "{n} verification reads: {:?}",
        log.iter().map(|r| (&r.path, &r.query)).collect::<Vec<_>>()
    );
    assert_eq!(h.view_state().await.0.len(), 25_000);
    w.stop().await;
}
