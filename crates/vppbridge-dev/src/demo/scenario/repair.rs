//! Step 6: Apple drops and repeats notifications during a disassociation; an incremental sync,
//! run through the library's entry point as `vppbridge sync` runs it, repairs the view.

use super::{Ctx, DROP_APPS, DROP_DEVICES, STEP_DEADLINE};
use crate::demo::env::DemoEnv;
use crate::demo::measure::{self, Expect, settle};
use crate::demo::report::StepResult;
use apple_vpp::types::{Asset, ManageAssetsRequest};
use vppbridge_sim::{Faults, seed};

impl Ctx<'_> {
    /// Step 6: Apple drops and repeats notifications during a disassociation; an incremental sync
    /// (the library's entry point, as `vppbridge sync` runs it) repairs the view.
    pub(super) async fn drop_and_sync(&self) -> anyhow::Result<StepResult> {
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
