//! Prometheus metrics: one [`Metrics`] per process, shared by the receiver, the worker, the sync
//! and the Apple clients, and rendered at `GET /metrics`.
//!
//! Every series is named `vppbridge_*`; labels are business ids (location, type, outcome), never
//! secrets. `deploy/` (alert rules, dashboard) refers to these names; a test checks that it names
//! only series defined here.
//!
//! [`Metrics::for_locations`] starts every labelled family at zero for each configured location
//! (so `increase()` sees the first dead letter, the first `uid_mismatch`, ...); [`text`] turns
//! the OpenMetrics exposition into the Prometheus text format for scrapers that ask for it.

pub mod text;
pub(crate) mod zero;

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels `location`, `type`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocTypeOutcome {
    /// Location id (or `unknown`).
    pub location: String,
    /// Notification type in lower snake case.
    pub r#type: String,
    /// What happened.
    pub outcome: String,
}

/// Labels `location`, `endpoint`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocEndpointOutcome {
    /// Location id.
    pub location: String,
    /// Apple endpoint (`assets`, `assignments`, `client/config`, ...).
    pub endpoint: String,
    /// `ok`, `rate_limited`, `transient`, `auth`, `permission`, `validation`, `unexpected`.
    pub outcome: String,
}

/// Labels `location`, `kind`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocKind {
    /// Location id.
    pub location: String,
    /// Kind of change, alert or sync.
    pub kind: String,
}

/// Labels `location`, `kind`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocKindOutcome {
    /// Location id.
    pub location: String,
    /// `full` or `incremental`.
    pub kind: String,
    /// `ok` or `error`.
    pub outcome: String,
}

/// Label `location`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Loc {
    /// Location id.
    pub location: String,
}

/// Labels `location`, `state`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocState {
    /// Location id.
    pub location: String,
    /// An intent state: `pending`, `submitted`, `applied`, `waiting`, `failed`.
    pub state: String,
}

/// Labels `location`, `error_number`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocError {
    /// Location id.
    pub location: String,
    /// Apple's error number (or vppbridge's, for a Book sent to a serial: 9707).
    pub error_number: String,
}

/// Label `change` (`acquired`, `released`, `lost`) of a location's ownership.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OwnershipChange {
    /// What happened to the lease.
    pub change: String,
}

/// Labels `location`, `reason`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocReason {
    /// Location id.
    pub location: String,
    /// `token_expired`, `token_revoked`, `token_invalid`, `ownership_conflict`.
    pub reason: String,
}

/// Every metric vppbridge exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// `vppbridge_notifications_total{location,type,outcome}`: webhook requests by outcome
    /// (`accepted`, `duplicate`, `unauthorized`, `invalid`, `too_large`, `unsupported_media_type`,
    /// `uid_mismatch`, `body_timeout`, `overloaded`, `unavailable`). `location` is a configured
    /// location or `unknown`, `type` a known type, `unknown` or `none`: never text from a request.
    pub notifications: Family<LocTypeOutcome, Counter>,
    /// `vppbridge_publish_duration_seconds`: publish until JetStream's acknowledgement.
    pub publish_duration: Histogram,
    /// `vppbridge_http_in_flight_requests`: notification requests being handled.
    pub http_in_flight: Gauge,
    /// `vppbridge_http_connections_open`: HTTP connections open now.
    pub http_connections_open: Gauge,
    /// `vppbridge_http_connections_refused_total`: connections closed at once because
    /// `http.max_connections` were open.
    pub http_connections_refused: Counter,
    /// `vppbridge_apple_requests_total{location,endpoint,outcome}`: every attempt sent to Apple.
    pub apple_requests: Family<LocEndpointOutcome, Counter>,
    /// `vppbridge_apple_retries_total{location,endpoint}`: attempts that were retries.
    pub apple_retries: Family<LocEndpointOutcome, Counter>,
    /// `vppbridge_reconciliations_total{location,type,outcome}`: messages the worker handled
    /// (`ok`, `retry`, `dead_lettered`, `held`).
    pub reconciliations: Family<LocTypeOutcome, Counter>,
    /// `vppbridge_reconcile_duration_seconds`: one reconciliation.
    pub reconcile_duration: Histogram,
    /// `vppbridge_view_changes_total{location,kind}`: change events published.
    pub view_changes: Family<LocKind, Counter>,
    /// `vppbridge_alerts_total{location,kind}`: alert events published.
    pub alerts: Family<LocKind, Counter>,
    /// `vppbridge_dlq_messages_total{location}`: messages dead-lettered.
    pub dlq_messages: Family<Loc, Counter>,
    /// `vppbridge_location_paused{location,reason}`: 1 while the location is paused.
    pub location_paused: Family<LocReason, Gauge>,
    /// `vppbridge_token_expiry_seconds{location}`: seconds until the content token expires.
    pub token_expiry_seconds: Family<Loc, Gauge>,
    /// `vppbridge_consumer_pending_messages`: messages not yet delivered to the worker.
    pub consumer_pending: Gauge,
    /// `vppbridge_consumer_ack_pending_messages`: messages delivered, not yet acknowledged.
    pub consumer_ack_pending: Gauge,
    /// `vppbridge_sync_runs_total{location,kind,outcome}`.
    pub sync_runs: Family<LocKindOutcome, Counter>,
    /// `vppbridge_sync_differences_total{location}`: differences a sync found and repaired.
    pub sync_differences: Family<Loc, Counter>,
    /// `vppbridge_intents{location,state}`: managed keys by state, as of the converger's last
    /// pass.
    pub intents: Family<LocState, Gauge>,
    /// `vppbridge_intents_failed_total{location,error_number}`: intents that became `failed`.
    pub intents_failed: Family<LocError, Counter>,
    /// `vppbridge_intent_apply_duration_seconds`: first submission until `applied`.
    pub intent_apply_duration: Histogram,
    /// Locations this worker process owns (holds the lease of).
    pub owned_locations: Gauge,
    /// This worker's lease acquisitions, releases and losses.
    pub ownership_changes: Family<OwnershipChange, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A fresh registry with every series registered.
    pub fn new() -> Self {
        let mut m = Metrics {
            registry: Arc::new(Registry::default()),
            notifications: Family::default(),
            publish_duration: Histogram::new(exponential_buckets(0.0002, 2.0, 16)),
            http_in_flight: Gauge::default(),
            http_connections_open: Gauge::default(),
            http_connections_refused: Counter::default(),
            apple_requests: Family::default(),
            apple_retries: Family::default(),
            reconciliations: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            view_changes: Family::default(),
            alerts: Family::default(),
            dlq_messages: Family::default(),
            location_paused: Family::default(),
            token_expiry_seconds: Family::default(),
            consumer_pending: Gauge::default(),
            consumer_ack_pending: Gauge::default(),
            sync_runs: Family::default(),
            sync_differences: Family::default(),
            intents: Family::default(),
            intents_failed: Family::default(),
            intent_apply_duration: Histogram::new(exponential_buckets(0.5, 2.0, 14)),
            owned_locations: Gauge::default(),
            ownership_changes: Family::default(),
        };
        let mut r = Registry::with_prefix("vppbridge");
        r.register(
            "notifications",
            "Notification requests by outcome",
            m.notifications.clone(),
        );
        r.register(
            "publish_duration_seconds",
            "Publish until JetStream acknowledgement",
            m.publish_duration.clone(),
        );
        r.register(
            "http_in_flight_requests",
            "Notification requests in flight",
            m.http_in_flight.clone(),
        );
        r.register(
            "http_connections_open",
            "HTTP connections open",
            m.http_connections_open.clone(),
        );
        r.register(
            "http_connections_refused",
            "HTTP connections closed at once because http.max_connections were open",
            m.http_connections_refused.clone(),
        );
        r.register(
            "apple_requests",
            "Requests sent to Apple",
            m.apple_requests.clone(),
        );
        r.register(
            "apple_retries",
            "Requests to Apple that were retries",
            m.apple_retries.clone(),
        );
        r.register(
            "reconciliations",
            "Messages the worker handled",
            m.reconciliations.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Duration of one reconciliation",
            m.reconcile_duration.clone(),
        );
        r.register(
            "view_changes",
            "Change events published",
            m.view_changes.clone(),
        );
        r.register("alerts", "Alert events published", m.alerts.clone());
        r.register(
            "dlq_messages",
            "Messages dead-lettered",
            m.dlq_messages.clone(),
        );
        r.register(
            "location_paused",
            "1 while the location is paused",
            m.location_paused.clone(),
        );
        r.register(
            "token_expiry_seconds",
            "Seconds until the content token expires",
            m.token_expiry_seconds.clone(),
        );
        r.register(
            "consumer_pending_messages",
            "Notification events not yet delivered to a worker",
            m.consumer_pending.clone(),
        );
        r.register(
            "consumer_ack_pending_messages",
            "Notification events delivered, not yet acknowledged",
            m.consumer_ack_pending.clone(),
        );
        r.register("sync_runs", "Sync runs", m.sync_runs.clone());
        r.register(
            "sync_differences",
            "Differences found and repaired by syncs",
            m.sync_differences.clone(),
        );
        r.register(
            "intents",
            "Managed keys (vpp-desired) by intent state",
            m.intents.clone(),
        );
        r.register(
            "intents_failed",
            "Intents that became failed, by error number",
            m.intents_failed.clone(),
        );
        r.register(
            "intent_apply_duration_seconds",
            "From an intent's first request to applied",
            m.intent_apply_duration.clone(),
        );
        r.register(
            "owned_locations",
            "Locations this worker process owns",
            m.owned_locations.clone(),
        );
        r.register(
            "ownership_changes",
            "Location leases this worker acquired, released or lost",
            m.ownership_changes.clone(),
        );
        m.registry = Arc::new(r);
        m
    }

    /// The OpenMetrics text exposition of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The exposition of every series in `format`.
    pub fn encode_as(&self, format: text::Format) -> String {
        match format {
            text::Format::OpenMetrics => self.encode(),
            text::Format::Prometheus => text::to_prometheus_text(&self.encode()),
        }
    }

    /// Counts one webhook request.
    pub fn notification(&self, location: &str, kind: &str, outcome: &str) {
        self.notifications
            .get_or_create(&LocTypeOutcome {
                location: location.to_owned(),
                r#type: kind.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}

/// The Apple client's attempts, counted in `apple_requests` (by endpoint and outcome) and, for
/// retries, `apple_retries`.
impl apple_vpp::Observer for Metrics {
    fn attempt(&self, location: &str, endpoint: &str, outcome: &str, retry: bool) {
        let labels = LocEndpointOutcome {
            location: location.to_owned(),
            endpoint: endpoint.to_owned(),
            outcome: outcome.to_owned(),
        };
        if retry {
            self.apple_retries.get_or_create(&labels).inc();
        }
        self.apple_requests.get_or_create(&labels).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_exported_with_the_vppbridge_prefix() {
        let m = Metrics::new();
        m.notification("school", "asset_count", "accepted");
        let text = m.encode();
        assert!(text.contains(
            r#"vppbridge_notifications_total{location="school",type="asset_count",outcome="accepted"} 1"#
        ), "{text}");
        assert!(text.contains("vppbridge_publish_duration_seconds_bucket"));
    }
}
