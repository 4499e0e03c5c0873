//! Tokens with fewer rights (the simulator's token modes): a read-only content manager's token
//! syncs, but the converger sends one write, gets 9637, warns once, marks what it could not
//! send `failed` and never asks again; a token that can manage but not purchase converges as
//! usual. The worker runs as `vppbridge serve --no-receiver`, so its log is what an operator
//! reads.

use std::process::Stdio;

use apple_vpp::types::Asset;
use tokio::process::{Child, Command};
use vppbridge::events::intents::{Desired, DesiredValue, IntentState};
use vppbridge::intents::cli::{IntentRow, list};
use vppbridge::intents::store::Store;
use vppbridge::intents::{Pair, Target};
use vppbridge_sim::SeedSpec;
use vppbridge_testkit::natsproc::free_port;

use super::harness::*;
use super::support::*;

/// The warning the location logs once when Apple refuses a call for lack of rights.
const WARNING: &str = "the token lacks rights for some calls";

fn seed() -> SeedSpec {
    SeedSpec {
        locations: 1,
        assets: 3,
        devices: 20,
        users: 2,
        assigned: 0.3,
        seed: 21,
        licenses_per_asset: None,
    }
}

/// The worker as a child process (`serve --no-receiver`), its log in the harness's folder.
struct WorkerProcess {
    _child: Child,
    log: std::path::PathBuf,
}

impl WorkerProcess {
    async fn start(h: &Harness) -> WorkerProcess {
        let config = h.dir.path().join("vppbridge.toml");
        std::fs::write(&config, toml::to_string(&h.config).unwrap()).unwrap();
        let log = h.dir.path().join("worker.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vppbridge"))
            .arg("--config")
            .arg(&config)
            .args(["serve", "--no-receiver"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        WorkerProcess { _child: child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn permission_harness() -> Harness {
    harness_with(
        seed(),
        |_| {},
        |c| {
            c.intents.interval_ms = 100;
            // The worker process serves /metrics and /readyz: a port of its own.
            c.http.listen = ([127, 0, 0, 1], free_port().unwrap()).into();
        },
    )
    .await
}

fn pairs(apps: &[Asset], serials: std::ops::Range<usize>) -> Vec<(Pair, DesiredValue)> {
    apps.iter()
        .flat_map(|a| {
            serials.clone().map(move |i| {
                (
                    Pair {
                        adam_id: a.adam_id.0.clone(),
                        pricing_param: a.pricing_param.clone(),
                        target: Target::Serial(format!("NEW{i:09}")),
                    },
                    DesiredValue {
                        desired: Desired::Assigned,
                        metadata: None,
                    },
                )
            })
        })
        .collect()
}

async fn rows(store: &Store) -> Vec<IntentRow> {
    list(store, "school", None).await.unwrap()
}

/// Apple calls in the simulator's log to `path` (POST).
async fn posts(h: &Harness, path: &str) -> Vec<Option<i32>> {
    h.requests()
        .await
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .map(|r| r.error_number)
        .collect()
}

#[tokio::test]
async fn a_read_only_token_syncs_but_its_one_refused_write_is_warned_once_and_never_retried() {
    let h = permission_harness().await;
    h.admin("token-mode", serde_json::json!({"mode": "read-only"}))
        .await;
    let worker = WorkerProcess::start(&h).await;
    // Reads are allowed: the first full sync imports the location.
    h.synced().await;
    h.converged(20).await;
    let store = Store::open(&h.env.js).await.unwrap();
    let apps = h.apps().await;

    store
        .write_desired("school", &pairs(&apps[..1], 0..3))
        .await
        .unwrap();
    eventually(20, "the refused intents end failed", || async {
        let r = rows(&store).await;
        r.len() == 3 && r.iter().all(|r| r.state == IntentState::Failed)
    })
    .await;
    for r in rows(&store).await {
        assert_eq!(r.error_number, Some(9637), "{r:?}");
    }
    // Desired later: settled as failed at once, without asking Apple again.
    store
        .write_desired("school", &pairs(&apps[1..2], 0..2))
        .await
        .unwrap();
    eventually(20, "the later intents end failed too", || async {
        let r = rows(&store).await;
        r.len() == 5 && r.iter().all(|r| r.state == IntentState::Failed)
    })
    .await;
    assert_eq!(
        posts(&h, "/mdm/v2/assets/associate").await,
        vec![Some(9637)],
        "one write was tried, refused with 9637, and never again"
    );

    // The sync still repairs from reads: an assignment removed behind the MDM's back.
    let held = h.truth().await.assignments.remove(0);
    h.admin(
        "assignments/remove",
        serde_json::json!({
            "adamId": held.adam_id.0,
            "pricingParam": held.pricing_param,
            "serialNumber": held.serial_number,
            "clientUserId": held.client_user_id,
        }),
    )
    .await;
    let loc = vppbridge::location::Location::open(
        &h.config.locations[0],
        &h.config.apple,
        Some(h.config.mdm.id.clone()),
        applier(&h.env.js).await,
        vppbridge::metrics::Metrics::new(),
        h.config.sync.users_active_only,
    )
    .await
    .unwrap();
    vppbridge::sync::sync(
        &loc,
        vppbridge::sync::SyncKind::Incremental,
        &vppbridge::sync::Progress::Silent,
    )
    .await
    .unwrap();
    h.converged(20).await;

    let log = worker.log();
    assert_eq!(
        log.matches(WARNING).count(),
        1,
        "one warning, not one per call:\n{log}"
    );
    assert!(
        log.contains("9637"),
        "the warning names Apple's error:\n{log}"
    );
}

#[tokio::test]
async fn a_token_that_can_manage_but_not_purchase_converges_as_usual() {
    let h = permission_harness().await;
    h.admin("token-mode", serde_json::json!({"mode": "no-purchase"}))
        .await;
    let worker = WorkerProcess::start(&h).await;
    h.synced().await;
    let store = Store::open(&h.env.js).await.unwrap();
    let apps = h.apps().await;
    store
        .write_desired("school", &pairs(&apps[..2], 0..3))
        .await
        .unwrap();
    eventually(30, "every intent applied", || async {
        let r = rows(&store).await;
        r.len() == 6 && r.iter().all(|r| r.state == IntentState::Applied)
    })
    .await;
    let sent = posts(&h, "/mdm/v2/assets/associate").await;
    assert_eq!(sent, vec![None], "one associate, accepted");
    h.converged(20).await;
    let log = worker.log();
    assert!(!log.contains(WARNING), "no permission warning:\n{log}");
}
