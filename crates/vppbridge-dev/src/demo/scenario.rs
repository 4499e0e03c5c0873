//! The scenario a person can follow: import, register, associate 25 assets to 1,000 devices,
//! buy licenses, retire a user, drop notifications and let a sync repair them. Each step acts
//! the way an MDM and Apple's users would (the driver's Apple client, the simulator's admin API),
//! then waits for vppbridge to absorb it and measures what it took.
//!
//! Must not reach into vppbridge's internals to help it: the only library calls are the ones an
//! operator makes (`register`, `sync`).

use std::time::Duration;

use anyhow::Context as _;
use secrecy::SecretString;
use tokio::time::Instant;

use super::env::{DemoEnv, Scale};
use super::measure::{self, Counters, Expect, settle};
use super::report::{Output, StepProgress, StepResult};
use apple_vpp::types::{
    Asset, EventStatus, ManageAssetsRequest, ManageUsersRequest, MdmInfo, RequestUser,
};
use vppbridge_sim::{Faults, seed};
use vppbridge_testkit::truth::fetch_truth;

/// Longest wait for one step's work to be absorbed.
const STEP_DEADLINE: Duration = Duration::from_secs(90);
/// Time between two event status reads (the MDM's own polling).
const STATUS_POLL: Duration = Duration::from_millis(400);
/// Steps in the scenario.
const STEPS: usize = 6;

/// The user the demo creates and retires.
const DEMO_USER: &str = "demo-user-0001";
/// Devices the disassociation with dropped notifications touches.
const DROP_DEVICES: usize = 100;
/// Apps it touches.
const DROP_APPS: usize = 10;

struct Ctx<'a> {
    env: &'a DemoEnv,
    out: &'a Output,
    base: Counters,
    scale: Scale,
}

/// Plays every step and returns one result per step.
///
/// # Errors
/// When the demo itself cannot go on (NATS, the simulator or the receiver stop answering, or
/// Apple refuses the driver's requests).
pub async fn play(env: &DemoEnv, out: &Output, scale: Scale) -> anyhow::Result<Vec<StepResult>> {
    wait_ready(env).await?;
    let mut base = measure::counters(env).await?;
    // The simulator was started with the demo, so every Apple call in its log is this run's,
    // including the worker's first sync that may already have begun.
    base.apple_calls = 0;
    base.rate_limited = 0;
    let ctx = Ctx {
        env,
        out,
        base,
        scale,
    };
    Ok(vec![
        ctx.import().await?,
        ctx.register().await?,
        ctx.associate().await?,
        ctx.buy_licenses().await?,
        ctx.retire_user().await?,
        ctx.drop_and_sync().await?,
    ])
}

/// Waits for the receiver's `/readyz`.
async fn wait_ready(env: &DemoEnv) -> anyhow::Result<()> {
    let url = format!("{}/readyz", env.receiver_url);
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = env
            .http
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < until,
            "the receiver did not become ready at {url} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Ctx<'_> {
    fn step(&self, n: usize, name: &str) -> StepProgress {
        self.out.step(n, STEPS, name)
    }

    /// Waits for the step to settle and turns what changed since `start` into its row.
    async fn conclude(
        &self,
        progress: &StepProgress,
        name: &str,
        start: &Counters,
        expect: Expect,
        detail: String,
    ) -> anyhow::Result<StepResult> {
        let s = settle(self.env, progress, &self.base, start, expect, STEP_DEADLINE).await?;
        let d = s.counters.since(start);
        let matched = s.done && s.comparison.matches();
        let detail = if matched {
            format!("{detail}; {}", s.comparison)
        } else if !s.done {
            format!(
                "{detail}; gave up after {} s waiting for {}; {}",
                STEP_DEADLINE.as_secs(),
                s.waiting_for,
                s.comparison
            )
        } else {
            format!("{detail}; {}", s.comparison)
        };
        let result = StepResult {
            name: name.to_owned(),
            notifications: d.notifications,
            duplicates: d.duplicates,
            driver_calls: d.driver_calls,
            bridge_calls: d.apple_calls.saturating_sub(d.driver_calls),
            rate_limited: d.rate_limited,
            matched,
            detail,
            elapsed: progress.elapsed(),
        };
        progress.finish(&result);
        Ok(result)
    }

    /// Waits until Apple reports the event done (the way an MDM polls `GET status`).
    async fn wait_event(&self, event_id: &str) -> anyhow::Result<EventStatus> {
        let until = Instant::now() + STEP_DEADLINE;
        loop {
            let status = self
                .env
                .driver
                .event_status(event_id)
                .await
                .with_context(|| format!("GET status of event {event_id}"))?;
            if status.event_status != EventStatus::Pending {
                return Ok(status.event_status);
            }
            anyhow::ensure!(
                Instant::now() < until,
                "event {event_id} still PENDING after {} s",
                STEP_DEADLINE.as_secs()
            );
            tokio::time::sleep(STATUS_POLL).await;
        }
    }

    async fn admin_post(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.env.admin_url);
        let r = self
            .env
            .http
            .post(&url)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        anyhow::ensure!(r.status().is_success(), "POST {url}: HTTP {}", r.status());
        Ok(())
    }

    async fn set_faults(&self, faults: &Faults) -> anyhow::Result<()> {
        let url = format!("{}faults", self.env.admin_url);
        let r = self
            .env
            .http
            .put(&url)
            .json(faults)
            .send()
            .await
            .with_context(|| format!("PUT {url}"))?;
        anyhow::ensure!(r.status().is_success(), "PUT {url}: HTTP {}", r.status());
        Ok(())
    }

    /// Step 1: the worker's first full sync imports the location.
    async fn import(&self) -> anyhow::Result<StepResult> {
        let name = "import the location (first full sync)";
        let p = self.step(1, name);
        let start = self.base;
        self.conclude(
            &p,
            name,
            &start,
            Expect {
                view_matches: true,
                min_deliveries: 0,
            },
            "vppbridge read the location's assets, assignments and users".to_owned(),
        )
        .await
    }

    /// Step 2: Client Config registration; Apple sends a TEST_NOTIFICATION.
    async fn register(&self) -> anyhow::Result<StepResult> {
        let name = "register (TEST_NOTIFICATION)";
        let p = self.step(2, name);
        let start = measure::counters(self.env).await?;
        let env = self.env;
        let loc = &env.config.locations[0];
        let token = apple_vpp::token::ContentToken::from_file(&loc.token_file)?;
        let client = apple_vpp::AppleClient::new(
            &env.config.apple.client_settings(),
            token,
            Some(env.config.mdm.id.clone()),
        )?
        .with_location(&env.location);
        let secret: SecretString =
            vppbridge::secret::read_secret_file(&loc.notification_secret_file)?;
        let reg = vppbridge::register::Registration {
            location: env.location.clone(),
            mdm: MdmInfo {
                id: env.config.mdm.id.clone(),
                name: env.config.mdm.name.clone(),
                metadata: vppbridge::register::metadata(),
            },
            public_url: env.config.http.public_url.clone(),
            secret,
            notification_types: None,
            take_over: false,
        };
        vppbridge::register::register(&client, &env.js, &reg)
            .await
            .context("registering the demo location")?;
        p.note(&format!("notifications go to {}", reg.notification_url()));
        self.conclude(
            &p,
            name,
            &start,
            Expect {
                view_matches: true,
                min_deliveries: 1,
            },
            "Apple's test notification arrived".to_owned(),
        )
        .await
    }

    /// Step 3: associate every asset: Apps to every device, Books (not device-assignable) to every
    /// user, in requests within Apple's limits.
    async fn associate(&self) -> anyhow::Result<StepResult> {
        let name = format!(
            "associate {} assets to {} devices",
            self.scale.assets,
            thousands(self.scale.devices)
        );
        let p = self.step(3, &name);
        let start = measure::counters(self.env).await?;
        let env = self.env;
        let truth = fetch_truth(&env.http, &env.admin_url, &env.u_id).await?;
        let limits = env.driver.refresh_limits().await?;
        let as_asset = |a: &apple_vpp::types::ResponseAsset| Asset {
            adam_id: a.adam_id.clone(),
            pricing_param: a.pricing_param.clone(),
        };
        let (apps, books): (Vec<_>, Vec<_>) =
            truth.assets.iter().partition(|a| a.device_assignable);
        let apps: Vec<Asset> = apps.into_iter().map(as_asset).collect();
        let books: Vec<Asset> = books.into_iter().map(as_asset).collect();
        let serials: Vec<String> = (0..self.scale.devices).map(seed::serial).collect();
        let users: Vec<String> = truth
            .users
            .iter()
            .filter(|u| u.status != "Retired")
            .map(|u| u.client_user_id.clone())
            .collect();
        let mut requests = Vec::new();
        for assets in apps.chunks(limits.max_assets().max(1)) {
            for chunk in serials.chunks(limits.max_serial_numbers().max(1)) {
                requests.push(ManageAssetsRequest {
                    assets: assets.to_vec(),
                    serial_numbers: chunk.to_vec(),
                    client_user_ids: Vec::new(),
                });
            }
        }
        for assets in books.chunks(limits.max_assets().max(1)) {
            for chunk in users.chunks(limits.max_client_user_ids().max(1)) {
                requests.push(ManageAssetsRequest {
                    assets: assets.to_vec(),
                    client_user_ids: chunk.to_vec(),
                    serial_numbers: Vec::new(),
                });
            }
        }
        p.note(&format!(
            "{} ManageAssetsRequest(s): {} Apps × {} devices, {} Books × {} users (Books cannot go to devices)",
            requests.len(),
            apps.len(),
            thousands(serials.len()),
            books.len(),
            users.len()
        ));
        let mut events = Vec::new();
        for r in &requests {
            events.push(env.driver.associate(r).await?.event_id);
        }
        for e in &events {
            let status = self.wait_event(e).await?;
            p.note(&format!("Apple event {e}: {status:?}"));
        }
        self.conclude(
            &p,
            &name,
            &start,
            Expect {
                view_matches: true,
                min_deliveries: 1,
            },
            format!(
                "{} assignments made",
                thousands(apps.len() * serials.len() + books.len() * users.len())
            ),
        )
        .await
    }

    /// Step 4: licenses bought in Apple's portal: ASSET_COUNT notifications.
    async fn buy_licenses(&self) -> anyhow::Result<StepResult> {
        let name = "buy licenses (ASSET_COUNT)";
        let p = self.step(4, name);
        let start = measure::counters(self.env).await?;
        let bought = [(seed::adam_id(0), 100), (seed::adam_id(1), 50)];
        for (adam_id, count) in &bought {
            self.admin_post(
                &format!("locations/{}/purchase", self.env.u_id),
                &serde_json::json!({ "adamId": adam_id, "pricingParam": "STDQ", "count": count }),
            )
            .await?;
        }
        self.conclude(
            &p,
            name,
            &start,
            Expect {
                view_matches: true,
                min_deliveries: bought.len() as u64,
            },
            format!(
                "bought {} licenses of {} and {} of {}",
                bought[0].1, bought[0].0, bought[1].1, bought[1].0
            ),
        )
        .await
    }

    /// Step 5: a user created then retired through the driver: USER_MANAGEMENT notifications.
    async fn retire_user(&self) -> anyhow::Result<StepResult> {
        let name = "create and retire a user (USER_MANAGEMENT)";
        let p = self.step(5, name);
        let start = measure::counters(self.env).await?;
        let env = self.env;
        let user = ManageUsersRequest {
            users: vec![RequestUser {
                client_user_id: DEMO_USER.to_owned(),
                email: Some(format!("{DEMO_USER}@example.com")),
                managed_apple_id: None,
            }],
        };
        let created = env.driver.create_users(&user).await?.event_id;
        self.wait_event(&created).await?;
        let s = settle(
            env,
            &p,
            &self.base,
            &start,
            Expect {
                view_matches: true,
                min_deliveries: 1,
            },
            STEP_DEADLINE,
        )
        .await?;
        p.note(&format!("created {DEMO_USER}: {}", s.comparison));
        let mid = s.counters;
        let retired = env.driver.retire_users(&user).await?.event_id;
        self.wait_event(&retired).await?;
        let mut r = self
            .conclude(
                &p,
                name,
                &start,
                Expect {
                    view_matches: true,
                    min_deliveries: mid.delivery_records - start.delivery_records + 1,
                },
                format!("{DEMO_USER} created, then retired (the view keeps active users only)"),
            )
            .await?;
        r.matched &= s.done && s.comparison.matches();
        Ok(r)
    }

    /// Step 6: Apple drops and repeats notifications during a disassociation; an incremental sync
    /// (the library's entry point, as `vppbridge sync` runs it) repairs the view.
    async fn drop_and_sync(&self) -> anyhow::Result<StepResult> {
        let name = "drop notifications, sync repairs";
        let p = self.step(6, name);
        let start = measure::counters(self.env).await?;
        let env = self.env;
        let faults = Faults {
            drop_rate: 0.5,
            duplicate_rate: 0.25,
            ..Faults::default()
        };
        self.set_faults(&faults).await?;
        let apps = (0..self.scale.assets)
            .filter(|i| (i + 1) % 5 != 0)
            .take(DROP_APPS)
            .map(|i| Asset {
                adam_id: apple_vpp::types::AdamId(seed::adam_id(i)),
                pricing_param: "STDQ".to_owned(),
            })
            .collect::<Vec<_>>();
        let devices = (0..self.scale.devices.min(DROP_DEVICES))
            .map(seed::serial)
            .collect::<Vec<_>>();
        let request = ManageAssetsRequest {
            assets: apps.clone(),
            serial_numbers: devices.clone(),
            client_user_ids: Vec::new(),
        };
        let event = env.driver.disassociate(&request).await?.event_id;
        let waited = self.wait_event(&event).await;
        let s = settle(
            env,
            &p,
            &self.base,
            &start,
            Expect {
                view_matches: false,
                min_deliveries: 1,
            },
            STEP_DEADLINE,
        )
        .await;
        // Faults off again whatever happened, so a later run or --keep-running starts clean.
        self.set_faults(&Faults::default()).await?;
        waited?;
        let s = s?;
        let d = s.counters.since(&start);
        p.note(&format!(
            "disassociated {} Apps from {} devices: {} notification(s) dropped, {} delivered",
            apps.len(),
            devices.len(),
            d.dropped,
            d.delivered
        ));
        p.note(&format!("before the sync, {}", s.comparison));
        let summary = run_sync(env).await?;
        p.note(&summary.to_string());
        let before = s.comparison.differences;
        self.conclude(
            &p,
            name,
            &start,
            Expect {
                view_matches: true,
                min_deliveries: 0,
            },
            format!(
                "{} dropped; the view missed {before} change(s); the sync repaired {}",
                d.dropped, summary.differences
            ),
        )
        .await
    }
}

/// One incremental sync of the demo location, as `vppbridge sync --location` runs it.
async fn run_sync(env: &DemoEnv) -> anyhow::Result<vppbridge::sync::Summary> {
    let metrics = vppbridge::metrics::Metrics::new();
    let view = vppbridge::view::View::open(&env.js).await?;
    let applier = vppbridge::changes::Applier::new(
        view,
        vppbridge::changes::ChangePublisher::new(env.js.clone(), metrics.clone()),
    );
    let loc = vppbridge::location::Location::open(
        &env.config.locations[0],
        &env.config.apple,
        Some(env.config.mdm.id.clone()),
        applier,
        metrics,
        env.config.sync.users_active_only,
    )
    .await?;
    let summary = vppbridge::sync::sync(
        &loc,
        vppbridge::sync::SyncKind::Incremental,
        &vppbridge::sync::Progress::Silent,
    )
    .await?;
    Ok(summary)
}
