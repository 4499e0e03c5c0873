//! Declarative licensing end to end: a real nats-server, the simulator, the worker with its
//! converger, and the `vppbridge assign|unassign` binary writing `vpp-desired`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use apple_vpp::Limits;
use apple_vpp::types::Asset;
use vppbridge::events::intents::IntentState;
use vppbridge::intents::cli::{IntentRow, list, plan_requests};
use vppbridge::intents::store::Store;
use vppbridge_sim::SeedSpec;

use crate::worker::harness::*;
use crate::worker::support::*;

mod users;

fn seed(assets: usize, devices: usize, licenses: Option<i64>) -> SeedSpec {
    SeedSpec {
        locations: 1,
        assets,
        devices,
        users: 5,
        assigned: 0.0,
        seed: 12,
        licenses_per_asset: licenses,
    }
}

mod faults;
mod kill;
mod reply;

/// The worker's harness with the converger's timings shortened.
async fn intents_harness(seed: SeedSpec) -> Harness {
    intents_harness_with(seed, |_| {}, |_| {}).await
}

/// [`intents_harness`] with changes to the simulator's and vppbridge's configurations.
async fn intents_harness_with(
    seed: SeedSpec,
    sim_tweak: impl FnOnce(&mut vppbridge_sim::SimConfig),
    tweak: impl FnOnce(&mut vppbridge::config::Config),
) -> Harness {
    harness_with(seed, sim_tweak, |c| {
        c.intents.interval_ms = 200;
        c.intents.status_poll_after_secs = 1;
        c.intents.status_poll_interval_secs = 1;
        tweak(c);
    })
    .await
}

fn serial(i: usize) -> String {
    format!("SIM{i:09}")
}

/// Writes the harness's configuration where the binary can read it.
fn config_file(h: &Harness) -> PathBuf {
    let path = h.dir.path().join("vppbridge.toml");
    std::fs::write(&path, toml::to_string(&h.config).unwrap()).unwrap();
    path
}

/// The intent file: every asset × every serial in `range`.
fn intent_file(
    h: &Harness,
    name: &str,
    assets: &[Asset],
    range: std::ops::Range<usize>,
) -> PathBuf {
    let mut text = String::new();
    for a in assets {
        for i in range.clone() {
            text.push_str(
                &serde_json::json!({
                    "adamId": a.adam_id.0, "pricingParam": a.pricing_param,
                    "serialNumber": serial(i), "metadata": {"requestId": name}
                })
                .to_string(),
            );
            text.push('\n');
        }
    }
    let path = h.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the `vppbridge` binary; returns (success, stdout, stderr).
async fn vppbridge(args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vppbridge"))
            .args(&args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

async fn desire(h: &Harness, verb: &str, file: &std::path::Path) -> String {
    let (ok, out, err) = vppbridge(vec![
        "--config".into(),
        config_file(h).display().to_string(),
        verb.into(),
        "--location".into(),
        "school".into(),
        "--file".into(),
        file.display().to_string(),
    ])
    .await;
    assert!(ok, "vppbridge {verb} failed: {out}{err}");
    out
}

async fn rows(store: &Store) -> Vec<IntentRow> {
    list(store, "school", None).await.unwrap()
}

fn by_state(rows: &[IntentRow]) -> BTreeMap<IntentState, usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r.state).or_insert(0) += 1;
    }
    m
}

/// POSTs to `assets/<what>` in the simulator's log.
fn posts(log: &[Logged], what: &str) -> usize {
    log.iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(&format!("assets/{what}")))
        .count()
}

/// (type, key) of every intent event.
async fn intent_events(h: &Harness) -> Vec<(String, String)> {
    stream_json(&h.env.js, "VPP_INTENTS")
        .await
        .iter()
        .map(|v| {
            (
                v["type"].as_str().unwrap().to_owned(),
                v["data"]["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn twenty_apps_on_a_thousand_devices_converge_in_one_associate_and_reapplying_sends_nothing()
{
    let h = intents_harness(seed(25, 1000, None)).await;
    let apps: Vec<Asset> = h.apps().await.into_iter().take(20).collect();
    assert_eq!(apps.len(), 20, "the seed has 20 Apps among 25 assets");
    let worker = h.worker().await;
    h.synced().await;
    let store = Store::open(&h.env.js).await.unwrap();
    h.clear_requests().await;

    let file = intent_file(&h, "apps.jsonl", &apps, 1..1001);
    let out = desire(&h, "assign", &file).await;
    assert!(out.contains("20000 key(s) written"), "{out}");
    eventually(180, "every intent applied", || async {
        by_state(&rows(&store).await).get(&IntentState::Applied) == Some(&20_000)
    })
    .await;

    // Apple's truth equals the desired state.
    let truth: BTreeSet<(String, String)> = h
        .truth()
        .await
        .assignments
        .iter()
        .map(|a| {
            (
                a.adam_id.0.clone(),
                a.serial_number.clone().unwrap_or_default(),
            )
        })
        .collect();
    let desired: BTreeSet<(String, String)> = apps
        .iter()
        .flat_map(|a| (1..1001).map(move |i| (a.adam_id.0.clone(), serial(i))))
        .collect();
    assert_eq!(truth, desired);
    let log = h.requests().await;
    let associates = posts(&log, "associate");
    assert!(
        (1..=2).contains(&associates),
        "{associates} associate requests"
    );
    assert!(
        log.iter().all(|r| r.error_number != Some(9646)),
        "a request was rate limited"
    );
    let events = intent_events(&h).await;
    let applied: Vec<&String> = events
        .iter()
        .filter(|(t, _)| t == "vppbridge.intent.applied.v1")
        .map(|(_, k)| k)
        .collect();
    assert_eq!(applied.len(), 20_000, "one applied event per intent");
    assert_eq!(applied.iter().collect::<BTreeSet<_>>().len(), 20_000);
    eprintln!("20 Apps × 1,000 serials: {associates} associate request(s), 20,000 applied");

    // The same file again: nothing written, nothing to send.
    let out = desire(&h, "assign", &file).await;
    assert!(out.contains("0 key(s) written"), "{out}");
    let plan = plan_requests(&store, "school", &Limits::with_default_rate(15))
        .await
        .unwrap();
    assert!(plan.is_empty(), "re-applying plans {plan:?}");

    // 500 pairs unassigned: one disassociate.
    h.clear_requests().await;
    let file = intent_file(&h, "off.jsonl", &apps[..1], 1..501);
    desire(&h, "unassign", &file).await;
    eventually(60, "the unassigned intents applied", || async {
        rows(&store)
            .await
            .iter()
            .filter(|r| r.desired.as_str() == "unassigned" && r.state == IntentState::Applied)
            .count()
            == 500
    })
    .await;
    assert_eq!(h.truth().await.assignments.len(), 19_500);
    assert_eq!(posts(&h.requests().await, "disassociate"), 1);
    worker.stop().await;
}

#[tokio::test]
async fn a_license_shortage_waits_with_9709_and_a_purchase_applies_the_rest_unattended() {
    let h = intents_harness(seed(5, 1000, Some(900))).await;
    let app = h.apps().await.remove(0);
    let worker = h.worker().await;
    h.synced().await;
    let store = Store::open(&h.env.js).await.unwrap();

    let file = intent_file(&h, "short.jsonl", std::slice::from_ref(&app), 1..1001);
    desire(&h, "assign", &file).await;
    eventually(60, "900 applied and 100 waiting", || async {
        let s = by_state(&rows(&store).await);
        s.get(&IntentState::Applied) == Some(&900) && s.get(&IntentState::Waiting) == Some(&100)
    })
    .await;
    let waiting = list(&store, "school", Some(IntentState::Waiting))
        .await
        .unwrap();
    assert!(waiting.iter().all(|r| r.error_number == Some(9709)));
    assert!(waiting.iter().all(|r| r.event_id.is_some()));

    h.admin(
        "purchase",
        serde_json::json!({"adamId": app.adam_id.0, "pricingParam": app.pricing_param, "count": 100}),
    )
    .await;
    eventually(60, "all 1,000 applied after the purchase", || async {
        by_state(&rows(&store).await).get(&IntentState::Applied) == Some(&1000)
    })
    .await;
    assert_eq!(h.truth().await.assignments.len(), 1000);
    let events = intent_events(&h).await;
    let count = |t: &str| events.iter().filter(|(x, _)| x == t).count();
    assert_eq!(count("vppbridge.intent.waiting.v1"), 100);
    assert_eq!(count("vppbridge.intent.applied.v1"), 1000);
    worker.stop().await;
}

#[tokio::test]
async fn an_invalid_line_is_reported_by_number_and_nothing_is_written() {
    let h = intents_harness(seed(5, 10, None)).await;
    let path = h.dir.path().join("bad.jsonl");
    std::fs::write(
        &path,
        "{\"adamId\": \"100000001\", \"serialNumber\": \"A\"}\n\n{\"adamId\": \"1\"}\nnot json\n",
    )
    .unwrap();
    let (ok, _, err) = vppbridge(vec![
        "--config".into(),
        config_file(&h).display().to_string(),
        "assign".into(),
        "--location".into(),
        "school".into(),
        "--file".into(),
        path.display().to_string(),
    ])
    .await;
    assert!(!ok);
    assert!(err.contains("line 3:") && err.contains("line 4:"), "{err}");
    assert!(!err.contains("line 1:"), "{err}");
    let store = Store::open(&h.env.js).await.unwrap();
    assert!(store.desired("school").await.unwrap().is_empty());
}
