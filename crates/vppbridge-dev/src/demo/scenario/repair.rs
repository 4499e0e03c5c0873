//! Step 6: Apple drops and repeats notifications while the MDM takes licenses away (`vppbridge
//! unassign`); an incremental sync, run through the library's entry point as `vppbridge sync`
//! runs it, repairs the view from documented data only (the recount of `assignedCount`s). A
//! full sync of the same location then shows what the repair saved.

use std::collections::BTreeSet;

use super::{Ctx, DROP_APPS, DROP_DEVICES, STEP_DEADLINE};
use crate::demo::env::DemoEnv;
use crate::demo::measure::{self, Expect, SyncCalls, settle};
use crate::demo::report::StepResult;
use serde_json::json;
use vppbridge::events::intents::Desired;
use vppbridge::sync::SyncKind;
use vppbridge_sim::{Faults, seed};

impl Ctx<'_> {
    /// Step 6: notifications dropped and repeated during a disassociation the converger sends;
    /// an incremental sync repairs the view; its Apple calls against a full sync's.
    pub(super) async fn drop_and_sync(&self) -> anyhow::Result<StepResult> {
        let name = "drop notifications, sync repairs";
        let p = self.step(6, name);
        let env = self.env;
        // The schedule's last incremental sync, before the step: the repair then reads only what
        // changed since, as it would in production (the step's row does not count it).
        let (_, baseline) = run_sync(env, SyncKind::Incremental).await?;
        p.note(&format!(
            "the schedule's last incremental sync before the step: {baseline}"
        ));
        let start = measure::counters(self.env).await?;
        let faults = Faults {
            drop_rate: 0.5,
            duplicate_rate: 0.25,
            ..Faults::default()
        };
        let apps: Vec<String> = (0..self.scale.assets)
            .filter(|i| (i + 1) % 5 != 0)
            .take(DROP_APPS)
            .map(seed::adam_id)
            .collect();
        let devices: Vec<String> = (0..self.scale.devices.min(DROP_DEVICES))
            .map(seed::serial)
            .collect();
        let lines: Vec<_> = apps
            .iter()
            .flat_map(|a| {
                devices
                    .iter()
                    .map(move |s| json!({"adamId": a, "pricingParam": "STDQ", "serialNumber": s}))
            })
            .collect();
        self.set_faults(&faults).await?;
        let outcome = async {
            self.unassign_and_wait(&lines, &p).await?;
            settle(
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
            .await
        }
        .await;
        // Faults off again whatever happened, so a later run or --keep-running starts clean.
        self.set_faults(&Faults::default()).await?;
        let s = outcome?;
        let d = s.counters.since(&start);
        p.note(&format!(
            "vppbridge unassign: {} Apps from {} devices: {} notification(s) dropped, {} delivered",
            apps.len(),
            devices.len(),
            d.dropped,
            d.delivered
        ));
        p.note(&format!("before the sync, {}", s.comparison));
        let (summary, incremental) = run_sync(env, SyncKind::Incremental).await?;
        p.note(&summary.to_string());
        p.note(&format!("incremental sync: {incremental}"));
        let before = s.comparison.differences;
        let mut result = self
            .conclude(
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
            .await?;
        // Outside the step's row: only to show what a full read of the location costs.
        let (full_summary, full) = run_sync(env, SyncKind::Full).await?;
        p.note(&format!(
            "for comparison, a full sync: {full} ({} differences)",
            full_summary.differences
        ));
        result.footnote = Some(format!(
            "the repairing incremental sync made {incremental}; a full sync of the location makes {full}"
        ));
        Ok(result)
    }

    /// `vppbridge unassign` of `lines`, then waits until Apple has done it (each request the
    /// converger sent is no longer PENDING).
    async fn unassign_and_wait(
        &self,
        lines: &[serde_json::Value],
        p: &crate::demo::report::StepProgress,
    ) -> anyhow::Result<()> {
        self.desire("drop", lines, Desired::Unassigned).await?;
        let rows = self
            .wait_intents(
                p,
                |r| r.desired == Desired::Unassigned,
                |rows| rows.len() == lines.len() && rows.iter().all(|r| r.event_id.is_some()),
            )
            .await?;
        let events: BTreeSet<&str> = rows.iter().filter_map(|r| r.event_id.as_deref()).collect();
        for e in events {
            self.wait_event(e).await?;
        }
        Ok(())
    }
}

/// One sync of the demo location, as `vppbridge sync --location [--full]` runs it, with the
/// Apple calls it made (from the simulator's request log).
async fn run_sync(
    env: &DemoEnv,
    kind: SyncKind,
) -> anyhow::Result<(vppbridge::sync::Summary, SyncCalls)> {
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
    let before = measure::apple_calls(env).await?.len();
    let summary = vppbridge::sync::sync(&loc, kind, &vppbridge::sync::Progress::Silent).await?;
    let calls = measure::apple_calls(env).await?;
    let calls = SyncCalls::classify(calls.get(before..).unwrap_or_default());
    Ok((summary, calls))
}
