//! How a step waits: polls the counters, the worker's consumer and the view against Apple's
//! truth until the step's work is done, or until a deadline. Never a fixed sleep standing in
//! for a condition; must not change anything.

use std::time::Duration;

use tokio::time::Instant;

use super::{Counters, counters};
use crate::demo::env::DemoEnv;
use crate::demo::report::StepProgress;
use vppbridge::nats::NOTIFICATIONS_STREAM;
use vppbridge_testkit::truth::{self, Comparison};

/// Time between two looks at the system while waiting.
const POLL: Duration = Duration::from_millis(200);

/// Consecutive looks at which everything must hold before a step counts as settled: a
/// notification still on its way shows up as a delivery-log change between two looks.
const STABLE_LOOKS: u32 = 3;

/// Whether the worker's durable consumer has nothing pending nor unacknowledged.
async fn consumer_idle(env: &DemoEnv) -> bool {
    let Ok(stream) = env.js.get_stream(NOTIFICATIONS_STREAM).await else {
        return false;
    };
    match stream.consumer_info(&env.config.worker.durable_name).await {
        Ok(info) => info.num_pending == 0 && info.num_ack_pending == 0,
        Err(_) => false,
    }
}

/// Compares the view with the simulator's truth.
///
/// # Errors
/// When either cannot be read.
pub async fn compare(env: &DemoEnv) -> anyhow::Result<Comparison> {
    Ok(truth::compare_view(
        &env.js,
        &env.http,
        &env.admin_url,
        &env.location,
        &env.u_id,
        env.config.sync.users_active_only,
    )
    .await?)
}

/// What a step waits for besides quiet (no delivery in flight, every delivered notification in
/// the stream, the worker's consumer idle).
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// The view must equal Apple's truth.
    pub view_matches: bool,
    /// At least this many new delivery-log records (a step that causes notifications must see
    /// them start).
    pub min_deliveries: u64,
}

/// How a wait ended.
#[derive(Debug, Clone)]
pub struct Settled {
    /// The counters at the end.
    pub counters: Counters,
    /// The last comparison.
    pub comparison: Comparison,
    /// Whether everything awaited held (false: the deadline passed).
    pub done: bool,
    /// What was still awaited at the deadline.
    pub waiting_for: String,
}

/// Polls until the step's work is done: every notification delivered is in the stream, no
/// delivery changed for a few looks, the consumer is idle, and (if expected) the view equals
/// the truth; or until `deadline`. `base` is the reading at the demo's start (every notification
/// answered 2xx since then must be in the stream), `step_start` the step's.
///
/// # Errors
/// When a counter or the view cannot be read.
pub async fn settle(
    env: &DemoEnv,
    progress: &StepProgress,
    base: &Counters,
    step_start: &Counters,
    expect: Expect,
    deadline: Duration,
) -> anyhow::Result<Settled> {
    let until = Instant::now() + deadline;
    let mut previous: Option<Counters> = None;
    let mut stable = 0;
    loop {
        let c = counters(env).await?;
        let comparison = compare(env).await?;
        let idle = consumer_idle(env).await;
        let total = c.since(base);
        let quiet = previous.is_some_and(|p| p.delivery_records == c.delivery_records);
        let all_in = total.notifications >= total.delivered;
        let started = c.since(step_start).delivery_records >= expect.min_deliveries;
        let view_ok = !expect.view_matches || comparison.matches();
        let mut waiting = Vec::new();
        if !started || !quiet {
            waiting.push("notifications".to_owned());
        }
        if !all_in {
            waiting.push(format!(
                "{} notification(s) into the stream",
                total.delivered - total.notifications
            ));
        }
        if !idle {
            waiting.push("the worker".to_owned());
        }
        if !view_ok {
            waiting.push(format!("{} view difference(s)", comparison.differences));
        }
        let (a, s, u) = comparison.truth_sizes;
        let len = a + s + u;
        progress.progress(
            len.saturating_sub(comparison.differences),
            len,
            &if waiting.is_empty() {
                "settling".to_owned()
            } else {
                format!("waiting for {}", waiting.join(", "))
            },
        );
        stable = if waiting.is_empty() { stable + 1 } else { 0 };
        if stable >= STABLE_LOOKS || Instant::now() >= until {
            return Ok(Settled {
                counters: c,
                comparison,
                done: stable >= STABLE_LOOKS,
                waiting_for: waiting.join(", "),
            });
        }
        previous = Some(c);
        tokio::time::sleep(POLL).await;
    }
}
