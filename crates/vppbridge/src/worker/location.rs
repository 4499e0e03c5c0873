//! [`Location`]: everything the worker and the sync hold for one location: its Apple client
//! (rebuilt when the token file is replaced), its guard (paused or not, and why), what it has
//! learnt about page sizes, and the applier that writes its view.
//!
//! The guard is the only way a location stops calling Apple: every Apple call site asks
//! [`Location::paused`] first, and every Apple error goes through [`Location::classify`], which
//! pauses the location on 9621/9625/ownership conflicts and publishes the alert.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use crate::changes::{Applier, stable_id};
use crate::config::{AppleConfig, LocationConfig};
use crate::events::alerts::{AlertData, AlertKind, ForeignMdm};
use crate::metrics::{Loc, LocReason, Metrics};
use crate::view::keys::state_key;
use crate::view::state::GuardState;
use apple_vpp::token::ContentToken;
use apple_vpp::types::{Common, MdmInfo, parse_apple_date};
use apple_vpp::{AppleClient, AppleError};

/// Apple's page size until a traversal shows a bigger one (Apple's are "several hundred").
pub const DEFAULT_PAGE_SIZE: usize = 500;
/// How close to expiry a token raises `token_expiring`.
pub const EXPIRY_WARNING: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// What to do about an Apple error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorAction {
    /// Try again later (rate limited, transient, or unexpected), after `after` when Apple said.
    Retry {
        /// Apple's `Retry-After`, when given.
        after: Option<Duration>,
    },
    /// The location is paused: hold the work until it resumes.
    Hold,
    /// The token lacks the rights: skip this work (warned once).
    Skip,
}

/// One location's live state.
pub struct Location {
    /// The location id (slug).
    pub id: String,
    token_file: PathBuf,
    mdm_id: Option<String>,
    client: RwLock<AppleClient>,
    token_expires_at: RwLock<Option<DateTime<Utc>>>,
    token_mtime: Mutex<Option<SystemTime>>,
    paused: RwLock<Option<AlertKind>>,
    page_size: AtomicUsize,
    known_assets: AtomicUsize,
    permission_warned: AtomicBool,
    /// 0: owner not seen yet, 1: ours, 2: another MDM's.
    owner_ok: AtomicU8,
    /// Writes the view and publishes changes.
    pub applier: Applier,
    /// The process's metrics.
    pub metrics: Metrics,
    /// Keep only active users in the view.
    pub users_active_only: bool,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Location")
            .field("id", &self.id)
            .field("paused", &self.paused())
            .finish_non_exhaustive()
    }
}

fn mtime(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Location {
    /// Loads the token, builds the client, and restores the guard from `vpp-state`.
    ///
    /// # Errors
    /// When the token file cannot be read or the client cannot be built.
    pub async fn open(
        config: &LocationConfig,
        apple_config: &AppleConfig,
        mdm_id: Option<String>,
        applier: Applier,
        metrics: Metrics,
        users_active_only: bool,
    ) -> anyhow::Result<Arc<Self>> {
        let token = ContentToken::from_file(&config.token_file)
            .map_err(|e| anyhow::anyhow!("location {}: {e}", config.id))?;
        let expires_at = token.expires_at;
        let client = AppleClient::new(&apple_config.client_settings(), token, mdm_id.clone())
            .map_err(|e| anyhow::anyhow!("location {}: {e}", config.id))?
            .with_observer(std::sync::Arc::new(metrics.clone()), &config.id);
        let loc = Arc::new(Location {
            id: config.id.clone(),
            token_file: config.token_file.clone(),
            mdm_id,
            client: RwLock::new(client),
            token_expires_at: RwLock::new(Some(expires_at)),
            token_mtime: Mutex::new(mtime(&config.token_file)),
            paused: RwLock::new(None),
            page_size: AtomicUsize::new(DEFAULT_PAGE_SIZE),
            known_assets: AtomicUsize::new(0),
            permission_warned: AtomicBool::new(false),
            owner_ok: AtomicU8::new(0),
            applier,
            metrics,
            users_active_only,
        });
        if let Some(g) = loc.guard_state().await?
            && g.paused
        {
            let kind = match g.reason.as_deref() {
                Some("token_expired") => AlertKind::TokenExpired,
                Some("token_revoked") => AlertKind::TokenRevoked,
                _ => AlertKind::OwnershipConflict,
            };
            loc.set_paused(Some(kind));
            tracing::warn!(location = %loc.id, reason = kind.as_str(), "location starts paused (run `vppbridge resume --location {}` or replace the token file)", loc.id);
        }
        loc.note_expiry(expires_at).await;
        Ok(loc)
    }

    /// The current Apple client (cheap clone; shares the rate limiter).
    pub fn client(&self) -> AppleClient {
        // A poisoned lock only means a panic elsewhere while swapping clients; the client
        // inside is still whole.
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Why the location is paused, if it is.
    pub fn paused(&self) -> Option<AlertKind> {
        *self.paused.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the pause; returns false when it already was exactly that.
    fn set_paused(&self, kind: Option<AlertKind>) -> bool {
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

    /// Apple's page size as far as traversals have shown it.
    pub fn page_size(&self) -> usize {
        self.page_size.load(Ordering::Relaxed)
    }

    /// Records what a traversal showed: `items` records over `pages` pages.
    pub fn note_pages(&self, items: usize, pages: u32) {
        let pages = pages.max(1) as usize;
        let seen = if pages == 1 {
            items
        } else {
            items.div_ceil(pages)
        };
        self.page_size.fetch_max(seen, Ordering::Relaxed);
    }

    /// Assets the last full listing returned.
    pub fn known_assets(&self) -> usize {
        self.known_assets.load(Ordering::Relaxed)
    }

    /// Records how many assets the location has.
    pub fn note_known_assets(&self, n: usize) {
        self.known_assets.store(n, Ordering::Relaxed);
    }

    async fn guard_state(&self) -> anyhow::Result<Option<GuardState>> {
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

    /// Reloads the token when its file changed (and resumes a paused location); resumes when
    /// `vpp-state` says an operator resumed it; refreshes Apple's limits every five minutes.
    /// Called periodically and on SIGHUP.
    pub async fn check(&self) {
        let now_mtime = mtime(&self.token_file);
        let changed = {
            let mut m = self.token_mtime.lock().unwrap_or_else(|e| e.into_inner());
            let changed = *m != now_mtime;
            *m = now_mtime;
            changed
        };
        if changed {
            match ContentToken::from_file(&self.token_file) {
                Ok(token) => {
                    let at = token.expires_at;
                    // The same limiter and counters: a replaced token never lets a burst through.
                    let c = self.client().with_token(token);
                    *self.client.write().unwrap_or_else(|e| e.into_inner()) = c;
                    tracing::info!(location = %self.id, "token file replaced: reloaded");
                    self.note_expiry(at).await;
                    self.resume("token file replaced").await;
                }
                Err(e) => {
                    tracing::error!(location = %self.id, error = %e, "token file changed but cannot be loaded; keeping the old one")
                }
            }
        }
        if self.paused().is_some()
            && let Ok(Some(g)) = self.guard_state().await
            && !g.paused
        {
            self.resume("resumed by an operator").await;
        }
        // Apple's limits and URLs are dynamic: re-read Service Config when the cached limits
        // are older than five minutes (the client keeps them; a no-op otherwise).
        if self.paused().is_none()
            && let Err(e) = self.client().refresh_limits().await
        {
            tracing::warn!(location = %self.id, error = %e, "cannot refresh Apple's limits; keeping the old ones");
        }
    }
}
