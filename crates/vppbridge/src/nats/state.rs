//! Small per-location facts in the `vpp-state` bucket: the location's Apple `uId` (key
//! `<location>.uid`, plain text; written by `register` and by the worker when it learns it,
//! read by the receiver through [`KvUidCache`]) and the MDM instance id (key `mdm.id`, used when
//! `[mdm] id` is not configured).

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::STATE_BUCKET;

/// How long the receiver waits for a `uId` read before using what it knew.
const READ_TIMEOUT: Duration = Duration::from_secs(1);

/// Key of the MDM instance id in `vpp-state`.
pub const MDM_ID_KEY: &str = "mdm.id";

/// A `vpp-state` read or write failed.
#[derive(Debug, thiserror::Error)]
#[error(
    "key-value bucket {STATE_BUCKET}, key {key}: {detail}; run `vppbridge nats setup` if the bucket is missing"
)]
pub struct StateError {
    /// The key.
    pub key: String,
    /// What happened.
    pub detail: String,
}

/// `<location>.uid`.
pub fn uid_key(location: &str) -> String {
    format!("{location}.uid")
}

async fn bucket(js: &jetstream::Context, key: &str) -> Result<jetstream::kv::Store, StateError> {
    js.get_key_value(STATE_BUCKET)
        .await
        .map_err(|e| StateError {
            key: key.to_owned(),
            detail: e.to_string(),
        })
}

/// Records the location's `uId`.
///
/// # Errors
/// When the bucket is missing or NATS fails.
pub async fn write_uid(
    js: &jetstream::Context,
    location: &str,
    uid: &str,
) -> Result<(), StateError> {
    let key = uid_key(location);
    let kv = bucket(js, &key).await?;
    kv.put(&key, Bytes::from(uid.to_owned()))
        .await
        .map_err(|e| StateError {
            key,
            detail: e.to_string(),
        })?;
    Ok(())
}

/// The location's recorded `uId`, if any.
///
/// # Errors
/// When the bucket is missing or NATS fails.
pub async fn read_uid(
    js: &jetstream::Context,
    location: &str,
) -> Result<Option<String>, StateError> {
    let key = uid_key(location);
    let kv = bucket(js, &key).await?;
    let value = kv.get(&key).await.map_err(|e| StateError {
        key,
        detail: e.to_string(),
    })?;
    Ok(value
        .map(|v| String::from_utf8_lossy(&v).trim().to_owned())
        .filter(|s| !s.is_empty()))
}

/// The MDM instance id: `[mdm] id` when configured, else the one kept in `vpp-state` under
/// [`MDM_ID_KEY`], generated (UUID v4) and stored the first time.
///
/// # Errors
/// When the bucket is missing or NATS fails.
pub async fn mdm_id(js: &jetstream::Context, configured: &str) -> Result<String, StateError> {
    if !configured.trim().is_empty() {
        return Ok(configured.trim().to_owned());
    }
    let kv = bucket(js, MDM_ID_KEY).await?;
    let err = |e: &dyn std::fmt::Display| StateError {
        key: MDM_ID_KEY.to_owned(),
        detail: e.to_string(),
    };
    if let Some(v) = kv.get(MDM_ID_KEY).await.map_err(|e| err(&e))? {
        return Ok(String::from_utf8_lossy(&v).trim().to_owned());
    }
    let id = uuid::Uuid::new_v4().to_string();
    // `create` fails if another process stored one first; then that one wins.
    match kv.create(MDM_ID_KEY, Bytes::from(id.clone())).await {
        Ok(_) => Ok(id),
        Err(_) => kv
            .get(MDM_ID_KEY)
            .await
            .map_err(|e| err(&e))?
            .map(|v| String::from_utf8_lossy(&v).trim().to_owned())
            .ok_or_else(|| err(&"could not store a new MDM id")),
    }
}

/// What the receiver knows about each location's `uId`: `None` while none is recorded.
pub trait KnownUids: Send + Sync + 'static {
    /// The recorded `uId` of `location`, if any.
    fn known_uid<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Option<String>>;
}

/// Reads `<location>.uid` through a cache whose entries live `ttl`, so a `uId` recorded by
/// `register` or the worker is seen within `ttl`. When NATS cannot be read, the last value
/// read is kept (and `None` if there never was one: the receiver then accepts, and the publish
/// itself will report NATS unavailable).
#[derive(Debug)]
pub struct KvUidCache {
    js: jetstream::Context,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Option<String>)>>,
}

impl KvUidCache {
    /// A cache over `js`'s `vpp-state` bucket.
    pub fn new(js: jetstream::Context, ttl: Duration) -> Self {
        KvUidCache {
            js,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn lookup(&self, location: &str) -> Option<String> {
        // Held across the read so that a burst of requests after expiry makes one read.
        let mut cache = self.cache.lock().await;
        if let Some((at, value)) = cache.get(location)
            && at.elapsed() < self.ttl
        {
            return value.clone();
        }
        let read = tokio::time::timeout(READ_TIMEOUT, read_uid(&self.js, location)).await;
        match read {
            Ok(Ok(value)) => {
                cache.insert(location.to_owned(), (Instant::now(), value.clone()));
                value
            }
            Ok(Err(e)) => {
                tracing::warn!(location, error = %e, "cannot read the location's uId; using the last one known");
                cache.get(location).and_then(|(_, v)| v.clone())
            }
            Err(_) => {
                tracing::warn!(
                    location,
                    "reading the location's uId timed out; using the last one known"
                );
                cache.get(location).and_then(|(_, v)| v.clone())
            }
        }
    }
}

impl KnownUids for KvUidCache {
    fn known_uid<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Option<String>> {
        self.lookup(location).boxed()
    }
}
