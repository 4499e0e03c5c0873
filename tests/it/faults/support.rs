//! What every fault scenario shares: vppbridge as a child process of the built binary (so a test
//! can SIGKILL it), Apple-shaped notification bodies, a load client that retries 503s the way
//! Apple does, and the two closing checks: every notification answered 200 is in
//! `VPP_NOTIFICATIONS` exactly once, and the view equals the simulator's truth.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::time::Instant;
use vppbridge::config::{Config, LocationConfig};
use vppbridge::nats::NOTIFICATIONS_STREAM;
use vppbridge::natsproc::free_port;
use vppbridge::simulator::{Faults, SeedSpec, SimConfig, SimHandle, SimLocation, Simulator};

/// The notification secret of the one location every scenario configures.
pub const SECRET: &str = "fault-suite-secret-0123456789abcdef";
/// That location's id.
pub const LOCATION: &str = "school";

/// Polls `check` every 20 ms until it returns `Some`, or panics naming `what` after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A configuration for one location [`LOCATION`] on `nats_url`, its files in `dir`, listening on
/// a free port; short timeouts so that the suite stays quick.
pub fn bridge_config(nats_url: &str, dir: &Path) -> Config {
    let secret = dir.join("school.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).expect("write the secret file");
    let token = dir.join("school.vpptoken");
    if !token.exists() {
        std::fs::write(&token, "").expect("write the token file");
    }
    let mut config = Config::default();
    config.http.listen = ([127, 0, 0, 1], free_port().expect("a free port")).into();
    config.http.publish_timeout_secs = 1;
    config.http.retry_after_secs = 1;
    config.http.max_concurrent_requests = 512;
    config.nats.url = nats_url.to_owned();
    config.locations = vec![LocationConfig {
        id: LOCATION.into(),
        token_file: token,
        notification_secret_file: secret,
        previous_notification_secret_file: None,
        notification_types: None,
    }];
    config
}

/// `vppbridge serve` running as a child process of the built binary.
pub struct Bridge {
    child: Option<Child>,
    config_path: PathBuf,
    log_path: PathBuf,
    args: Vec<String>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Bridge {
    /// Writes `config` to `dir/vppbridge.toml`, starts `vppbridge serve` with `args` and waits
    /// until `/readyz` answers 200.
    pub async fn start(config: &Config, dir: &Path, args: &[&str]) -> Bridge {
        let config_path = dir.join("vppbridge.toml");
        let text = toml::to_string(config).expect("the configuration serialises");
        std::fs::write(&config_path, text).expect("write the configuration");
        let mut bridge = Bridge {
            child: None,
            config_path,
            log_path: dir.join("vppbridge.log"),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            base: format!("http://{}", config.http.listen),
        };
        bridge.spawn().await;
        bridge
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_vppbridge"))
            .arg("--config")
            .arg(&self.config_path)
            .arg("serve")
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start vppbridge");
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let url = format!("{}/readyz", self.base);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("vppbridge exited at start with {status}:\n{}", self.log());
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "vppbridge not ready after 30 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the process wrote so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The notification URL of [`LOCATION`].
    pub fn notification_url(&self) -> String {
        format!("{}/notifications/{LOCATION}", self.base)
    }

    /// SIGKILL, and waits for the process to be gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the process again with the same configuration and waits until it is ready.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn().await;
    }

    /// Asserts that the process is still running and answers `/healthz` with 200.
    pub async fn assert_serving(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let exited = child.try_wait().expect("query the child");
            assert!(
                exited.is_none(),
                "vppbridge exited: {exited:?}\n{}",
                self.log()
            );
        }
        let r = reqwest::get(format!("{}/healthz", self.base))
            .await
            .expect("healthz answers");
        assert_eq!(r.status(), 200, "healthz");
    }
}

/// One notification to deliver: its `notificationId` and Apple's envelope.
#[derive(Debug, Clone)]
pub struct Note {
    /// `notificationId`.
    pub id: String,
    /// The body.
    pub body: Vec<u8>,
}

/// An ASSET_MANAGEMENT associate-success notification for `adam_id` on `serials`.
pub fn associate_note(u_id: &str, adam_id: &str, serials: &[&str]) -> Note {
    let id = uuid::Uuid::new_v4().to_string();
    let assignments: Vec<Value> = serials
        .iter()
        .map(|s| json!({"adamId": adam_id, "pricingParam": "STDQ", "serialNumber": s}))
        .collect();
    let body = json!({
        "notificationId": id,
        "notificationType": "ASSET_MANAGEMENT",
        "uId": u_id,
        "notification": {
            "type": "ASSOCIATE",
            "result": "SUCCESS",
            "eventId": uuid::Uuid::new_v4().to_string(),
            "assignments": assignments,
        },
    });
    Note {
        id,
        body: serde_json::to_vec(&body).expect("JSON serialises"),
    }
}

/// A TEST_NOTIFICATION.
pub fn test_note(u_id: &str) -> Note {
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "notificationId": id,
        "notificationType": "TEST_NOTIFICATION",
        "uId": u_id,
        "notification": {},
    });
    Note {
        id,
        body: serde_json::to_vec(&body).expect("JSON serialises"),
    }
}

/// What a load run saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Every `notificationId` posted.
    pub posted: BTreeSet<String>,
    /// The ones answered 200 (at some try).
    pub accepted: BTreeSet<String>,
    /// Answers by status (0: no answer: connection refused or reset).
    pub statuses: BTreeMap<u16, usize>,
}

/// How the load client behaves.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Tries per notification (Apple: 3).
    pub tries: u32,
    /// Wait between tries (Apple: minutes; here short).
    pub retry_delay: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            concurrency: 32,
            tries: 3,
            retry_delay: Duration::from_millis(500),
        }
    }
}

/// Counters a running load updates as answers arrive.
#[derive(Debug, Default)]
pub struct Progress {
    accepted: AtomicUsize,
    failed: AtomicUsize,
}

/// A load running in the background (see [`Load::spawn`]).
pub struct Load {
    progress: Arc<Progress>,
    task: tokio::task::JoinHandle<LoadReport>,
}

impl Load {
    /// Posts every note to `url` with [`SECRET`], `concurrency` at a time, each up to `tries`
    /// times until a 2xx, like Apple: a 503, another non-2xx or no answer at all (connection
    /// refused or reset) counts as a failed try.
    pub fn spawn(url: &str, notes: Vec<Note>, opts: LoadOptions) -> Load {
        let progress = Arc::new(Progress::default());
        let task = tokio::spawn(run_load(url.to_owned(), notes, opts, progress.clone()));
        Load { progress, task }
    }

    /// Notifications answered 200 so far.
    pub fn accepted(&self) -> usize {
        self.progress.accepted.load(Ordering::Relaxed)
    }

    /// Failed tries so far.
    pub fn failed(&self) -> usize {
        self.progress.failed.load(Ordering::Relaxed)
    }

    /// Waits until `count` notifications were answered 200.
    pub async fn wait_accepted(&self, count: usize) {
        eventually(
            Duration::from_secs(60),
            "notifications accepted",
            || async { (self.accepted() >= count).then_some(()) },
        )
        .await;
    }

    /// Waits until `count` tries failed (the fault is visible to the senders).
    pub async fn wait_failed(&self, count: usize) {
        eventually(Duration::from_secs(60), "tries failing", || async {
            (self.failed() >= count).then_some(())
        })
        .await;
    }

    /// Waits for every notification's last try.
    pub async fn finish(self) -> LoadReport {
        self.task.await.expect("the load task does not panic")
    }
}

/// [`Load::spawn`] and [`Load::finish`] in one.
pub async fn deliver(url: &str, notes: Vec<Note>, opts: LoadOptions) -> LoadReport {
    Load::spawn(url, notes, opts).finish().await
}

async fn run_load(
    url: String,
    notes: Vec<Note>,
    opts: LoadOptions,
    progress: Arc<Progress>,
) -> LoadReport {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let mut report = LoadReport::default();
    let results = futures::stream::iter(notes)
        .map(|note| {
            let (http, url, progress) = (http.clone(), url.as_str(), progress.clone());
            async move {
                let mut statuses = Vec::new();
                for attempt in 1..=opts.tries {
                    let status = http
                        .post(url)
                        .bearer_auth(SECRET)
                        .header("content-type", "application/json")
                        .body(note.body.clone())
                        .send()
                        .await
                        .map_or(0, |r| r.status().as_u16());
                    statuses.push(status);
                    if status == 200 {
                        progress.accepted.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    progress.failed.fetch_add(1, Ordering::Relaxed);
                    if attempt < opts.tries {
                        tokio::time::sleep(opts.retry_delay).await;
                    }
                }
                (note.id, statuses)
            }
        })
        .buffer_unordered(opts.concurrency)
        .collect::<Vec<_>>()
        .await;
    for (id, statuses) in results {
        if statuses.last() == Some(&200) {
            report.accepted.insert(id.clone());
        }
        for s in statuses {
            *report.statuses.entry(s).or_default() += 1;
        }
        report.posted.insert(id);
    }
    report
}

/// Every message of `VPP_NOTIFICATIONS`: (`Nats-Msg-Id`, CloudEvent `id`) per message, read with
/// an ordered consumer from the first message.
pub async fn stored_ids(js: &jetstream::Context) -> Vec<(String, String)> {
    let mut stream = js
        .get_stream(NOTIFICATIONS_STREAM)
        .await
        .expect("the notification stream exists");
    let count = stream.info().await.expect("stream info").state.messages;
    let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    if count == 0 {
        return out;
    }
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("consume the stream");
    while (out.len() as u64) < count {
        let msg = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("the stream delivers every stored message")
            .expect("the message stream does not end")
            .expect("a message");
        let header = msg
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let event: Value = serde_json::from_slice(&msg.payload).expect("a JSON CloudEvent");
        let id = event["id"].as_str().unwrap_or_default().to_owned();
        out.push((header, id));
    }
    out
}

/// Check 1: every notification answered 200 is in `VPP_NOTIFICATIONS` exactly once (by
/// `Nats-Msg-Id` and by CloudEvent id, which must agree); no notification is stored twice; and
/// nothing is stored that was not posted. Notifications never answered 200 may be missing.
pub async fn assert_stored_exactly_once(js: &jetstream::Context, report: &LoadReport) {
    let stored = stored_ids(js).await;
    let mut per_id: BTreeMap<&str, usize> = BTreeMap::new();
    for (header, event_id) in &stored {
        assert_eq!(header, event_id, "Nats-Msg-Id and CloudEvent id differ");
        *per_id.entry(header.as_str()).or_default() += 1;
    }
    let doubled: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "stored more than once: {doubled:?}");
    let expected = |id: &str| format!("{LOCATION}:{id}");
    let missing: Vec<_> = report
        .accepted
        .iter()
        .filter(|id| !per_id.contains_key(expected(id).as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} notifications answered 200 are not in the stream, e.g. {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    let posted: BTreeSet<String> = report.posted.iter().map(|id| expected(id)).collect();
    let foreign: Vec<_> = per_id.keys().filter(|k| !posted.contains(**k)).collect();
    assert!(foreign.is_empty(), "stored but never posted: {foreign:?}");
}

/// The simulator seeded for a scenario, and its one location.
pub struct Apple {
    /// The running simulator.
    pub sim: SimHandle,
    /// Its seeded location.
    pub location: SimLocation,
}

/// Starts the simulator in-process on port 0 with short delays: one location of 10 assets
/// (8 Apps, 2 Books) and 300 devices, half of the (App × device) pairs assigned.
pub async fn apple(faults: Faults) -> Apple {
    let config = SimConfig {
        allow_http_notifications: true,
        event_delay: Duration::from_millis(50),
        delivery_retry_delays: vec![Duration::from_millis(300), Duration::from_millis(600)],
        notification_timeout: Duration::from_secs(5),
        max_requests_per_second: 50,
        faults,
        seed: SeedSpec {
            assets: 10,
            devices: 300,
            users: 20,
            assigned: 0.5,
            ..SeedSpec::default()
        },
        ..SimConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the simulator");
    let sim = Simulator::start(config, listener)
        .await
        .expect("the simulator starts");
    let location = sim.locations().remove(0);
    Apple { sim, location }
}

impl Apple {
    /// Points `config`'s location at this simulator: its token file and Apple's base URL.
    pub fn configure(&self, config: &mut Config) {
        config.apple.base_url = self.sim.base_url();
        config.apple.retry_base_delay_ms = 20;
        config.apple.retry_max_delay_secs = 1;
        for loc in &config.locations {
            std::fs::write(&loc.token_file, &self.location.token_text)
                .expect("write the token file");
        }
    }

    /// The simulator's truth for the location (`GET /_sim/locations/{uId}/state`).
    pub async fn truth(&self) -> Value {
        reqwest::get(format!(
            "{}locations/{}/state",
            self.sim.admin_url(),
            self.location.u_id
        ))
        .await
        .expect("the admin API answers")
        .json()
        .await
        .expect("the state is JSON")
    }

    /// `count` ASSET_MANAGEMENT associate notifications, each about one (App, device) pair that
    /// is assigned in the simulator's truth, cycling through the pairs: what Apple would send
    /// if the location's assignments were being made now.
    pub async fn true_associations(&self, count: usize) -> Vec<Note> {
        let truth = self.truth().await;
        let pairs: Vec<(String, String)> = truth["assignments"]
            .as_array()
            .expect("assignments in the state")
            .iter()
            .filter_map(|a| {
                Some((
                    a["adamId"].as_str()?.to_owned(),
                    a["serialNumber"].as_str()?.to_owned(),
                ))
            })
            .collect();
        assert!(!pairs.is_empty(), "the seed assigns some devices");
        (0..count)
            .map(|i| {
                let (adam, serial) = &pairs[i % pairs.len()];
                associate_note(&self.location.u_id, adam, &[serial])
            })
            .collect()
    }
}
