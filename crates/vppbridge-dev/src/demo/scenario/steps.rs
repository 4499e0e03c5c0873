//! Steps 1 to 5: import, register, associate, buy licenses, retire a user.

use anyhow::Context as _;
use secrecy::SecretString;

use std::collections::BTreeSet;

use super::{Ctx, DEMO_USER, STEP_DEADLINE, thousands};
use crate::demo::measure::{self, Expect, settle};
use crate::demo::report::StepResult;
use apple_vpp::types::{Asset, ManageUsersRequest, MdmInfo, RequestUser};
use serde_json::json;
use vppbridge::events::intents::Desired;
use vppbridge_sim::seed;
use vppbridge_testkit::truth::fetch_truth;

impl Ctx<'_> {
    /// Step 1: the worker's first full sync imports the location.
    pub(super) async fn import(&self) -> anyhow::Result<StepResult> {
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
    pub(super) async fn register(&self) -> anyhow::Result<StepResult> {
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

    /// Step 3: every asset desired through `vppbridge assign`: Apps on every device, Books (not
    /// device-assignable) for every user; the worker's converger sends the requests.
    pub(super) async fn associate(&self) -> anyhow::Result<StepResult> {
        let name = format!(
            "associate {} assets to {} devices",
            self.scale.assets,
            thousands(self.scale.devices)
        );
        let p = self.step(3, &name);
        let start = measure::counters(self.env).await?;
        let env = self.env;
        let truth = fetch_truth(&env.http, &env.admin_url, &env.u_id).await?;
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
        let mut lines = Vec::new();
        for a in &apps {
            for s in &serials {
                lines.push(json!({"adamId": a.adam_id, "pricingParam": a.pricing_param, "serialNumber": s}));
            }
        }
        for b in &books {
            for u in &users {
                lines.push(json!({"adamId": b.adam_id, "pricingParam": b.pricing_param, "clientUserId": u}));
            }
        }
        let before = measure::apple_calls(env).await?.len();
        let file = self.desire("associate", &lines, Desired::Assigned).await?;
        p.note(&format!(
            "vppbridge assign --location {} --file {}: {} Apps × {} devices, {} Books × {} users (Books cannot go to devices)",
            env.location,
            file.display(),
            apps.len(),
            thousands(serials.len()),
            books.len(),
            users.len()
        ));
        let pairs = lines.len();
        // Every pair inside a request Apple accepted; then Apple's work done.
        let rows = self
            .wait_intents(
                &p,
                |_| true,
                |rows| rows.len() == pairs && rows.iter().all(|r| r.event_id.is_some()),
            )
            .await?;
        let events: BTreeSet<&str> = rows.iter().filter_map(|r| r.event_id.as_deref()).collect();
        for e in &events {
            let status = self.wait_event(e).await?;
            p.note(&format!("Apple event {e}: {status:?}"));
        }
        let associates = measure::apple_calls(env)
            .await?
            .iter()
            .skip(before)
            .filter(|c| c.method == "POST" && c.path == "/mdm/v2/assets/associate")
            .count();
        p.note(&format!(
            "the worker's converger sent {associates} assets/associate request(s) for {} pairs",
            thousands(pairs)
        ));
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
    pub(super) async fn buy_licenses(&self) -> anyhow::Result<StepResult> {
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
    pub(super) async fn retire_user(&self) -> anyhow::Result<StepResult> {
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
}
