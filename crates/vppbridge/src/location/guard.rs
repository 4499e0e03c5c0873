//! The guard of a [`Location`]: whether it may call Apple, and what Apple's answers say about
//! its token and its owner.
//!
//! [`Location::classify`] turns an Apple error into an [`ErrorAction`], pausing the location on
//! every token rejection (9601/9622/9722 `token_invalid`, 9621, 9625) and ownership conflicts; [`Location::pause`] and [`Location::resume`] keep the pause in
//! memory, in `vpp-state` (key `<location>.guard`) and in the `location_paused` metric, and
//! publish the alert once per pause. [`Location::note_expiry`] and [`Location::note_common`]
//! record the token's expiry and the owner Apple reports.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::{EXPIRY_WARNING, ErrorAction, Location};
use crate::changes::stable_id;
use crate::events::alerts::{AlertData, AlertKind, ForeignMdm};
use crate::metrics::{Loc, LocReason};
use crate::view::keys::state_key;
use crate::view::state::GuardState;
use apple_vpp::AppleError;
use apple_vpp::types::{Common, MdmInfo, parse_apple_date};

impl Location {
    /// Sets the pause; returns false when it already was exactly that.
    pub(super) fn set_paused(&self, kind: Option<AlertKind>) -> bool {
        let before = {
            let mut p = self.paused.write().unwrap_or_else(|e| e.into_inner());
            if *p == kind {
                return false;
            }
            std::mem::replace(&mut *p, kind)
        };
        for k in [before, kind].into_iter().flatten() {
            self.metrics
                .location_paused
                .get_or_create(&LocReason {
                    location: self.id.clone(),
                    reason: k.as_str().to_owned(),
                })
                .set(i64::from(Some(k) == kind));
        }
        true
    }

    pub(super) async fn guard_state(&self) -> anyhow::Result<Option<GuardState>> {
        let key = state_key(&self.id, "guard")?;
        Ok(self.applier.view().state(&key).await?)
    }

    async fn write_guard(&self, f: impl FnOnce(&mut GuardState)) {
        let Ok(key) = state_key(&self.id, "guard") else {
            return;
        };
        let mut g = self.guard_state().await.ok().flatten().unwrap_or_default();
        f(&mut g);
        if let Err(e) = self.applier.view().set_state(&key, &g).await {
            tracing::error!(location = %self.id, error = %e, "cannot record the location's guard state");
        }
    }

    /// Records a token expiry (from the file or Apple's `tokenExpirationDate`): metric, guard
    /// record, and a `token_expiring` alert when it is 30 days away or less.
    pub async fn note_expiry(&self, at: DateTime<Utc>) {
        *self
            .token_expires_at
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(at);
        let left = at - Utc::now();
        self.metrics
            .token_expiry_seconds
            .get_or_create(&Loc {
                location: self.id.clone(),
            })
            .set(left.num_seconds());
        self.write_guard(|g| g.token_expires_at = Some(at)).await;
        // An expired token gets `token_expired` from Apple's 9621 instead.
        if left <= EXPIRY_WARNING && left > chrono::TimeDelta::zero() {
            let data = AlertData {
                location: self.id.clone(),
                kind: AlertKind::TokenExpiring,
                message: format!(
                    "the content token of location {} expires at {at} ({} days); download a new .vpptoken and replace {}",
                    self.id,
                    left.num_days(),
                    self.token_file.display()
                ),
                paused: false,
                token_expires_at: Some(at),
                foreign_mdm: None,
            };
            let id = stable_id(&[&self.id, "token_expiring", &at.to_rfc3339()]);
            if let Err(e) = self.applier.publisher().alert(&id, data).await {
                tracing::error!(location = %self.id, error = %e, "cannot publish the token_expiring alert");
            }
        }
    }

    /// Looks at the common fields of a response: token expiry and owner.
    pub async fn note_common(&self, common: &Common) {
        if let (Some(ours), Some(theirs)) = (&self.mdm_id, &common.mdm_info) {
            let ok = *ours == theirs.id;
            let before = self
                .owner_ok
                .swap(if ok { 1 } else { 2 }, Ordering::Relaxed);
            if before != if ok { 1 } else { 2 } {
                let id = theirs.id.clone();
                self.write_guard(|g| {
                    g.owner_ok = Some(ok);
                    g.owner_id = Some(id);
                })
                .await;
            }
        }
        if let Some(at) = common
            .token_expiration_date
            .as_deref()
            .and_then(parse_apple_date)
        {
            let known = *self
                .token_expires_at
                .read()
                .unwrap_or_else(|e| e.into_inner());
            if known != Some(at) {
                self.note_expiry(at).await;
            }
        }
    }

    /// Decides what an Apple error means for the work that met it, pausing the location when
    /// the error says it must stop (and alerting once).
    pub async fn classify(&self, e: &AppleError) -> ErrorAction {
        match e {
            AppleError::TokenExpired => {
                self.pause(AlertKind::TokenExpired, e.to_string(), None)
                    .await;
                ErrorAction::Hold
            }
            AppleError::TokenRevoked => {
                self.pause(AlertKind::TokenRevoked, e.to_string(), None)
                    .await;
                ErrorAction::Hold
            }
            AppleError::TokenInvalid { .. } => {
                let message = format!(
                    "{e}; replace {} with the location's current .vpptoken",
                    self.token_file.display()
                );
                self.pause(AlertKind::TokenInvalid, message, None).await;
                ErrorAction::Hold
            }
            AppleError::OwnershipConflict { theirs, .. } => {
                self.pause(AlertKind::OwnershipConflict, e.to_string(), Some(theirs))
                    .await;
                ErrorAction::Hold
            }
            AppleError::Permission { .. } => {
                if !self.permission_warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(location = %self.id, error = %e, "the token lacks rights for some calls; they are skipped from now on (this warning is shown once)");
                }
                ErrorAction::Skip
            }
            AppleError::RateLimited { retry_after } | AppleError::Transient { retry_after, .. } => {
                ErrorAction::Retry {
                    after: *retry_after,
                }
            }
            _ => ErrorAction::Retry { after: None },
        }
    }

    /// Pauses the location (`token_expired`) when its token's `expDate` is past: Apple would
    /// only answer 9621.
    pub async fn pause_if_expired(&self) {
        let expires = *self
            .token_expires_at
            .read()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(at) = expires
            && at <= Utc::now()
            && self.paused().is_none()
        {
            let message = format!(
                "the content token of location {} expired at {at} (its expDate); download a new .vpptoken in Apple School Manager or Apple Business and replace {}",
                self.id,
                self.token_file.display()
            );
            self.pause(AlertKind::TokenExpired, message, None).await;
        }
    }

    /// Pauses the location: no more Apple calls, the guard recorded, the metric set, the alert
    /// published (once per pause).
    pub async fn pause(&self, kind: AlertKind, message: String, foreign: Option<&MdmInfo>) {
        if !self.set_paused(Some(kind)) {
            return;
        }
        tracing::error!(location = %self.id, reason = kind.as_str(), error = %message, "location paused: no more calls to Apple until the token file is replaced or `vppbridge resume --location {}` is run", self.id);
        let since = Utc::now();
        let expires = *self
            .token_expires_at
            .read()
            .unwrap_or_else(|e| e.into_inner());
        self.write_guard(|g| {
            g.paused = true;
            g.reason = Some(kind.as_str().to_owned());
            g.message = Some(message.clone());
            g.since = Some(since);
            if let Some(m) = foreign {
                g.owner_id = Some(m.id.clone());
                g.owner_ok = Some(false);
            }
        })
        .await;
        let data = AlertData {
            location: self.id.clone(),
            kind,
            message,
            paused: true,
            token_expires_at: expires,
            foreign_mdm: foreign.map(|m| ForeignMdm {
                id: m.id.clone(),
                name: m.name.clone(),
                metadata: m.metadata.clone(),
            }),
        };
        let id = stable_id(&[&self.id, kind.as_str(), &since.to_rfc3339()]);
        if let Err(e) = self.applier.publisher().alert(&id, data).await {
            tracing::error!(location = %self.id, error = %e, "cannot publish the alert");
        }
    }

    /// Resumes the location (in memory and in `vpp-state`).
    pub async fn resume(&self, why: &str) {
        if !self.set_paused(None) {
            return;
        }
        self.write_guard(|g| {
            g.paused = false;
            g.reason = None;
            g.message = None;
            g.since = None;
        })
        .await;
        tracing::info!(location = %self.id, why, "location resumed");
    }
}
