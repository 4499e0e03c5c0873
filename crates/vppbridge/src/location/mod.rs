//! [`Location`]: everything the worker and the sync hold for one location: its Apple client
//! (rebuilt when the token file is replaced), its guard (paused or not, and why), what it has
//! learnt about page sizes, and the applier that writes its view.
//!
//! The guard is the only way a location stops calling Apple: every Apple call site asks
//! [`Location::paused`] first, and every Apple error goes through [`Location::classify`], which
//! pauses the location on every authentication failure (9601/9622/9722, 9621, 9625) and on
//! ownership conflicts, and publishes the alert. A token whose `expDate` is past pauses the
//! location before any call (at start and at each check), and a replacement file whose date is
//! past is refused (the old token kept).
//!
//! - this file: the state, opening a location, page sizes, the periodic token-file check.
//! - `guard.rs`: pause and resume, alerts, token expiry and owner from Apple's answers.
//!
//! Used by the worker and the sync; depends on neither.

mod guard;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use crate::changes::Applier;
use crate::config::{AppleConfig, LocationConfig};
use crate::events::alerts::AlertKind;
use crate::metrics::Metrics;
use apple_vpp::AppleClient;
use apple_vpp::token::{ContentToken, EXPIRY_WARNING_DAYS};

/// Apple's page size until a traversal shows a bigger one (Apple's are "several hundred").
pub const DEFAULT_PAGE_SIZE: usize = 500;
/// How close to expiry a token raises `token_expiring`.
pub const EXPIRY_WARNING: chrono::TimeDelta = chrono::TimeDelta::days(EXPIRY_WARNING_DAYS);

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
    /// Apple refused a write for lack of rights: its error number and message.
    writes_refused: RwLock<Option<(i32, String)>>,
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
            writes_refused: RwLock::new(None),
            owner_ok: AtomicU8::new(0),
            applier,
            metrics,
            users_active_only,
        });
        if let Some(g) = loc.guard_state().await?
            && g.paused
        {
            let kind = g
                .reason
                .as_deref()
                .and_then(AlertKind::from_name)
                .filter(|k| k.pauses())
                .unwrap_or(AlertKind::OwnershipConflict);
            loc.set_paused(Some(kind));
            tracing::warn!(location = %loc.id, reason = kind.as_str(), "location starts paused (run `vppbridge resume --location {}` or replace the token file)", loc.id);
        }
        loc.note_expiry(expires_at).await;
        // A token past its date is not worth a call: Apple would answer 9621.
        loc.pause_if_expired().await;
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

    /// Records that Apple refused a write for lack of rights (9637, 9647, HTTP 403): writes
    /// are skipped from then on, until the token file is replaced.
    pub fn refuse_writes(&self, error_number: i32, message: String) {
        *self
            .writes_refused
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some((error_number, message));
    }

    /// Apple's refusal of a write for lack of rights (error number, message), while the token
    /// file has not been replaced since.
    pub fn writes_refused(&self) -> Option<(i32, String)> {
        self.writes_refused
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
                Ok(token) if token.expires_at <= Utc::now() => {
                    tracing::error!(
                        location = %self.id,
                        expired_at = %token.expires_at,
                        "the new token file {} expired at {} (its expDate); keeping the old token. Download a current .vpptoken in Apple School Manager or Apple Business (Settings → Apps and Books) and replace the file",
                        self.token_file.display(),
                        token.expires_at
                    );
                }
                Ok(token) => {
                    let at = token.expires_at;
                    // The same limiter and counters: a replaced token never lets a burst through.
                    let c = self.client().with_token(token);
                    *self.client.write().unwrap_or_else(|e| e.into_inner()) = c;
                    tracing::info!(location = %self.id, "token file replaced: reloaded");
                    // The new token may have the rights the old one lacked.
                    *self
                        .writes_refused
                        .write()
                        .unwrap_or_else(|e| e.into_inner()) = None;
                    self.permission_warned.store(false, Ordering::Relaxed);
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
        self.pause_if_expired().await;
        // Apple's limits and URLs are dynamic: re-read Service Config when the cached limits
        // are older than five minutes (the client keeps them; a no-op otherwise).
        if self.paused().is_none()
            && let Err(e) = self.client().refresh_limits().await
        {
            tracing::warn!(location = %self.id, error = %e, "cannot refresh Apple's limits; keeping the old ones");
        }
    }
}
