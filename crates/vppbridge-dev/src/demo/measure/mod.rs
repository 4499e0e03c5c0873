//! What the demo counts and waits for: messages in `VPP_NOTIFICATIONS`, the receiver's duplicate
//! count (its `/metrics`), the simulator's request and delivery logs, the worker's consumer, and
//! the view against Apple's truth.
//!
//! - this module: [`Counters`], one reading of every counter.
//! - [`calls`]: the Apple calls of one sync, by kind (read from the simulator's request log).
//! - [`settle`](mod@settle): the waiting; [`settle()`] polls the counters, the worker's consumer and the view
//!   (compared with [`vppbridge_testkit::truth`]) until a step's work is done, with a deadline:
//!   never a fixed sleep.
//!
//! Must not change anything.

pub mod calls;
pub mod settle;

pub use calls::{AppleCall, SyncCalls, apple_calls};
pub use settle::{Expect, Settled, compare, settle};

use std::collections::HashSet;

use anyhow::Context as _;
use serde::Deserialize;

use super::env::DemoEnv;
use vppbridge::nats::NOTIFICATIONS_STREAM;

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
