//! The view: assets, assignments, users and per-location state in JetStream key-value buckets.
//!
//! - [`keys`]: key layout and id encoding.
//! - [`state`]: the per-location records in `vpp-state` (sync versions and times, guard).
//! - [`View`]: reads (one key, or every key under a prefix) and compare-and-set writes. Every write
//!   names the revision it replaces, so competing workers never overwrite each other blindly: a
//!   conflict is returned, and the caller re-reads and decides again.
//! - [`meta`]: what a write records beside the value (cause, replaced revision and value,
//!   applied count deltas), in the headers of the key's message.
//! - [`cli`]: `vppbridge resume` and `assignments`.
//!
//! Values are JSON. Every NATS call has a deadline ([`View::with_deadline`]; a slice's is the
//! longest wait for its next key), so a stalled server fails the work instead of holding it.
//! Must not call Apple nor publish events (that is `changes`).

pub mod cli;
pub mod keys;
pub mod meta;
pub mod state;

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures::StreamExt;

pub use meta::WriteMeta;

/// How long one NATS call of the view may take by default.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

pub use crate::nats::{ASSETS_BUCKET, ASSIGNMENTS_BUCKET, STATE_BUCKET, USERS_BUCKET};

/// One of the view's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// `vpp-assets`.
    Assets,
    /// `vpp-assignments`.
    Assignments,
    /// `vpp-users`.
    Users,
    /// `vpp-state`.
    State,
}

impl Bucket {
    /// The bucket's name.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::Assets => ASSETS_BUCKET,
            Bucket::Assignments => ASSIGNMENTS_BUCKET,
            Bucket::Users => USERS_BUCKET,
            Bucket::State => STATE_BUCKET,
        }
    }
}

/// What reading or writing the view can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// A bucket is missing.
    #[error(
        "key-value bucket {bucket} is missing or unreadable ({detail}); run `vppbridge nats setup`"
    )]
    MissingBucket {
        /// The bucket.
        bucket: &'static str,
        /// What NATS said.
        detail: String,
    },
    /// NATS failed a read or write.
    #[error("key-value {op} of {bucket}/{key} failed: {detail}")]
    Nats {
        /// `read`, `write`, `list`.
        op: &'static str,
        /// The bucket.
        bucket: &'static str,
        /// The key or prefix.
        key: String,
        /// What NATS said.
        detail: String,
    },
    /// A key could not be built.
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    /// NATS did not answer in time.
    #[error("key-value {op} of {bucket}/{key} got no answer within {}s; is NATS overloaded or partitioned?", deadline.as_secs())]
    Timeout {
        /// `read`, `write`, `list`.
        op: &'static str,
        /// The bucket.
        bucket: &'static str,
        /// The key or prefix.
        key: String,
        /// The deadline that passed.
        deadline: Duration,
    },
    /// A value could not be serialised (a bug: nothing is written rather than empty bytes).
    #[error("cannot serialise the value for {bucket}/{key}: {detail}")]
    Serialise {
        /// The bucket.
        bucket: &'static str,
        /// The key.
        key: String,
        /// The serde error.
        detail: String,
    },
    /// A stored value is not what vppbridge writes.
    #[error("value of {bucket}/{key} is not valid JSON for vppbridge: {detail}")]
    Corrupt {
        /// The bucket.
        bucket: &'static str,
        /// The key.
        key: String,
        /// The parse error.
        detail: String,
    },
}

/// A key's current state: its value (absent when never written or deleted), the revision a
/// compare-and-set write must name (`None`: the key never existed, so the write is a create) and
/// what the last write recorded about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Current {
    /// The value, when the key holds one.
    pub value: Option<Bytes>,
    /// The revision of the last operation on the key (a put or a delete marker).
    pub revision: Option<u64>,
    /// What the last write recorded (its cause, the value it replaced, applied deltas).
    pub meta: WriteMeta,
}

/// Whether a compare-and-set write went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Written; the key's new revision (0 for a delete).
    Ok(u64),
    /// Someone else changed the key since it was read: read again and decide again.
    Conflict,
}

/// Handles on the four buckets.
#[derive(Debug, Clone)]
pub struct View {
    assets: kv::Store,
    assignments: kv::Store,
    users: kv::Store,
    state: kv::Store,
    client: async_nats::Client,
    js: jetstream::Context,
    deadline: Duration,
}

impl View {
    /// Opens the buckets (created by `vppbridge nats setup`).
    ///
    /// # Errors
    /// [`ViewError::MissingBucket`] when one does not exist.
    pub async fn open(js: &jetstream::Context) -> Result<Self, ViewError> {
        let open = |bucket: &'static str| async move {
            js.get_key_value(bucket)
                .await
                .map_err(|e| ViewError::MissingBucket {
                    bucket,
                    detail: e.to_string(),
                })
        };
        Ok(View {
            assets: open(ASSETS_BUCKET).await?,
            assignments: open(ASSIGNMENTS_BUCKET).await?,
            users: open(USERS_BUCKET).await?,
            state: open(STATE_BUCKET).await?,
            client: js.client(),
            js: js.clone(),
            deadline: DEFAULT_DEADLINE,
        })
    }

    /// The same view with another deadline for each NATS call.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Runs `f` within the view's deadline.
    async fn timed<T>(
        &self,
        op: &'static str,
        b: Bucket,
        key: &str,
        f: impl std::future::Future<Output = Result<T, ViewError>>,
    ) -> Result<T, ViewError> {
        tokio::time::timeout(self.deadline, f)
            .await
            .unwrap_or_else(|_| {
                Err(ViewError::Timeout {
                    op,
                    bucket: b.name(),
                    key: key.to_owned(),
                    deadline: self.deadline,
                })
            })
    }

    fn store(&self, b: Bucket) -> &kv::Store {
        match b {
            Bucket::Assets => &self.assets,
            Bucket::Assignments => &self.assignments,
            Bucket::Users => &self.users,
            Bucket::State => &self.state,
        }
    }

    /// Reads one key (its last message: value, revision and the write's meta headers).
    ///
    /// # Errors
    /// When NATS fails or does not answer within the deadline.
    pub async fn read(&self, b: Bucket, key: &str) -> Result<Current, ViewError> {
        let store = self.store(b);
        let subject = format!("{}{key}", store.prefix);
        let get = async {
            match store.stream.get_last_raw_message_by_subject(&subject).await {
                Ok(m) => {
                    let is_put = m.headers.get("KV-Operation").is_none();
                    Ok(Current {
                        value: is_put.then_some(m.payload),
                        revision: Some(m.sequence),
                        meta: WriteMeta::from_headers(Some(&m.headers)),
                    })
                }
                Err(e)
                    if e.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
                {
                    Ok(Current::default())
                }
                Err(e) => Err(ViewError::Nats {
                    op: "read",
                    bucket: b.name(),
                    key: key.to_owned(),
                    detail: e.to_string(),
                }),
            }
        };
        self.timed("read", b, key, get).await
    }

    /// Writes `new` (or deletes the key when `None`) if the key is still at `current.revision`,
    /// recording `meta` in the same message (see [`meta`]).
    ///
    /// # Errors
    /// When NATS fails for another reason than a revision mismatch, or does not answer within
    /// the deadline.
    pub async fn write(
        &self,
        b: Bucket,
        key: &str,
        current: &Current,
        new: Option<Bytes>,
        meta: &WriteMeta,
    ) -> Result<Written, ViewError> {
        let store = self.store(b);
        let nats_err = |detail: String| ViewError::Nats {
            op: "write",
            bucket: b.name(),
            key: key.to_owned(),
            detail,
        };
        if new.is_none() && current.revision.is_none() {
            // Deleting a key that never existed: nothing to do.
            return Ok(Written::Ok(0));
        }
        let mut headers = async_nats::HeaderMap::new();
        // 0: the subject must hold no message yet (a create).
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence",
            current.revision.unwrap_or(0).to_string().as_str(),
        );
        let meta = WriteMeta {
            written_at: chrono::Utc::now().timestamp(),
            ..meta.clone()
        };
        meta.to_headers(&mut headers);
        let payload = match new {
            Some(v) => v,
            None => {
                headers.insert("KV-Operation", "DEL");
                Bytes::new()
            }
        };
        let subject = format!("{}{key}", store.prefix);
        let put = async {
            let ack = self
                .js
                .publish_with_headers(subject, headers, payload)
                .await
                .map_err(|e| nats_err(e.to_string()))?
                .await;
            match ack {
                Ok(a) => Ok(Written::Ok(a.sequence)),
                Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                    Ok(Written::Conflict)
                }
                Err(e) => Err(nats_err(e.to_string())),
            }
        };
        self.timed("write", b, key, put).await
    }

    /// Writes a value without a revision check (per-location state records, which have one
    /// writer at a time by design: the guard and the sync bookkeeping).
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn put(&self, b: Bucket, key: &str, value: Bytes) -> Result<(), ViewError> {
        let put = async {
            self.store(b)
                .put(key, value)
                .await
                .map(|_| ())
                .map_err(|e| ViewError::Nats {
                    op: "write",
                    bucket: b.name(),
                    key: key.to_owned(),
                    detail: e.to_string(),
                })
        };
        self.timed("write", b, key, put).await
    }

    /// Every key under `prefix` (`<prefix>.>`) with its current state, in key order: live keys
    /// with their value, deleted keys with no value but the delete marker's revision (which a
    /// compare-and-set write must name). A key under `prefix` missing from the map never
    /// existed.
    ///
    /// Reads the bucket's stream once with an ordered consumer on the last message per subject,
    /// so it costs one pass over that slice, not one request per key.
    ///
    /// # Errors
    /// When NATS fails, or the next key does not come within the deadline (a stalled slice
    /// fails instead of holding its verification forever).
    pub async fn slice(
        &self,
        b: Bucket,
        prefix: &str,
    ) -> Result<BTreeMap<String, Current>, ViewError> {
        let store = self.store(b);
        let nats_err = |detail: String| ViewError::Nats {
            op: "list",
            bucket: b.name(),
            key: prefix.to_owned(),
            detail,
        };
        let filter = format!("{}{}", store.prefix, keys::under(prefix));
        let consumer = self
            .timed("list", b, prefix, async {
                store
                    .stream
                    .create_consumer(jetstream::consumer::push::OrderedConfig {
                        deliver_subject: self.client.new_inbox(),
                        filter_subject: filter,
                        deliver_policy: jetstream::consumer::DeliverPolicy::LastPerSubject,
                        replay_policy: jetstream::consumer::ReplayPolicy::Instant,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| nats_err(e.to_string()))
            })
            .await?;
        let mut out = BTreeMap::new();
        if consumer.cached_info().num_pending == 0 {
            return Ok(out);
        }
        let mut messages = self
            .timed("list", b, prefix, async {
                consumer
                    .messages()
                    .await
                    .map_err(|e| nats_err(e.to_string()))
            })
            .await?;
        loop {
            let next = self
                .timed("list", b, prefix, async { Ok(messages.next().await) })
                .await?;
            let Some(m) = next else { break };
            let m = m.map_err(|e| nats_err(e.to_string()))?;
            let info = m.info().map_err(|e| nats_err(e.to_string()))?;
            let (pending, seq) = (info.pending, info.stream_sequence);
            let is_put = m
                .headers
                .as_ref()
                .and_then(|h| h.get("KV-Operation"))
                .is_none();
            if let Some(key) = m.subject.as_str().strip_prefix(store.prefix.as_str()) {
                out.insert(
                    key.to_owned(),
                    Current {
                        value: is_put.then(|| m.payload.clone()),
                        revision: Some(seq),
                        meta: WriteMeta::from_headers(m.headers.as_ref()),
                    },
                );
            }
            if pending == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// The live keys under `prefix` with their values.
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn live(
        &self,
        b: Bucket,
        prefix: &str,
    ) -> Result<BTreeMap<String, Bytes>, ViewError> {
        Ok(self
            .slice(b, prefix)
            .await?
            .into_iter()
            .filter_map(|(k, c)| c.value.map(|v| (k, v)))
            .collect())
    }

    /// Reads a JSON record from `vpp-state` (`None` when absent).
    ///
    /// # Errors
    /// When NATS fails or the value is not the expected JSON.
    pub async fn state<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, ViewError> {
        match self.read(Bucket::State, key).await?.value {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| ViewError::Corrupt {
                    bucket: STATE_BUCKET,
                    key: key.to_owned(),
                    detail: e.to_string(),
                }),
        }
    }

    /// Writes a JSON record to `vpp-state`.
    ///
    /// # Errors
    /// When the value cannot be serialised or NATS fails.
    pub async fn set_state<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), ViewError> {
        let bytes = serde_json::to_vec(value).map_err(|e| ViewError::Serialise {
            bucket: STATE_BUCKET,
            key: key.to_owned(),
            detail: e.to_string(),
        })?;
        self.put(Bucket::State, key, bytes.into()).await
    }
}
