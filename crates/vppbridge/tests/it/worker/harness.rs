//! A whole world for the worker: nats-server, the simulator, the project's receiver publishing
//! what the simulator posts, and the location registered with the simulator.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::Duration;

use apple_vpp::AppleClient;
use apple_vpp::token::ContentToken;
use apple_vpp::types::*;
use vppbridge::config::Config;
use vppbridge::events::changes::AssetValue;
use vppbridge::events::notification::AssignmentRef;
use vppbridge::metrics::Metrics;
use vppbridge::view::{Bucket, View};
use vppbridge_sim::{Faults, SeedSpec, SimConfig, SimHandle, Simulator};

use super::support::*;

pub struct Harness {
    pub env: Env,
    pub sim: SimHandle,
    pub uid: String,
    pub config: Config,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub apple: AppleClient,
    pub view: View,
}

pub fn sim_config(seed: SeedSpec) -> SimConfig {
    SimConfig {
        page_size: 1000,
        allow_http_notifications: true,
        event_delay: Duration::from_millis(20),
        delivery_retry_delays: vec![Duration::from_millis(100), Duration::from_millis(300)],
        notification_timeout: Duration::from_secs(5),
        max_requests_per_second: 200,
        faults: Faults::default(),
        seed,
        token_lifetime: chrono::Duration::days(365),
        ext_removed_assignments: false,
        content_metadata_url: None,
        extra_root_certs: None,
        token_mode: vppbridge_sim::TokenMode::Full,
    }
}

/// Starts everything; the worker is not started (see [`Harness::worker`]).
pub async fn harness(seed: SeedSpec) -> Harness {
    harness_with(seed, |_| {}, |_| {}).await
}

/// [`harness`] with changes to the simulator's and vppbridge's configurations.
pub async fn harness_with(
    seed: SeedSpec,
    sim_tweak: impl FnOnce(&mut SimConfig),
    tweak: impl FnOnce(&mut Config),
) -> Harness {
    let env = env().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut sc = sim_config(seed);
    sim_tweak(&mut sc);
    let sim = Simulator::start(sc, listener).await.unwrap();
    let loc = sim.locations().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(
        dir.path(),
        &env.server.url(),
        &sim.base_url(),
        &loc.token_text,
    );
    tweak(&mut config);
    // The project's receiver, publishing what the simulator posts.
    let rl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_url = format!("http://{}/notifications/school", rl.local_addr().unwrap());
    let client = async_nats::connect(env.server.url()).await.unwrap();
    let state = vppbridge::app::receiver_state(&config, client, Metrics::new()).unwrap();
    tokio::spawn(vppbridge::http::run(rl, state, std::future::pending()));
    let token = ContentToken::from_file(&config.locations[0].token_file).unwrap();
    // The test's own driver (writes, client config) retries longer than the worker does, so
    // that injected 5xx faults never fail the set-up itself, only exercise the worker.
    let driver_config = apple_vpp::ClientSettings {
        max_attempts: 10,
        ..config.apple.client_settings()
    };
    let apple = AppleClient::new(&driver_config, token, None).unwrap();
    apple
        .set_client_config(&ClientConfigRequest {
            mdm_info: Some(MdmInfo {
                id: config.mdm.id.clone(),
                name: "vppbridge".into(),
                metadata: "test".into(),
            }),
            notification_url: Some(receiver_url),
            notification_auth_token: Some("secret".into()),
            notification_types: Some(
                notification_type::SUBSCRIBABLE
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
        })
        .await
        .unwrap();
    let view = View::open(&env.js).await.unwrap();
    Harness {
        env,
        sim,
        uid: loc.u_id,
        config,
        dir,
        http: reqwest::Client::new(),
        apple,
        view,
    }
}

/// The truth the simulator holds for the location.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Truth {
    pub assets: Vec<ResponseAsset>,
    pub assignments: Vec<Assignment>,
    pub users: Vec<ResponseUser>,
}

/// One line of the simulator's request log.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Logged {
    pub at_ms: f64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    pub error_number: Option<i32>,
}

impl Harness {
    pub async fn worker(&self) -> Worker {
        start_worker(&self.config, &self.env.server.url()).await
    }

    pub async fn truth(&self) -> Truth {
        self.http
            .get(format!(
                "{}locations/{}/state",
                self.sim.admin_url(),
                self.uid
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn requests(&self) -> Vec<Logged> {
        self.http
            .get(format!("{}requests", self.sim.admin_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn clear_requests(&self) {
        self.http
            .delete(format!("{}requests", self.sim.admin_url()))
            .send()
            .await
            .unwrap();
    }

    pub async fn faults(&self, f: serde_json::Value) {
        let r = self
            .http
            .put(format!("{}faults", self.sim.admin_url()))
            .json(&f)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    pub async fn admin(&self, path: &str, body: serde_json::Value) {
        let r = self
            .http
            .post(format!(
                "{}locations/{}/{path}",
                self.sim.admin_url(),
                self.uid
            ))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "{path}: {}",
            r.text().await.unwrap()
        );
    }

    /// The device-assignable assets, in adamId order.
    pub async fn apps(&self) -> Vec<Asset> {
        let mut v: Vec<Asset> = self
            .truth()
            .await
            .assets
            .into_iter()
            .filter(|a| a.device_assignable)
            .map(|a| Asset {
                adam_id: a.adam_id,
                pricing_param: a.pricing_param,
            })
            .collect();
        v.sort();
        v
    }

    /// The view's assignments and assets.
    pub async fn view_state(&self) -> (BTreeSet<AssignmentRef>, Vec<AssetValue>) {
        let a = self
            .view
            .live(Bucket::Assignments, "school")
            .await
            .unwrap()
            .values()
            .map(|v| serde_json::from_slice(v).unwrap())
            .collect();
        let mut s: Vec<AssetValue> = self
            .view
            .live(Bucket::Assets, "school")
            .await
            .unwrap()
            .values()
            .map(|v| serde_json::from_slice(v).unwrap())
            .collect();
        s.sort_by(|x, y| x.adam_id.cmp(&y.adam_id));
        (a, s)
    }

    /// Whether the view equals the simulator's truth (assignments and assets), and if not, how.
    pub async fn difference(&self) -> Option<String> {
        let t = self.truth().await;
        let truth_a: BTreeSet<AssignmentRef> = t
            .assignments
            .iter()
            .map(|a| AssignmentRef {
                adam_id: a.adam_id.0.clone(),
                pricing_param: a.pricing_param.clone(),
                serial_number: a.serial_number.clone(),
                client_user_id: if a.serial_number.is_some() {
                    None
                } else {
                    a.client_user_id.clone()
                },
            })
            .collect();
        let mut truth_s: Vec<AssetValue> = t.assets.iter().map(AssetValue::from).collect();
        truth_s.sort_by(|x, y| x.adam_id.cmp(&y.adam_id));
        let (view_a, view_s) = self.view_state().await;
        if view_a != truth_a {
            return Some(format!(
                "assignments: view {} truth {}; missing {}, extra {}",
                view_a.len(),
                truth_a.len(),
                truth_a.difference(&view_a).count(),
                view_a.difference(&truth_a).count()
            ));
        }
        if view_s != truth_s {
            return Some(format!("assets differ: view {view_s:?} truth {truth_s:?}"));
        }
        None
    }

    /// Waits until the first full sync is recorded.
    pub async fn synced(&self) {
        eventually(20, "the initial full sync", || async {
            self.view
                .state::<vppbridge::view::state::SyncState>("school.sync")
                .await
                .unwrap()
                .is_some_and(|s| s.last_full_sync.is_some())
        })
        .await;
    }

    /// Waits until the view equals the truth.
    pub async fn converged(&self, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        let mut last = None;
        while tokio::time::Instant::now() < deadline {
            match self.difference().await {
                None => return,
                Some(d) => last = Some(d),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the view did not reach the truth within {secs} s: {last:?}");
    }

    /// Associates `assets` with `devices` serials (`SIM000000001`...).
    pub async fn associate(&self, assets: &[Asset], devices: usize) -> String {
        let serials = (1..=devices).map(|i| format!("SIM{i:09}")).collect();
        self.apple
            .associate(&ManageAssetsRequest {
                assets: assets.to_vec(),
                client_user_ids: vec![],
                serial_numbers: serials,
            })
            .await
            .unwrap()
            .event_id
    }
}

impl Harness {
    /// Waits until the simulator holds `n` assignments (without calling Apple's paths, which
    /// count against the location's rate).
    pub async fn assignments_become(&self, n: usize) {
        eventually(30, "the simulator's assignments", || async {
            self.truth().await.assignments.len() == n
        })
        .await;
    }

    /// Every change event's (type, key).
    pub async fn changes(&self) -> Vec<(String, String)> {
        stream_json(&self.env.js, "VPP_CHANGES")
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

    /// Asserts every assignment key got exactly one `added` event and the view has `n`.
    pub async fn each_added_once(&self, n: usize) {
        let mut per_key = std::collections::HashMap::new();
        for (t, k) in self.changes().await {
            if t == "vppbridge.assignment.added.v1" {
                *per_key.entry(k).or_insert(0) += 1;
            }
        }
        let twice: Vec<_> = per_key.iter().filter(|(_, n)| **n != 1).collect();
        assert!(
            twice.is_empty(),
            "keys with more than one added event: {twice:?}"
        );
        assert_eq!(per_key.len(), n);
    }

    /// Touches the token file so the worker reloads it.
    pub fn replace_token_file(&self) {
        let file = &self.config.locations[0].token_file;
        let text = std::fs::read_to_string(file).unwrap();
        std::fs::write(file, text).unwrap();
        std::fs::File::options()
            .write(true)
            .open(file)
            .unwrap()
            .set_modified(std::time::SystemTime::now() + Duration::from_secs(10))
            .unwrap();
    }

    /// The guard record.
    pub async fn guard(&self) -> vppbridge::view::state::GuardState {
        self.view
            .state("school.guard")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Waits until the simulator has finished the event.
    pub async fn completed(&self, event_id: &str) {
        eventually(30, "the event completes", || async {
            self.apple
                .event_status(event_id)
                .await
                .unwrap()
                .event_status
                != EventStatus::Pending
        })
        .await;
    }
}
