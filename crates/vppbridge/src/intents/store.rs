//! The intent buckets (`vpp-desired`, `vpp-intents`, `vpp-intent-requests`) and the read of the
//! view a pass needs, as a [`Snapshot`].
//!
//! Reads of a location's keys go through one ordered pull consumer on the last message per
//! subject (one pass, not one request per key; pulled, so a burst of tens of thousands of keys
//! is never dropped as a slow push subscriber's would be); many writes go out concurrently
//! (bounded).

use std::collections::BTreeMap;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::Pair;
use super::plan::{AssetFacts, DesiredEntry, RetryDelay, Snapshot};
use super::track::RequestRecord;
use crate::events::changes::AssetValue;
use crate::events::intents::{DesiredValue, IntentRecord};
use crate::nats::{DESIRED_BUCKET, INTENT_REQUESTS_BUCKET, INTENTS_BUCKET};
use crate::view::{Bucket, View};

/// Writes in flight at once.
const CONCURRENT_WRITES: usize = 128;
/// Messages per fetch of a listing.
const FETCH_BATCH: usize = 1000;
/// Longest listing of one location's keys in one bucket before it is given up as an error.
pub const SCAN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Handles on the intent buckets and the view.
#[derive(Debug, Clone)]
pub struct Store {
    desired: kv::Store,
    intents: kv::Store,
    requests: kv::Store,
    view: View,
    retry: RetryDelay,
}

fn nats_err(bucket: &str, what: &str, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("key-value bucket {bucket}: {what} failed: {e}")
}

impl Store {
    /// Opens the buckets (created by `vppbridge nats setup`).
    ///
    /// # Errors
    /// When one is missing.
    pub async fn open(js: &jetstream::Context) -> anyhow::Result<Self> {
        let open = |bucket: &'static str| async move {
            js.get_key_value(bucket).await.map_err(|e| {
                anyhow::anyhow!(
                    "key-value bucket {bucket} is missing or unreadable ({e}); run `vppbridge nats setup`"
                )
            })
        };
        Ok(Store {
            desired: open(DESIRED_BUCKET).await?,
            intents: open(INTENTS_BUCKET).await?,
            requests: open(INTENT_REQUESTS_BUCKET).await?,
            view: View::open(js).await?,
            retry: RetryDelay::default(),
        })
    }

    /// The same store, whose snapshots wait `retry` before a transiently failed pair is sent
    /// again (without it, they do not wait).
    pub fn with_retry(mut self, retry: RetryDelay) -> Self {
        self.retry = retry;
        self
    }

    /// Live keys of `store` under `<location>.>` with their value and revision (an error after
    /// [`SCAN_TIMEOUT`]). Also used by the users converger on its buckets.
    pub(crate) async fn scan(
        &self,
        store: &kv::Store,
        location: &str,
    ) -> anyhow::Result<BTreeMap<String, (Bytes, u64)>> {
        tokio::time::timeout(SCAN_TIMEOUT, self.scan_all(store, location))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "listing {location}.> in key-value bucket {} took longer than {SCAN_TIMEOUT:?}; is NATS overloaded?",
                    store.name
                )
            })?
    }

    async fn scan_all(
        &self,
        store: &kv::Store,
        location: &str,
    ) -> anyhow::Result<BTreeMap<String, (Bytes, u64)>> {
        let name = store.name.clone();
        let filter = format!("{}{location}.>", store.prefix);
        // An ephemeral pull consumer read with no-wait fetches: the read ends when a fetch
        // comes back empty. (The per-message `pending` count of a last-per-subject consumer
        // does not reliably reach 0 while keys are being overwritten in a history-1 bucket.)
        let consumer = store
            .stream
            .create_consumer(jetstream::consumer::pull::Config {
                filter_subject: filter,
                deliver_policy: jetstream::consumer::DeliverPolicy::LastPerSubject,
                replay_policy: jetstream::consumer::ReplayPolicy::Instant,
                ack_policy: jetstream::consumer::AckPolicy::None,
                inactive_threshold: std::time::Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .map_err(|e| nats_err(&name, "list", e))?;
        let mut out = BTreeMap::new();
        loop {
            let mut batch = consumer
                .fetch()
                .max_messages(FETCH_BATCH)
                .messages()
                .await
                .map_err(|e| nats_err(&name, "list", e))?;
            let mut got = 0;
            while let Some(m) = batch.next().await {
                let m = m.map_err(|e| nats_err(&name, "list", e))?;
                got += 1;
                let seq = m
                    .info()
                    .map_err(|e| nats_err(&name, "list", e))?
                    .stream_sequence;
                let is_put = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("KV-Operation"))
                    .is_none();
                if let Some(key) = m.subject.as_str().strip_prefix(store.prefix.as_str()) {
                    if is_put {
                        out.insert(key.to_owned(), (m.payload.clone(), seq));
                    } else {
                        out.remove(key);
                    }
                }
            }
            if got == 0 {
                break;
            }
        }
        let _ = store
            .stream
            .delete_consumer(consumer.cached_info().name.as_str())
            .await;
        Ok(out)
    }

    /// The managed keys of a location (keys that are not valid pairs or values that are not
    /// valid JSON are skipped with a warning: the MDM wrote them wrong).
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn desired(&self, location: &str) -> anyhow::Result<BTreeMap<String, DesiredEntry>> {
        let mut out = BTreeMap::new();
        for (key, (value, revision)) in self.scan(&self.desired, location).await? {
            let pair = Pair::from_key(location, &key);
            let value = serde_json::from_slice::<DesiredValue>(&value);
            match (pair, value) {
                (Some(pair), Ok(value)) => {
                    out.insert(
                        key,
                        DesiredEntry {
                            pair,
                            value,
                            revision,
                        },
                    );
                }
                (None, _) => {
                    tracing::warn!(
                        location,
                        key,
                        "vpp-desired key is not <location>.<adamId>.<pricingParam>.<d|u>.<base64url id>: ignored"
                    )
                }
                (_, Err(e)) => {
                    tracing::warn!(location, key, error = %e, "vpp-desired value is not {{\"desired\": \"assigned\"|\"unassigned\"}}: ignored")
                }
            }
        }
        Ok(out)
    }

    /// The tracking records of a location.
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn records(&self, location: &str) -> anyhow::Result<BTreeMap<String, IntentRecord>> {
        Ok(self
            .scan(&self.intents, location)
            .await?
            .into_iter()
            .filter_map(|(k, (v, _))| serde_json::from_slice(&v).ok().map(|r| (k, r)))
            .collect())
    }

    /// The open requests of a location.
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn requests(&self, location: &str) -> anyhow::Result<Vec<RequestRecord>> {
        Ok(self
            .scan(&self.requests, location)
            .await?
            .into_values()
            .filter_map(|(v, _)| serde_json::from_slice(&v).ok())
            .collect())
    }

    /// Everything a pass decides on, with the keys of `requests` in flight.
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn snapshot(
        &self,
        location: &str,
        requests: &[RequestRecord],
    ) -> anyhow::Result<Snapshot> {
        let actual = self
            .view
            .live(Bucket::Assignments, location)
            .await?
            .into_keys()
            .collect();
        let assets = self
            .view
            .slice(Bucket::Assets, location)
            .await?
            .into_values()
            .filter_map(|c| {
                let a = serde_json::from_slice::<AssetValue>(c.value.as_deref()?).ok()?;
                Some((a, c.revision.unwrap_or(0)))
            })
            .map(|(a, revision)| {
                let facts = AssetFacts {
                    device_assignable: a.device_assignable && a.product_type != "Book",
                    available_count: a.available_count,
                    revision,
                };
                ((a.adam_id, a.pricing_param), facts)
            })
            .collect();
        let in_flight = requests
            .iter()
            .flat_map(|r| r.keys(location))
            .map(|(k, _)| k)
            .collect();
        Ok(Snapshot {
            desired: self.desired(location).await?,
            records: self.records(location).await?,
            actual,
            assets,
            in_flight,
            now: chrono::Utc::now(),
            retry: self.retry,
        })
    }

    /// Writes tracking records (one writer per location: the converger).
    ///
    /// # Errors
    /// The first write NATS refused.
    pub async fn put_records(&self, records: Vec<(String, IntentRecord)>) -> anyhow::Result<()> {
        futures::stream::iter(records.into_iter().map(|(key, r)| {
            let store = self.intents.clone();
            async move {
                let bytes = serde_json::to_vec(&r).unwrap_or_default();
                store
                    .put(&key, bytes.into())
                    .await
                    .map_err(|e| nats_err(INTENTS_BUCKET, &format!("write of {key}"), e))
            }
        }))
        .buffer_unordered(CONCURRENT_WRITES)
        .try_collect::<Vec<_>>()
        .await?;
        Ok(())
    }

    /// Writes (creates or replaces) a request record.
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn put_request(&self, location: &str, r: &RequestRecord) -> anyhow::Result<()> {
        let key = format!("{location}.{}", r.id);
        let bytes = serde_json::to_vec(r).unwrap_or_default();
        self.requests
            .put(&key, bytes.into())
            .await
            .map_err(|e| nats_err(INTENT_REQUESTS_BUCKET, &format!("write of {key}"), e))?;
        Ok(())
    }

    /// Removes a resolved request record.
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn delete_request(&self, location: &str, id: &str) -> anyhow::Result<()> {
        let key = format!("{location}.{id}");
        self.requests
            .delete(&key)
            .await
            .map_err(|e| nats_err(INTENT_REQUESTS_BUCKET, &format!("delete of {key}"), e))
    }

    /// Writes desired values for `pairs` of `location`, skipping keys that already hold the
    /// same value (so applying the same file again changes nothing). Returns the keys written.
    ///
    /// # Errors
    /// When a pair cannot be a key, or a write fails.
    pub async fn write_desired(
        &self,
        location: &str,
        entries: &[(Pair, DesiredValue)],
    ) -> anyhow::Result<Vec<String>> {
        let existing = self.desired(location).await?;
        let mut todo = Vec::new();
        for (pair, value) in entries {
            let key = pair.key(location)?;
            if existing.get(&key).is_some_and(|e| e.value == *value) {
                continue;
            }
            todo.push((key, value.clone()));
        }
        // Owned keys and values in the futures: the write can run in a spawned task.
        let keys: Vec<String> = todo.iter().map(|(k, _)| k.clone()).collect();
        futures::stream::iter(todo.into_iter().map(|(key, value)| {
            let store = self.desired.clone();
            async move {
                let bytes = serde_json::to_vec(&value).unwrap_or_default();
                store
                    .put(&key, bytes.into())
                    .await
                    .map_err(|e| nats_err(DESIRED_BUCKET, &format!("write of {key}"), e))
            }
        }))
        .buffer_unordered(CONCURRENT_WRITES)
        .try_collect::<Vec<_>>()
        .await?;
        Ok(keys)
    }

    /// A watch on a location's desired keys (changes only), to wake the converger.
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn watch_desired(&self, location: &str) -> anyhow::Result<kv::Watch> {
        self.desired
            .watch(format!("{location}.>"))
            .await
            .map_err(|e| nats_err(DESIRED_BUCKET, "watch", e))
    }
}
