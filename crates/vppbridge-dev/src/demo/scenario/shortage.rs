//! Step 7: a license shortage. More devices are desired for one App than it has licenses
//! left: the excess waits with Apple's 9709; a purchase in Apple's portal (the simulator's admin
//! API) sends ASSET_COUNT, and the converger applies the waiting ones with no operator action.

use super::intents::{count, states};
use super::{Ctx, SHORTAGE_APP, SHORTAGE_EXCESS};
use crate::demo::measure::{self, Expect};
use crate::demo::report::StepResult;
use anyhow::Context as _;
use serde_json::json;
use vppbridge::events::intents::{Desired, IntentState};
use vppbridge_sim::seed;
use vppbridge_testkit::truth::fetch_truth;

/// The serial numbers of the devices enrolled for this step start so (the seeded ones with
/// `SIM`).
const NEW_DEVICE_PREFIX: &str = "DEMO";

/// Serial number `n` of the devices enrolled for this step.
fn new_device(n: usize) -> String {
    format!("{NEW_DEVICE_PREFIX}{:08}", n + 1)
}

impl Ctx<'_> {
    /// Step 7: more desired than licenses, `waiting` with 9709, a purchase, then all applied.
    pub(super) async fn license_shortage(&self) -> anyhow::Result<StepResult> {
        let name = "license shortage: 9709 waits, a purchase applies";
        let p = self.step(7, name);
        let start = measure::counters(self.env).await?;
        let env = self.env;
        let adam_id = seed::adam_id(SHORTAGE_APP);
        let truth = fetch_truth(&env.http, &env.admin_url, &env.u_id).await?;
        let available = truth
            .assets
            .iter()
            .find(|a| a.adam_id.0 == adam_id)
            .with_context(|| format!("the simulator has no asset {adam_id}"))?
            .available_count
            .max(0) as usize;
        let wanted = available + SHORTAGE_EXCESS;
        let lines: Vec<_> = (0..wanted)
            .map(|n| json!({"adamId": adam_id, "pricingParam": "STDQ", "serialNumber": new_device(n)}))
            .collect();
        self.desire("shortage", &lines, Desired::Assigned).await?;
        p.note(&format!(
            "vppbridge assign: {adam_id} on {wanted} new devices; {available} license(s) available"
        ));
        // This step's devices only: the App is also desired on the seeded ones (step 3).
        let ours = |r: &vppbridge::intents::cli::IntentRow| {
            r.adam_id == adam_id
                && r.serial_number
                    .as_deref()
                    .is_some_and(|s| s.starts_with(NEW_DEVICE_PREFIX))
        };
        let rows = self
            .wait_intents(&p, ours, |rows| {
                rows.len() == wanted
                    && count(rows, IntentState::Applied) == available
                    && rows
                        .iter()
                        .filter(|r| r.state == IntentState::Waiting)
                        .filter(|r| r.error_number == Some(9709))
                        .count()
                        == SHORTAGE_EXCESS
            })
            .await?;
        let message = rows
            .iter()
            .find_map(|r| r.error_message.clone())
            .unwrap_or_default();
        p.note(&format!("intents: {} (9709: {message})", states(&rows)));
        self.admin_post(
            &format!("locations/{}/purchase", env.u_id),
            &json!({ "adamId": adam_id, "pricingParam": "STDQ", "count": SHORTAGE_EXCESS }),
        )
        .await?;
        p.note(&format!(
            "bought {SHORTAGE_EXCESS} license(s) of {adam_id} in Apple's portal (ASSET_COUNT)"
        ));
        let rows = self
            .wait_intents(&p, ours, |rows| {
                rows.len() == wanted && count(rows, IntentState::Applied) == wanted
            })
            .await?;
        p.note(&format!("intents: {}", states(&rows)));
        self.conclude(
            &p,
            name,
            &start,
            Expect {
                view_matches: true,
                min_deliveries: 1,
            },
            format!(
                "{wanted} desired, {available} applied and {SHORTAGE_EXCESS} waiting (9709), then all {wanted} applied after the purchase, no operator action"
            ),
        )
        .await
    }
}
