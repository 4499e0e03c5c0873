//! The scenario a person can follow: import, register, associate 25 assets to 1,000 devices
//! (desired through `vppbridge assign`), buy licenses, retire a user, drop notifications and let
//! a sync repair them, and a license shortage resolved by a purchase. Each step acts the way an
//! MDM and Apple's users would (`vppbridge assign|unassign`, the driver's Apple client, the
//! simulator's admin API), then waits for vppbridge to absorb it and measures what it took.
//!
//! - `driver`: how the demo acts as the MDM and as Apple's users (event status polling, the
//!   simulator's admin API).
//! - `intents`: the MDM's desired state (`vppbridge assign|unassign`, `vppbridge intents`).
//! - `steps`: steps 1 to 5 (import, register, associate, buy licenses, retire a user).
//! - `repair`: step 6, notifications dropped and a sync repairing the view, with its Apple
//!   calls against a full sync's.
//! - `shortage`: step 7, more desired than licenses, then a purchase.
//!
//! Must not reach into vppbridge's internals to help it: the only library calls are the ones an
//! operator makes (`register`, `sync`, `assign`, `unassign`, `intents`).

mod driver;
mod intents;
mod repair;
mod shortage;
mod steps;

use std::time::Duration;

use tokio::time::Instant;

use super::env::{DemoEnv, Scale};
use super::measure::{self, Counters, Expect, settle};
use super::report::{Output, StepProgress, StepResult};

/// Longest wait for one step's work to be absorbed.
const STEP_DEADLINE: Duration = Duration::from_secs(90);
/// Longest wait for the converger to take a desired file in hand (it records every pair it
/// sends, 20,250 in the associate step, before it sends the next request).
const INTENTS_DEADLINE: Duration = Duration::from_secs(240);
/// Time between two event status reads (the MDM's own polling).
const STATUS_POLL: Duration = Duration::from_millis(400);
/// Steps in the scenario.
const STEPS: usize = 7;

/// The user the demo creates and retires.
const DEMO_USER: &str = "demo-user-0001";
/// Devices the disassociation with dropped notifications touches.
const DROP_DEVICES: usize = 100;
/// Apps it touches.
const DROP_APPS: usize = 10;
/// The App (seed index) of the license-shortage step: an App the drop step leaves alone.
const SHORTAGE_APP: usize = 12;
/// Devices desired beyond the App's available licenses in that step.
const SHORTAGE_EXCESS: usize = 30;

/// What every step needs: the environment, the output, the counters at the demo's start and
/// the scale.
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
        ctx.license_shortage().await?,
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
            footnote: None,
        };
        progress.finish(&result);
        Ok(result)
    }
}
