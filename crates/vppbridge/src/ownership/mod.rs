//! Location ownership across worker processes: at any moment one worker owns a location and is
//! the only one that calls Apple for it (its verifier, sync schedule and converger run there).
//!
//! - [`lease`]: the `vpp-leases` bucket (a lease per location, a presence key per live worker).
//! - [`share`]: the fair-share decision, pure.
//! - this file: [`Ownership`], the heartbeat that announces this worker, renews its leases,
//!   releases its surplus and acquires free locations up to its share.
//!
//! A lease is acquired with a key-value `create` (atomic: fails while someone holds it),
//! renewed with `update` on its last revision every `cluster.heartbeat_secs`, and lost at once
//! when a renewal fails. The bucket's max age is the lease TTL, so a dead worker's leases and
//! presence key disappear by themselves. On shutdown every lease is deleted at once, so another
//! worker takes over on its next heartbeat.
//!
//! Must not know what a worker does with a location: it calls the `start` callback on acquire
//! with a token it cancels on release or loss.

pub mod lease;
pub mod share;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::config::ClusterConfig;
use crate::metrics::{Metrics, OwnershipChange};
use lease::{LeaseValue, Leases, WORKERS_PREFIX};

/// How this worker's ownership of a location changed (`vppbridge_ownership_changes_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It acquired the lease.
    Acquired,
    /// It gave the lease up (surplus, shutdown).
    Released,
    /// A renewal failed.
    Lost,
}

impl Change {
    /// Every change.
    pub const ALL: [Change; 3] = [Change::Acquired, Change::Released, Change::Lost];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Acquired => "acquired",
            Change::Released => "released",
            Change::Lost => "lost",
        }
    }
}

/// A lease this worker holds.
struct Held {
    value: LeaseValue,
    revision: u64,
    token: CancellationToken,
}

#[derive(Default)]
struct State {
    held: HashMap<String, Held>,
    /// The owners seen on the last heartbeat (this worker's leases included).
    owners: HashMap<String, String>,
    presence: Option<(LeaseValue, u64)>,
}

/// This worker's view of location ownership.
pub struct Ownership {
    id: String,
    leases: Leases,
    locations: Vec<String>,
    heartbeat: Duration,
    metrics: Metrics,
    state: Mutex<State>,
}

impl std::fmt::Debug for Ownership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ownership").field("id", &self.id).finish()
    }
}

impl Ownership {
    /// Opens the lease bucket for a worker serving `locations`.
    ///
    /// # Errors
    /// When the bucket `vpp-leases` is missing (run `vppbridge nats setup`).
    pub async fn open(
        js: &jetstream::Context,
        config: &ClusterConfig,
        locations: Vec<String>,
        metrics: Metrics,
    ) -> anyhow::Result<Arc<Self>> {
        let heartbeat = Duration::from_secs(config.heartbeat_secs.max(1));
        // Each call may take a third of the TTL: a heartbeat's renewals still land in time, and
        // a loaded server is not mistaken for a lost lease.
        let deadline = Duration::from_secs(config.lease_ttl_secs / 3).max(heartbeat);
        let leases = Leases::open(js, deadline).await?;
        Ok(Arc::new(Ownership {
            id: lease::worker_id(),
            leases,
            locations,
            heartbeat,
            metrics,
            state: Mutex::new(State::default()),
        }))
    }

    /// This worker's id (host, process id, random suffix).
    pub fn worker_id(&self) -> &str {
        &self.id
    }

    /// The heartbeat interval.
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep using it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this worker owns `location` now.
    pub fn is_owner(&self, location: &str) -> bool {
        self.state()
            .held
            .get(location)
            .is_some_and(|h| !h.token.is_cancelled())
    }

    /// The owner of `location` as of the last heartbeat.
    pub fn owner_of(&self, location: &str) -> Option<String> {
        self.state().owners.get(location).cloned()
    }

    /// Heartbeats until `shutdown`, calling `start(location, token)` on every acquisition; the
    /// token is cancelled when the location is released or lost. On shutdown, every token is
    /// cancelled and every lease deleted.
    pub async fn run(
        self: Arc<Self>,
        start: impl Fn(&str, CancellationToken) + Send + Sync,
        shutdown: CancellationToken,
    ) {
        tracing::info!(worker_id = %self.id, "worker id; acquiring location leases");
        loop {
            self.tick(&start, &shutdown).await;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.heartbeat) => {}
            }
        }
        self.release_all().await;
    }

    async fn tick(&self, start: &impl Fn(&str, CancellationToken), shutdown: &CancellationToken) {
        self.announce().await;
        self.renew().await;
        let snap = match self.leases.snapshot().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(worker_id = %self.id, error = %format!("{e:#}"), "cannot read vpp-leases; keeping the leases held");
                return;
            }
        };
        let owned: BTreeSet<String> = self.state().held.keys().cloned().collect();
        let taken: BTreeSet<String> = snap
            .leases
            .iter()
            .filter(|(_, v)| v.owner != self.id)
            .map(|(k, _)| k.clone())
            .collect();
        let live = snap.workers.len().max(1);
        let plan = share::plan(&self.id, &self.locations, &owned, &taken, live);
        self.state().owners = snap
            .leases
            .iter()
            .map(|(k, v)| (k.clone(), v.owner.clone()))
            .collect();
        for location in &plan.release {
            self.release(location, Change::Released).await;
        }
        let mut acquired = 0;
        for location in plan.candidates {
            if acquired >= plan.wanted || shutdown.is_cancelled() {
                break;
            }
            // A lease still under this worker's id (a renewal that failed, e.g. on a timeout,
            // after the write went through) is taken back at its revision, not waited out.
            let stale = snap
                .leases
                .get(&location)
                .filter(|v| v.owner == self.id)
                .cloned()
                .zip(snap.revisions.get(&location).copied());
            let (value, attempt) = match stale {
                Some((value, rev)) => {
                    let r = self.leases.renew(&location, &value, rev).await.ok();
                    (value, Ok(r))
                }
                None => {
                    let value = LeaseValue {
                        owner: self.id.clone(),
                        since: Utc::now(),
                    };
                    let r = self.leases.create(&location, &value).await;
                    (value, r)
                }
            };
            match attempt {
                Ok(Some(revision)) => {
                    acquired += 1;
                    let token = shutdown.child_token();
                    {
                        let mut st = self.state();
                        st.owners.insert(location.clone(), self.id.clone());
                        st.held.insert(
                            location.clone(),
                            Held {
                                value,
                                revision,
                                token: token.clone(),
                            },
                        );
                    }
                    self.count(Change::Acquired);
                    tracing::info!(location = %location, worker_id = %self.id, "location acquired");
                    start(&location, token);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(location = %location, error = %format!("{e:#}"), "cannot acquire the location's lease")
                }
            }
        }
    }

    /// Writes (or renews) this worker's presence key.
    async fn announce(&self) {
        let key = format!("{WORKERS_PREFIX}{}", self.id);
        let current = self.state().presence.clone();
        let written = match &current {
            Some((value, rev)) => match self.leases.renew(&key, value, *rev).await {
                Ok(r) => Ok(Some((value.clone(), r))),
                // Expired (a long pause): announce again.
                Err(_) => self.fresh_presence(&key).await,
            },
            None => self.fresh_presence(&key).await,
        };
        match written {
            Ok(p) => self.state().presence = p,
            Err(e) => {
                tracing::warn!(worker_id = %self.id, error = %format!("{e:#}"), "cannot announce this worker in vpp-leases");
                self.state().presence = None;
            }
        }
    }

    async fn fresh_presence(&self, key: &str) -> anyhow::Result<Option<(LeaseValue, u64)>> {
        let value = LeaseValue {
            owner: self.id.clone(),
            since: Utc::now(),
        };
        Ok(self.leases.create(key, &value).await?.map(|r| (value, r)))
    }

    /// Renews every held lease; a failed renewal loses the location at once.
    async fn renew(&self) {
        let held: Vec<(String, LeaseValue, u64)> = self
            .state()
            .held
            .iter()
            .map(|(k, h)| (k.clone(), h.value.clone(), h.revision))
            .collect();
        for (location, value, revision) in held {
            match self.leases.renew(&location, &value, revision).await {
                Ok(r) => {
                    if let Some(h) = self.state().held.get_mut(&location) {
                        h.revision = r;
                    }
                }
                Err(e) => {
                    tracing::warn!(location = %location, worker_id = %self.id, error = %format!("{e:#}"), "location lost: its lease could not be renewed");
                    self.drop_held(&location, Change::Lost);
                }
            }
        }
    }

    /// Stops the location's work, then deletes its lease.
    async fn release(&self, location: &str, change: Change) {
        let Some(revision) = self.drop_held(location, change) else {
            return;
        };
        tracing::info!(location = %location, worker_id = %self.id, "location released");
        if let Err(e) = self.leases.release(location, revision).await {
            tracing::warn!(location = %location, error = %format!("{e:#}"), "cannot delete the lease; it expires with the lease TTL");
        }
    }

    /// Forgets a held lease and cancels its token: its revision, if it was held.
    fn drop_held(&self, location: &str, change: Change) -> Option<u64> {
        let held = {
            let mut st = self.state();
            st.owners.remove(location);
            st.held.remove(location)
        }?;
        held.token.cancel();
        self.count(change);
        Some(held.revision)
    }

    async fn release_all(&self) {
        let all: Vec<String> = self.state().held.keys().cloned().collect();
        for location in all {
            self.release(&location, Change::Released).await;
        }
        let presence = self.state().presence.take();
        if let Some((_, rev)) = presence {
            let key = format!("{WORKERS_PREFIX}{}", self.id);
            if let Err(e) = self.leases.release(&key, rev).await {
                tracing::debug!(error = %format!("{e:#}"), "cannot delete the presence key");
            }
        }
    }

    fn count(&self, change: Change) {
        self.metrics
            .ownership_changes
            .get_or_create(&OwnershipChange {
                change: change.as_str().to_owned(),
            })
            .inc();
        let owned = self.state().held.len();
        self.metrics
            .owned_locations
            .set(i64::try_from(owned).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::Change;

    #[test]
    fn the_zero_series_name_every_ownership_change() {
        let labels: Vec<&str> = Change::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(labels, crate::metrics::zero::OWNERSHIP_CHANGES);
    }
}
