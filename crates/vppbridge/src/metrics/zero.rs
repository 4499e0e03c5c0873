//! Zero series for every configured location, registered at start.
//!
//! A labelled family has no series until a label set is first used, and Prometheus'
//! `increase()` needs two samples: without a zero before it, the first dead letter or the
//! first `uid_mismatch` of a location would never raise an alert. So every counter and gauge
//! family gets, for each location, a zero for each label value the code can produce.
//!
//! `vppbridge_token_expiry_seconds` is the exception: a zero would say "the token expires now"
//! and fire the expiry alerts; the worker sets it when it reads the token.

use super::{
    Loc, LocEndpointOutcome, LocError, LocKind, LocKindOutcome, LocReason, LocState,
    LocTypeOutcome, Metrics,
};
use crate::events::alerts::AlertKind;
use crate::events::changes::ChangeKind;
use crate::events::intents::IntentState;
use crate::events::notification::KINDS;

/// Notification types as the receiver and the worker label them (`Notification::kind`, the
/// event contract's [`KINDS`]), plus `none` for requests refused before the body was read.
fn notification_types() -> impl Iterator<Item = &'static str> {
    std::iter::once("none").chain(KINDS)
}

/// The receiver's outcomes (`http::Outcome::ALL`; a test there keeps the two lists equal).
pub const NOTIFICATION_OUTCOMES: [&str; 10] = [
    "accepted",
    "duplicate",
    "unauthorized",
    "invalid",
    "too_large",
    "unsupported_media_type",
    "uid_mismatch",
    "body_timeout",
    "overloaded",
    "unavailable",
];

/// The worker's outcomes (`worker::verdict`).
pub const RECONCILE_OUTCOMES: [&str; 5] = ["ok", "retry", "dead_lettered", "held", "waiting_owner"];

/// Ownership changes (`ownership::Change`; a test there keeps the two lists equal).
pub const OWNERSHIP_CHANGES: [&str; 3] = ["acquired", "released", "lost"];

/// The error numbers that end intents `failed` from vppbridge's own decisions: 9603 (a
/// transient failure after `max_attempts`, or a request Apple never took), 9707 (a Book to a
/// serial number), and Apple's 9609 (unknown user). Others start at their first occurrence.
pub const INTENT_FAILURES: [&str; 3] = ["9603", "9609", "9707"];

/// Sync kinds and outcomes.
const SYNC_KINDS: [&str; 2] = ["full", "incremental"];
const SYNC_OUTCOMES: [&str; 2] = ["ok", "error"];

impl Metrics {
    /// A fresh registry with zero series for each of `locations` (see the module
    /// documentation) and for `unknown`, the label of requests to an unconfigured location.
    pub fn for_locations<'a>(locations: impl IntoIterator<Item = &'a str>) -> Self {
        let m = Metrics::new();
        m.zero_notifications("unknown");
        for change in OWNERSHIP_CHANGES {
            let _ = m.ownership_changes.get_or_create(&super::OwnershipChange {
                change: change.to_owned(),
            });
        }
        for id in locations {
            m.zero_location(id);
        }
        m
    }

    fn zero_notifications(&self, location: &str) {
        for t in notification_types() {
            for outcome in NOTIFICATION_OUTCOMES {
                let _ = self.notifications.get_or_create(&LocTypeOutcome {
                    location: location.to_owned(),
                    r#type: t.to_owned(),
                    outcome: outcome.to_owned(),
                });
            }
        }
    }

    /// Registers the zero series of one location (idempotent: existing values are kept).
    pub fn zero_location(&self, location: &str) {
        let loc = || location.to_owned();
        self.zero_notifications(location);
        for t in notification_types() {
            for outcome in RECONCILE_OUTCOMES {
                let _ = self.reconciliations.get_or_create(&LocTypeOutcome {
                    location: loc(),
                    r#type: t.to_owned(),
                    outcome: outcome.to_owned(),
                });
            }
        }
        for endpoint in apple_vpp::observe::ENDPOINTS {
            for outcome in apple_vpp::observe::OUTCOMES {
                let labels = LocEndpointOutcome {
                    location: loc(),
                    endpoint: endpoint.to_owned(),
                    outcome: outcome.to_owned(),
                };
                let _ = self.apple_requests.get_or_create(&labels);
                let _ = self.apple_retries.get_or_create(&labels);
            }
        }
        for kind in ChangeKind::ALL {
            let _ = self.view_changes.get_or_create(&LocKind {
                location: loc(),
                kind: kind.subject_token().to_owned(),
            });
        }
        for kind in AlertKind::ALL {
            let _ = self.alerts.get_or_create(&LocKind {
                location: loc(),
                kind: kind.as_str().to_owned(),
            });
            if kind != AlertKind::TokenExpiring {
                let _ = self.location_paused.get_or_create(&LocReason {
                    location: loc(),
                    reason: kind.as_str().to_owned(),
                });
            }
        }
        let _ = self.dlq_messages.get_or_create(&Loc { location: loc() });
        let _ = self
            .sync_differences
            .get_or_create(&Loc { location: loc() });
        for state in IntentState::ALL {
            let _ = self.intents.get_or_create(&LocState {
                location: loc(),
                state: state.as_str().to_owned(),
            });
        }
        for n in INTENT_FAILURES {
            let _ = self.intents_failed.get_or_create(&LocError {
                location: loc(),
                error_number: n.to_owned(),
            });
        }
        for kind in SYNC_KINDS {
            for outcome in SYNC_OUTCOMES {
                let _ = self.sync_runs.get_or_create(&LocKindOutcome {
                    location: loc(),
                    kind: kind.to_owned(),
                    outcome: outcome.to_owned(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned))
    }

    #[test]
    fn every_labelled_family_starts_at_zero_for_each_location() {
        let m = Metrics::for_locations(["school", "office"]);
        let text = m.encode();
        for series in [
            r#"vppbridge_dlq_messages_total{location="school"}"#,
            r#"vppbridge_dlq_messages_total{location="office"}"#,
            r#"vppbridge_notifications_total{location="school",type="asset_management",outcome="uid_mismatch"}"#,
            r#"vppbridge_notifications_total{location="unknown",type="none",outcome="unauthorized"}"#,
            r#"vppbridge_alerts_total{location="school",kind="ownership_conflict"}"#,
            r#"vppbridge_location_paused{location="office",reason="token_revoked"}"#,
            r#"vppbridge_apple_retries_total{location="school",endpoint="assets",outcome="transient"}"#,
            r#"vppbridge_sync_runs_total{location="school",kind="full",outcome="error"}"#,
            r#"vppbridge_view_changes_total{location="school",kind="assignment_added"}"#,
            r#"vppbridge_reconciliations_total{location="school",type="asset_count",outcome="dead_lettered"}"#,
            r#"vppbridge_sync_differences_total{location="office"}"#,
            r#"vppbridge_intents{location="school",state="waiting"}"#,
            r#"vppbridge_intents_failed_total{location="office",error_number="9603"}"#,
            r#"vppbridge_ownership_changes_total{change="lost"}"#,
            r#"vppbridge_owned_locations"#,
        ] {
            assert_eq!(
                value(&text, series).as_deref(),
                Some("0"),
                "{series} in\n{text}"
            );
        }
        assert!(
            !text.contains("vppbridge_token_expiry_seconds{"),
            "a zero expiry would fire the expiry alerts"
        );
        assert!(!text.contains(r#"reason="token_expiring""#));
    }

    #[test]
    fn zeroing_again_keeps_the_counts() {
        let m = Metrics::for_locations(["school"]);
        m.dlq_messages
            .get_or_create(&Loc {
                location: "school".into(),
            })
            .inc();
        m.zero_location("school");
        assert_eq!(
            value(
                &m.encode(),
                r#"vppbridge_dlq_messages_total{location="school"}"#
            )
            .as_deref(),
            Some("1")
        );
    }
}
