//! Small per-location facts in the `vpp-state` bucket: the location's Apple `uId` (key
//! `<location>.uid`, plain text; written by `register` and by the worker when it learns it,
//! read by the receiver through [`KvUidCache`]) and the MDM instance id (key `mdm.id`, used when
//! `[mdm] id` is not configured).

use std::collections::HashMap;
use std::sync::Arc;
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
///
/// Never a global lock on the request path: the map sits behind a `std` mutex held only to copy
/// an entry, never across an await. Reads are single-flight per location: while one request
/// reads, the others use the value known (if there is one) or wait for that one read, which is
/// bounded by the read timeout and skipped at once while NATS is disconnected. A failed read is
/// not retried for [`RETRY_AFTER_FAILURE`], so with NATS down every request gets its answer
/// without waiting here.
#[derive(Debug)]
pub struct KvUidCache {
    js: jetstream::Context,
    ttl: Duration,
    read_timeout: Duration,
    entries: std::sync::Mutex<HashMap<String, Entry>>,
    flights: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// How long after a failed read the cache answers from what it knew without reading again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Default)]
struct Entry {
    value: Option<String>,
    /// When the last read succeeded.
    read_at: Option<Instant>,
    /// When the last read failed.
    failed_at: Option<Instant>,
}

impl Entry {
    /// Whether the value may be used without reading.
    fn settled(&self, ttl: Duration) -> bool {
        self.read_at.is_some_and(|t| t.elapsed() < ttl)
            || self
                .failed_at
                .is_some_and(|t| t.elapsed() < RETRY_AFTER_FAILURE)
    }
}

impl KvUidCache {
    /// A cache over `js`'s `vpp-state` bucket.
    pub fn new(js: jetstream::Context, ttl: Duration) -> Self {
        KvUidCache {
            js,
            ttl,
            read_timeout: READ_TIMEOUT,
            entries: std::sync::Mutex::new(HashMap::new()),
            flights: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The same with reads bounded by `read_timeout` (at most [`READ_TIMEOUT`]).
    pub fn with_read_timeout(mut self, read_timeout: Duration) -> Self {
        self.read_timeout = read_timeout.min(READ_TIMEOUT);
        self
    }

    fn entry(&self, location: &str) -> Option<Entry> {
        // Held only to clone one entry; a poisoned map is still a valid map.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(location)
            .cloned()
    }

    fn update(&self, location: &str, change: impl FnOnce(&mut Entry)) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(entries.entry(location.to_owned()).or_default());
    }

    fn flight(&self, location: &str) -> Arc<Mutex<()>> {
        self.flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(location.to_owned())
            .or_default()
            .clone()
    }

    async fn lookup(&self, location: &str) -> Option<String> {
        let known = self.entry(location);
        if let Some(e) = &known
            && e.settled(self.ttl)
        {
            return e.value.clone();
        }
        let flight = self.flight(location);
        let _reading = match flight.try_lock() {
            Ok(guard) => guard,
            // Another request is reading: use what is known, or wait for that read.
            Err(_) if known.as_ref().is_some_and(|e| e.read_at.is_some()) => {
                return known.and_then(|e| e.value);
            }
            Err(_) => {
                let guard = flight.lock().await;
                if let Some(e) = self.entry(location)
                    && e.settled(self.ttl)
                {
                    return e.value;
                }
                guard
            }
        };
        match self.read(location).await {
            Ok(value) => {
                self.update(location, |e| {
                    e.value = value.clone();
                    e.read_at = Some(Instant::now());
                    e.failed_at = None;
                });
                value
            }
            Err(reason) => {
                tracing::warn!(location, error = %reason, "cannot read the location's uId; using the last one known");
                self.update(location, |e| e.failed_at = Some(Instant::now()));
                known.and_then(|e| e.value)
            }
        }
    }

    async fn read(&self, location: &str) -> Result<Option<String>, String> {
        let state = self.js.client().connection_state();
        if state != async_nats::connection::State::Connected {
            return Err(format!("NATS is not connected ({state})"));
        }
        match tokio::time::timeout(self.read_timeout, read_uid(&self.js, location)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.read_timeout)),
        }
    }
}

impl KnownUids for KvUidCache {
    fn known_uid<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Option<String>> {
        self.lookup(location).boxed()
    }
}
