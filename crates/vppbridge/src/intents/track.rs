//! Request records (`vpp-intent-requests`) and how a request's outcome is read.
//!
//! A request is recorded `submitting`, with the assets and targets it carries, before its POST;
//! Apple's `eventId` is added as soon as the POST answers. So a crash never forgets a request,
//! and never sends one twice blindly: a `submitting` record found later (the process died
//! between recording and learning the eventId) is checked, after `status_poll_after_secs`, by
//! reading Apple's assignments of its assets into the view, and only the pairs Apple does not
//! hold go back to `pending`.
//!
//! Outcomes, first found wins: the event's ASSET_MANAGEMENT notifications, matched by
//! `eventId` and summed over their pieces (failures mark exactly the pairs they name); the view
//! showing every pair done; or Event Status once neither settled it in
//! `status_poll_after_secs`, polled every `status_poll_interval_secs`, with `failures[]` read
//! pair by pair ([`failed_pairs`]). A request still PENDING after `resend_after_secs` is sent
//! again, once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Action, Pair, Target};
use apple_vpp::types::{Asset, ErrorResponse, ManageAssetsRequest};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Recorded; the POST is being sent (or the process died before its answer).
    Submitting,
    /// Apple accepted it: `eventId` known.
    Submitted,
}

/// One Apple write sent for intents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// vppbridge's id (UUID), the key's last token.
    pub id: String,
    /// Associate or disassociate.
    pub action: Action,
    /// The body sent: every asset × every target.
    pub request: ManageAssetsRequest,
    /// Where it stands.
    pub phase: Phase,
    /// Apple's `eventId`, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When Apple accepted it (the last time, after a resend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime<Utc>>,
    /// When Event Status was last asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polled_at: Option<DateTime<Utc>>,
    /// Whether it was sent again after staying PENDING.
    #[serde(default)]
    pub resent: bool,
}

impl RequestRecord {
    /// A new record, before the POST.
    pub fn new(action: Action, request: ManageAssetsRequest) -> Self {
        RequestRecord {
            id: uuid::Uuid::new_v4().to_string(),
            action,
            request,
            phase: Phase::Submitting,
            event_id: None,
            created_at: Utc::now(),
            submitted_at: None,
            polled_at: None,
            resent: false,
        }
    }

    /// Every pair it carries, with its key (pairs whose key cannot be built are left out: they
    /// never come from a valid desired key).
    pub fn keys(&self, location: &str) -> Vec<(String, Pair)> {
        self.pairs()
            .into_iter()
            .filter_map(|p| p.key(location).ok().map(|k| (k, p)))
            .collect()
    }

    /// Every pair it carries.
    pub fn pairs(&self) -> Vec<Pair> {
        let r = &self.request;
        let targets: Vec<Target> = r
            .serial_numbers
            .iter()
            .map(|s| Target::Serial(s.clone()))
            .chain(r.client_user_ids.iter().map(|u| Target::User(u.clone())))
            .collect();
        r.assets
            .iter()
            .flat_map(|a| {
                targets.iter().map(|t| Pair {
                    adam_id: a.adam_id.0.clone(),
                    pricing_param: a.pricing_param.clone(),
                    target: t.clone(),
                })
            })
            .collect()
    }
}

/// The pairs `failures[]` names, each with its error (number, message). A failure without
/// `errorInfo` concerns every pair of the request.
pub fn failed_pairs(all: &[Pair], failures: &[ErrorResponse]) -> BTreeMap<Pair, (i32, String)> {
    let mut out = BTreeMap::new();
    for f in failures {
        let err = (f.error_number, f.error_message.clone());
        let Some(info) = &f.error_info else {
            for p in all {
                out.entry(p.clone()).or_insert_with(|| err.clone());
            }
            continue;
        };
        let names_asset = |p: &Pair| {
            info.assets.is_empty()
                || info
                    .assets
                    .iter()
                    .any(|a: &Asset| a.adam_id.0 == p.adam_id && a.pricing_param == p.pricing_param)
        };
        let names_target = |p: &Pair| match &p.target {
            Target::Serial(s) => info.serial_numbers.contains(s),
            Target::User(u) => info.client_user_ids.contains(u),
        };
        let no_targets = info.serial_numbers.is_empty() && info.client_user_ids.is_empty();
        for p in all {
            if names_asset(p) && (no_targets || names_target(p)) {
                out.entry(p.clone()).or_insert_with(|| err.clone());
            }
        }
    }
    out
}

/// How an Apple error number ends an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 9709: no license left: `waiting`.
    NoLicenses,
    /// Worth another request (9603, 9610, 9644, 9646, 9729): `pending` until `max_attempts`.
    Transient,
    /// Anything else: `failed` until the desired value changes.
    Permanent,
}

/// Classifies an Apple error number.
pub fn kind_of(error_number: i32) -> ErrorKind {
    match error_number {
        9709 => ErrorKind::NoLicenses,
        9603 | 9610 | 9644 | 9646 | 9729 => ErrorKind::Transient,
        _ => ErrorKind::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apple_vpp::types::{AdamId, ResponseErrorInfo};

    fn asset(id: &str) -> Asset {
        Asset {
            adam_id: AdamId(id.into()),
            pricing_param: "STDQ".into(),
        }
    }

    #[test]
    fn failures_name_exactly_their_pairs_and_a_bare_failure_names_all() {
        let rec = RequestRecord::new(
            Action::Associate,
            ManageAssetsRequest {
                assets: vec![asset("1"), asset("2")],
                client_user_ids: vec![],
                serial_numbers: vec!["A".into(), "B".into()],
            },
        );
        let all = rec.pairs();
        assert_eq!(all.len(), 4);
        let f = ErrorResponse {
            error_number: 9709,
            error_message: "no licenses".into(),
            error_info: Some(ResponseErrorInfo {
                assets: vec![asset("2")],
                client_user_ids: vec![],
                serial_numbers: vec!["B".into()],
            }),
        };
        let failed = failed_pairs(&all, std::slice::from_ref(&f));
        assert_eq!(failed.len(), 1);
        let (p, (n, _)) = failed.iter().next().unwrap();
        assert_eq!(
            (p.adam_id.as_str(), &p.target, *n),
            ("2", &Target::Serial("B".into()), 9709)
        );
        let bare = ErrorResponse {
            error_info: None,
            ..f
        };
        assert_eq!(failed_pairs(&all, &[bare]).len(), 4);
        assert_eq!(kind_of(9709), ErrorKind::NoLicenses);
        assert_eq!(kind_of(9610), ErrorKind::Transient);
        assert_eq!(kind_of(9609), ErrorKind::Permanent);
    }
}
