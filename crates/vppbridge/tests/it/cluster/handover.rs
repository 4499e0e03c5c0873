//! Hand-over: exactly one of several worker processes owns the location; when it is SIGKILLed
//! another takes over within 10 s and the notifications sent meanwhile are reconciled, nothing
//! dead-lettered; a graceful stop hands over at once.

use std::time::Duration;

use tokio::time::Instant;
use vppbridge_sim::SeedSpec;

use super::{dead_letters, lease_owner, owned, short_leases, sole_owner, workers};
use crate::faults::support::eventually;
use crate::worker::harness::harness_with;

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

#[tokio::test]
async fn the_owner_killed_mid_burst_is_replaced_within_10_s_and_the_view_ends_exact() {
    let h = harness_with(seed(12, 300), |_| {}, short_leases).await;
    let apps = h.apps().await;
    let mut w = workers(&h, 3).await;
    let (first, first_id) =
        sole_owner(&h.env.js, &w.procs, &[0, 1, 2], Duration::from_secs(20)).await;
    h.synced().await;
    let status = w.procs[first].command(&["status"]).await;
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains(&format!("owned by worker:   {first_id}")),
        "status names the owner {first_id}:\n{text}"
    );

    h.associate(&apps[..8], 300).await;
    eventually(
        Duration::from_secs(30),
        "the owner part-way through the burst",
        || async {
            let n = h.view_state().await.0.len();
            (n > 0).then_some(())
        },
    )
    .await;
    w.procs[first].kill().await;
    let killed = Instant::now();
    let alive: Vec<usize> = (0..3).filter(|i| *i != first).collect();
    eventually(
        Duration::from_secs(10),
        "another worker holds the lease",
        || async { lease_owner(&h.env.js).await.filter(|o| *o != first_id) },
    )
    .await;
    eprintln!("hand-over after SIGKILL: {:?}", killed.elapsed());
    let (second, _) = sole_owner(&h.env.js, &w.procs, &alive, Duration::from_secs(10)).await;
    assert_ne!(second, first);

    h.assignments_become(2400).await;
    // The workers' warnings explain a failure better than the difference alone.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = None;
    while Instant::now() < deadline {
        last = h.difference().await;
        if last.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if let Some(d) = last {
        let logs: Vec<String> = alive.iter().map(|i| w.procs[*i].log()).collect();
        panic!(
            "the view did not reach the truth: {d}\nworker logs:\n{}",
            logs.join("\n---\n")
        );
    }
    h.each_added_once(2400).await;
    let dead = dead_letters(&h.env.js).await;
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");
    for i in alive {
        w.procs[i].assert_serving().await;
    }
}

#[tokio::test]
async fn a_graceful_stop_hands_the_location_over_at_once() {
    let h = harness_with(seed(4, 10), |_| {}, |_| {}).await;
    let mut w = workers(&h, 2).await;
    let (first, first_id) = sole_owner(&h.env.js, &w.procs, &[0, 1], Duration::from_secs(20)).await;
    let other = 1 - first;
    assert_eq!(owned(&w.procs[other]).await, Some(0));
    let stopping = Instant::now();
    w.procs[first].terminate().await;
    eventually(
        Duration::from_secs(10),
        "the other worker holds the lease",
        || async { lease_owner(&h.env.js).await.filter(|o| *o != first_id) },
    )
    .await;
    let took = stopping.elapsed();
    eprintln!("hand-over on a graceful stop: {took:?}");
    let ttl = Duration::from_secs(h.config.cluster.lease_ttl_secs);
    assert!(
        took < ttl / 2,
        "handed over in {took:?}, well under the lease TTL {ttl:?}: the lease was deleted, not left to expire"
    );
    assert_eq!(owned(&w.procs[other]).await, Some(1));
}
