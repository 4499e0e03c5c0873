//! One Apple budget for the location across three worker processes: an associate of 20 Apps
//! (the 20 × 1,000, made 20 × 150 so the test stays under a minute on a shared 2-core
//! machine) ends with the view exact, no 9646, no second with more than 15 of vppbridge's
//! requests, and about one worker's verification reads.

use std::time::Duration;

use vppbridge_sim::SeedSpec;

use super::{dead_letters, short_leases, sole_owner, workers};
use crate::faults::support::eventually;
use crate::worker::harness::{Logged, harness_with};

/// The measurement of one worker's verification reads for the 20 × 1,000 associate.
const ONE_WORKER_READS: usize = 33;

/// Requests vppbridge made: the log without the test driver's associate and event-status calls.
fn bridge_requests(log: &[Logged]) -> Vec<&Logged> {
    log.iter()
        .filter(|r| !r.path.ends_with("/associate") && !r.path.contains("status"))
        .collect()
}

/// The most requests in any one-second window.
fn busiest_second(log: &[&Logged]) -> usize {
    let mut t: Vec<f64> = log.iter().map(|r| r.at_ms).collect();
    t.sort_by(f64::total_cmp);
    (0..t.len())
        .map(|i| t[i..].iter().take_while(|x| **x < t[i] + 1000.0).count())
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn three_workers_keep_to_one_rate_limit_and_one_worker_s_reads() {
    let h = harness_with(
        SeedSpec {
            locations: 1,
            assets: 26,
            devices: 150,
            users: 5,
            assigned: 0.0,
            seed: 7,
            licenses_per_asset: None,
        },
        |s| s.max_requests_per_second = 15,
        |c| {
            short_leases(c);
            c.apple.max_requests_per_second = 15;
        },
    )
    .await;
    let apps = h.apps().await;
    assert!(apps.len() >= 20, "the seed has 20 Apps");
    let w = workers(&h, 3).await;
    sole_owner(&h.env.js, &w.procs, &[0, 1, 2], Duration::from_secs(20)).await;
    h.synced().await;
    h.clear_requests().await;
    let event = h.associate(&apps[..20], 150).await;
    h.completed(&event).await;
    h.converged(60).await;
    eventually(
        Duration::from_secs(20),
        "every notification acknowledged",
        || async {
            crate::worker::support::consumer_idle(&h.env.js)
                .await
                .then_some(())
        },
    )
    .await;
    let log = h.requests().await;
    let ours = bridge_requests(&log);
    let limited = ours.iter().filter(|r| r.error_number == Some(9646)).count();
    let busiest = busiest_second(&ours);
    let reads = ours
        .iter()
        .filter(|r| {
            r.method == "GET" && (r.path.ends_with("/assets") || r.path.ends_with("/assignments"))
        })
        .count();
    eprintln!(
        "three workers: {} requests, {reads} verification reads, busiest second {busiest}, {limited} × 9646",
        ours.len()
    );
    assert_eq!(limited, 0, "no 9646: the workers share one budget");
    assert!(busiest <= 15, "{busiest} requests in one second (limit 15)");
    assert!(
        reads <= ONE_WORKER_READS * 3 / 2,
        "{reads} verification reads, more than one worker's {ONE_WORKER_READS} plus 50%"
    );
    assert_eq!(h.view_state().await.0.len(), 3000);
    let dead = dead_letters(&h.env.js).await;
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");
}
