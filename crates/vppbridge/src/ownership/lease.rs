//! The `vpp-leases` bucket: a lease `<location>` → [`LeaseValue`], and a presence key
//! `_workers.<id>` per live worker. Every call has a deadline; a key nobody renews disappears
//! with the bucket's max age (the lease TTL), so no clock is compared between hosts.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, kv};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::nats::LEASES_BUCKET;

/// The prefix of the live workers' presence keys.
pub const WORKERS_PREFIX: &str = "_workers.";

/// The value of a lease (and of a presence key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseValue {
    /// The worker id holding it.
    pub owner: String,
    /// When this worker acquired it.
    pub since: DateTime<Utc>,
}

/// What the bucket holds now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Live worker ids.
    pub workers: Vec<String>,
    /// Leases by location.
    pub leases: BTreeMap<String, LeaseValue>,
    /// Their revisions.
    pub revisions: BTreeMap<String, u64>,
}

/// The lease bucket, with a deadline on every call.
#[derive(Clone)]
pub struct Leases {
    store: kv::Store,
    deadline: Duration,
}

/// Runs `f` within `deadline`, naming `what` when it does not finish.
async fn within<T, E: std::fmt::Display>(
    deadline: Duration,
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(deadline, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(anyhow::anyhow!("{what}: {e}")),
        Err(_) => Err(anyhow::anyhow!(
            "{what}: no answer from NATS within {deadline:?}"
        )),
    }
}

impl Leases {
    /// Opens the bucket.
    ///
    /// # Errors
    /// When it is missing (run `vppbridge nats setup`) or NATS does not answer.
    pub async fn open(js: &jetstream::Context, deadline: Duration) -> anyhow::Result<Self> {
        let store = within(
            deadline,
            "opening the key-value bucket vpp-leases",
            js.get_key_value(LEASES_BUCKET),
        )
        .await
        .with_context(|| {
            format!("the key-value bucket {LEASES_BUCKET} is missing or unreadable; run `vppbridge nats setup`")
        })?;
        Ok(Leases { store, deadline })
    }

    /// Creates `key` if nobody holds it: `Ok(Some(revision))`, `Ok(None)` when it is held.
    ///
    /// # Errors
    /// When NATS fails or does not answer in time.
    pub async fn create(&self, key: &str, value: &LeaseValue) -> anyhow::Result<Option<u64>> {
        let body = serde_json::to_vec(value)?.into();
        match tokio::time::timeout(self.deadline, self.store.create(key, body)).await {
            Ok(Ok(rev)) => Ok(Some(rev)),
            Ok(Err(e)) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
            Ok(Err(e)) => Err(anyhow::anyhow!("creating the lease {key}: {e}")),
            Err(_) => Err(anyhow::anyhow!(
                "creating the lease {key}: no answer from NATS within {:?}",
                self.deadline
            )),
        }
    }

    /// Renews `key` held at `revision`: its new revision.
    ///
    /// # Errors
    /// When someone else wrote it, it expired, or NATS fails: the lease is lost.
    pub async fn renew(&self, key: &str, value: &LeaseValue, revision: u64) -> anyhow::Result<u64> {
        let body = serde_json::to_vec(value)?.into();
        within(
            self.deadline,
            &format!("renewing the lease {key}"),
            self.store.update(key, body, revision),
        )
        .await
    }

    /// Deletes `key` if it is still at `revision`.
    ///
    /// # Errors
    /// When it changed meanwhile or NATS fails.
    pub async fn release(&self, key: &str, revision: u64) -> anyhow::Result<()> {
        within(
            self.deadline,
            &format!("releasing the lease {key}"),
            self.store.delete_expect_revision(key, Some(revision)),
        )
        .await
    }

    /// Every live worker and lease.
    ///
    /// # Errors
    /// When the listing fails or does not finish in time.
    pub async fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let read = async {
            let mut keys = self.store.keys().await?;
            let mut names = Vec::new();
            while let Some(k) = keys.next().await {
                names.push(k?);
            }
            let mut snap = Snapshot::default();
            for key in names {
                if let Some(id) = key.strip_prefix(WORKERS_PREFIX) {
                    snap.workers.push(id.to_owned());
                    continue;
                }
                // Gone between the listing and the read: not held.
                let Some(entry) = self.store.entry(key.as_str()).await? else {
                    continue;
                };
                if entry.operation != kv::Operation::Put {
                    continue;
                }
                if let Ok(v) = serde_json::from_slice::<LeaseValue>(&entry.value) {
                    snap.revisions.insert(key.clone(), entry.revision);
                    snap.leases.insert(key, v);
                }
            }
            Ok::<_, async_nats::Error>(snap)
        };
        within(self.deadline, "listing the bucket vpp-leases", read).await
    }
}

/// The leases in `js`'s `vpp-leases` bucket, for `vppbridge status` (empty when the bucket is
/// missing: nothing owns anything).
///
/// # Errors
/// When NATS fails while listing.
pub async fn read_leases(
    js: &jetstream::Context,
    deadline: Duration,
) -> anyhow::Result<BTreeMap<String, LeaseValue>> {
    match Leases::open(js, deadline).await {
        Ok(l) => Ok(l.snapshot().await?.leases),
        Err(_) => Ok(BTreeMap::new()),
    }
}

/// This process's worker id: host name, process id and a random suffix, as key-safe characters
/// (`[A-Za-z0-9_-]`), so that two processes never share one even across restarts.
pub fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".to_owned());
    let host: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let host = if host.is_empty() { "host".into() } else { host };
    format!(
        "{host}-{}-{:06x}",
        std::process::id(),
        rand::random::<u32>() & 0xff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_id_is_key_safe_and_differs_between_calls() {
        let (a, b) = (worker_id(), worker_id());
        assert_ne!(a, b, "the random part separates two ids of one process");
        for id in [&a, &b] {
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{id}"
            );
            assert!(id.contains(&std::process::id().to_string()), "{id}");
        }
    }
}
