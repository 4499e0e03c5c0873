//! The simulator's faults all at once: notifications duplicated, reordered and dropped, Apple
//! calls answered 503 and 9646 (another client sharing the token bursts over the rate limit),
//! and latency on every call. Changes are made through Apple's API as an MDM would, and the
//! simulator delivers their notifications to the registered URL; the worker and its incremental
//! sync (every second here) must still bring the view to Apple's truth.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::jetstream;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use vppbridge_sim::{Faults, RateLimitMode};

use super::support::{
    Apple, Bridge, LoadReport, apple, assert_stored_exactly_once, assert_view_matches_truth,
    bridge_config, eventually,
};
use crate::support::nats;

/// The neighbour's requests carry this query, so that the worker's can be told apart.
const NEIGHBOUR_QUERY: &str = "productType=Book";

/// An Apple call that retries the simulator's 503s and 9646s, as a careful MDM would.
async fn apple_call(apple: &Apple, path: &str, body: &Value) -> Value {
    let http = reqwest::Client::new();
    let url = format!("{}{path}", apple.sim.base_url());
    for _ in 0..100 {
        let r = http
            .post(&url)
            .bearer_auth(&apple.location.token_text)
            .json(body)
            .send()
            .await
            .expect("the simulator answers");
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        if status == 200 && answer.get("errorNumber").is_none() {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} kept failing")
}

/// Another client on the same token: bursts of reads over the rate limit until cancelled.
fn neighbour(apple: &Apple, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    let url = format!("{}assets?{NEIGHBOUR_QUERY}", apple.sim.base_url());
    let token = apple.location.token_text.clone();
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        while !stop.is_cancelled() {
            let burst = (0..80).map(|_| http.get(&url).bearer_auth(&token).send());
            futures::future::join_all(burst).await;
            // Pacing of the bursts, not a wait for a condition.
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(Duration::from_millis(400)) => {}
            }
        }
    })
}

/// The simulator's log of one kind (`requests` or `notifications`).
async fn sim_log(apple: &Apple, kind: &str) -> Vec<Value> {
    reqwest::get(format!("{}{kind}", apple.sim.admin_url()))
        .await
        .expect("the admin API answers")
        .json()
        .await
        .expect("a JSON log")
}

/// The delivery log as a load report: every notification attempted, those answered 200.
async fn deliveries(apple: &Apple) -> (LoadReport, BTreeMap<String, usize>, usize) {
    let log = sim_log(apple, "notifications").await;
    let mut report = LoadReport::default();
    let mut ok_per_id: BTreeMap<String, usize> = BTreeMap::new();
    let mut dropped = 0;
    for d in &log {
        let id = d["notificationId"].as_str().unwrap_or_default().to_owned();
        if d["dropped"] == true {
            dropped += 1;
            continue;
        }
        let status = d["status"].as_u64().map_or(0, |s| s as u16);
        *report.statuses.entry(status).or_default() += 1;
        if status == 200 {
            report.accepted.insert(id.clone());
            *ok_per_id.entry(id.clone()).or_default() += 1;
        }
        report.posted.insert(id);
    }
    (report, ok_per_id, dropped)
}

#[tokio::test]
async fn duplicates_reorders_drops_503s_9646s_and_latency_together_still_end_in_apples_truth() {
    let nats = nats().await;
    let apple = apple(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = bridge_config(&nats.url(), dir.path());
    apple.configure(&mut config);
    config.http.public_url = format!("http://{}", config.http.listen);
    config.mdm.id = uuid::Uuid::new_v4().to_string();
    // The incremental sync is what repairs dropped notifications.
    config.sync.incremental_interval_secs = 1;
    let bridge = Bridge::start(&config, dir.path(), &[]).await;
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    assert_view_matches_truth(&js, &apple, Duration::from_secs(30)).await;
    let out = bridge
        .command(&["register", "--location", super::support::LOCATION])
        .await;
    assert!(
        out.status.success(),
        "register: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let faults = Faults {
        rate_limit_mode: RateLimitMode::Http429,
        error503_rate: 0.1,
        retry_after_secs: 0,
        latency_ms: 10,
        duplicate_rate: 0.25,
        reorder_rate: 0.25,
        drop_rate: 0.15,
        ..Faults::default()
    };
    let put = reqwest::Client::new()
        .put(format!("{}faults", apple.sim.admin_url()))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let stop = CancellationToken::new();
    let noisy = neighbour(&apple, stop.clone());

    let truth = apple.truth().await;
    let apps: Vec<String> = truth["assets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["deviceAssignable"] == true)
        .filter_map(|a| a["adamId"].as_str().map(str::to_owned))
        .collect();
    let serials = |from: usize, to: usize| -> Vec<String> {
        (from..=to).map(|i| format!("SIM{i:09}")).collect()
    };
    // Small calls, so that each fault (drawn at random per notification) hits several of the
    // ~100 notifications: six associations and two removals of 50 devices per App.
    for app in &apps {
        let assets = json!([{"adamId": app, "pricingParam": "STDQ"}]);
        for chunk in 0..6 {
            let devices = serials(1 + chunk * 50, 50 + chunk * 50);
            let body = json!({"assets": assets, "serialNumbers": devices});
            apple_call(&apple, "assets/associate", &body).await;
        }
        for chunk in [1, 4] {
            let devices = serials(1 + chunk * 50, 50 + chunk * 50);
            let body = json!({"assets": assets, "serialNumbers": devices});
            apple_call(&apple, "assets/disassociate", &body).await;
        }
    }

    // The worker has met the rate limit itself, not only the neighbour.
    eventually(
        Duration::from_secs(30),
        "a 9646 answered to the worker",
        || async {
            sim_log(&apple, "requests")
                .await
                .iter()
                .any(|r| {
                    // The worker only reads; the test's own writes are POSTs.
                    r["errorNumber"] == 9646
                        && r["method"] == "GET"
                        && !r["query"].as_str().unwrap_or("").contains(NEIGHBOUR_QUERY)
                })
                .then_some(())
        },
    )
    .await;
    stop.cancel();
    noisy.await.unwrap();

    assert_view_matches_truth(&js, &apple, Duration::from_secs(60)).await;
    let (report, ok_per_id, dropped) = deliveries(&apple).await;
    let requests = sim_log(&apple, "requests").await;
    let errors: BTreeSet<i64> = requests
        .iter()
        .filter_map(|r| r["errorNumber"].as_i64())
        .collect();
    assert!(
        errors.contains(&9729),
        "some Apple calls got 503: {errors:?}"
    );
    eprintln!(
        "DEBUG dropped={dropped} statuses={:?} posted={} accepted={} twice={} 9646={} 503={} reqs={}",
        report.statuses,
        report.posted.len(),
        report.accepted.len(),
        ok_per_id.values().filter(|n| **n > 1).count(),
        requests.iter().filter(|r| r["errorNumber"] == 9646).count(),
        requests.iter().filter(|r| r["errorNumber"] == 9729).count(),
        requests.len()
    );
    assert!(dropped > 0, "some notifications were dropped");
    assert!(
        ok_per_id.values().any(|n| *n > 1),
        "some notifications were delivered twice"
    );
    assert_stored_exactly_once(&js, &report).await;
}
