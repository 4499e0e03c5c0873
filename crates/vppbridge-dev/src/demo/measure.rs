//! What the demo counts and waits for: messages in `VPP_NOTIFICATIONS`, the receiver's duplicate
//! count (its `/metrics`), the simulator's request and delivery logs, the worker's consumer, and
//! the view against Apple's truth.
//!
//! [`settle`] polls these until a step's work is done, with a deadline: never a fixed sleep.
//! Must not change anything.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;
use tokio::time::Instant;

use super::env::DemoEnv;
use super::report::StepProgress;
use vppbridge::nats::NOTIFICATIONS_STREAM;
use vppbridge_testkit::truth::{self, Comparison};

/// Time between two looks at the system while waiting.
const POLL: Duration = Duration::from_millis(200);

/// Consecutive looks at which everything must hold before a step counts as settled: a
/// notification still on its way shows up as a delivery-log change between two looks.
const STABLE_LOOKS: u32 = 3;

/// A reading of every counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages in `VPP_NOTIFICATIONS`.
    pub notifications: u64,
    /// `vppbridge_notifications_total{outcome="duplicate"}`, summed.
    pub duplicates: u64,
    /// Apple calls in the simulator's request log.
    pub apple_calls: u64,
    /// Of those, answered 9646.
    pub rate_limited: u64,
    /// Apple calls the demo's driver sent.
    pub driver_calls: u64,
    /// Distinct notifications the receiver answered 2xx (simulator's delivery log).
    pub delivered: u64,
    /// Records in the delivery log (every attempt, dropped ones included).
    pub delivery_records: u64,
    /// Notifications the simulator dropped on purpose.
    pub dropped: u64,
}

impl Counters {
    /// What changed since `earlier`.
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            notifications: self.notifications.saturating_sub(earlier.notifications),
            duplicates: self.duplicates.saturating_sub(earlier.duplicates),
            apple_calls: self.apple_calls.saturating_sub(earlier.apple_calls),
            rate_limited: self.rate_limited.saturating_sub(earlier.rate_limited),
            driver_calls: self.driver_calls.saturating_sub(earlier.driver_calls),
            delivered: self.delivered.saturating_sub(earlier.delivered),
            delivery_records: self
                .delivery_records
                .saturating_sub(earlier.delivery_records),
            dropped: self.dropped.saturating_sub(earlier.dropped),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestRecord {
    status: u16,
    error_number: Option<i32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryRecord {
    notification_id: String,
    status: Option<u16>,
    dropped: bool,
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> anyhow::Result<T> {
    let response = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "GET {url}: HTTP {}",
        response.status()
    );
    response
        .json()
        .await
        .with_context(|| format!("GET {url}: unexpected body"))
}

/// Sums the series `name` whose labels include `label` in a Prometheus text exposition.
pub fn sum_series(text: &str, name: &str, label: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Reads every counter.
///
/// # Errors
/// When NATS, the receiver's `/metrics` or the simulator's admin API does not answer.
pub async fn counters(env: &DemoEnv) -> anyhow::Result<Counters> {
    let mut stream = env
        .js
        .get_stream(NOTIFICATIONS_STREAM)
        .await
        .with_context(|| format!("stream {NOTIFICATIONS_STREAM}"))?;
    let notifications = stream
        .info()
        .await
        .with_context(|| format!("stream {NOTIFICATIONS_STREAM}"))?
        .state
        .messages;
    let metrics_url = format!("{}/metrics", env.receiver_url);
    let metrics = env
        .http
        .get(&metrics_url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {metrics_url}"))?
        .text()
        .await?;
    let duplicates = sum_series(
        &metrics,
        "vppbridge_notifications_total",
        r#"outcome="duplicate""#,
    );
    let requests: Vec<RequestRecord> =
        get_json(&env.http, &format!("{}requests", env.admin_url)).await?;
    let deliveries: Vec<DeliveryRecord> =
        get_json(&env.http, &format!("{}notifications", env.admin_url)).await?;
    let delivered: HashSet<&str> = deliveries
        .iter()
        .filter(|d| d.status.is_some_and(|s| (200..300).contains(&s)))
        .map(|d| d.notification_id.as_str())
        .collect();
    Ok(Counters {
        notifications,
        duplicates,
        apple_calls: requests.len() as u64,
        rate_limited: requests
            .iter()
            .filter(|r| r.status == 429 || r.error_number == Some(9646))
            .count() as u64,
        driver_calls: env.driver.requests_sent(),
        delivered: delivered.len() as u64,
        delivery_records: deliveries.len() as u64,
        dropped: deliveries.iter().filter(|d| d.dropped).count() as u64,
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_summed_over_every_location_and_type_from_the_metrics_text() {
        let text = "# HELP vppbridge_notifications_total x\n\
            vppbridge_notifications_total{location=\"demo\",type=\"asset_management\",outcome=\"duplicate\"} 3\n\
            vppbridge_notifications_total{location=\"demo\",type=\"asset_count\",outcome=\"duplicate\"} 2\n\
            vppbridge_notifications_total{location=\"demo\",type=\"asset_count\",outcome=\"accepted\"} 40\n\
            vppbridge_notifications_total_created{outcome=\"duplicate\"} 1700000000.5\n";
        assert_eq!(
            sum_series(
                text,
                "vppbridge_notifications_total",
                r#"outcome="duplicate""#
            ),
            5
        );
    }
}
