//! [`Applier`]: sets one view key to a value and publishes the change, safely under competing
//! writers and crashes.
//!
//! Order: read the key (value, revision and the last write's meta); if the value is already the
//! desired one, stop (nothing written: this is what makes replays free). Otherwise write with
//! compare-and-set on the revision read, recording the cause, the replaced revision and value
//! (see [`crate::view::meta`]); only once the write went through, publish the change event with
//! its deterministic id (location, bucket, key, replaced revision, new value). So no event is
//! ever published for a write that lost its compare-and-set: the loser reads again and decides
//! again.
//!
//! A crash between the write and the publish: the redelivered notification finds the key already
//! holding the value, written by *this* cause; the applier then publishes the event described by
//! the write's meta, with the same id, which `VPP_CHANGES`'s duplicate window drops if the first
//! publish did get through. Only within [`REPUBLISH_WINDOW`] of the write (the duplicate window,
//! 20 minutes, less a margin): a notification retried later (Apple failing for long) must not
//! store its events twice, and a crash is redelivered after the first backoff step, seconds.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ChangePublishError, ChangePublisher, stable_id};
use crate::events::changes::{Cause, ChangeData, ChangeKind};
use crate::view::{Bucket, Current, View, ViewError, WriteMeta, Written};

/// How long after a write its event may be published again: `VPP_CHANGES`'s duplicate window
/// less a minute of margin, so a re-publish is always recognised as a duplicate when the first
/// publish got through. Later, the event is taken as published (a crash between the write and
/// the publish is redelivered after the first backoff step, seconds, not twenty minutes).
pub(super) const REPUBLISH_WINDOW: std::time::Duration =
    std::time::Duration::from_secs(crate::nats::MIN_DUPLICATE_WINDOW.as_secs() - 60);
/// Concurrent key updates per batch.
const CONCURRENCY: usize = 64;
/// Compare-and-set rounds before giving up on a key (contention that long is a bug).
const MAX_ROUNDS: usize = 16;

/// Applying a change failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Reading or writing the view failed.
    #[error(transparent)]
    View(#[from] ViewError),
    /// Publishing the change event failed.
    #[error(transparent)]
    Publish(#[from] ChangePublishError),
    /// The value could not be serialised (a bug; nothing is written).
    #[error("cannot serialise the new value of {bucket}/{key}: {detail}")]
    Serialise {
        /// The bucket.
        bucket: &'static str,
        /// The key.
        key: String,
        /// The serde error.
        detail: String,
    },
    /// The key kept changing under us.
    #[error("{bucket}/{key} kept changing during {MAX_ROUNDS} compare-and-set rounds")]
    Contended {
        /// The bucket.
        bucket: &'static str,
        /// The key.
        key: String,
    },
}

/// Writes the view and publishes its changes.
#[derive(Debug, Clone)]
pub struct Applier {
    view: View,
    publisher: ChangePublisher,
}

fn kind_of(bucket: Bucket, present: bool) -> ChangeKind {
    match bucket {
        Bucket::Assignments if present => ChangeKind::AssignmentAdded,
        Bucket::Assignments => ChangeKind::AssignmentRemoved,
        Bucket::Assets => ChangeKind::AssetCounts,
        Bucket::Users | Bucket::State => ChangeKind::UserChanged,
    }
}

impl Applier {
    /// An applier over this view and publisher.
    pub fn new(view: View, publisher: ChangePublisher) -> Self {
        Applier { view, publisher }
    }

    /// The view.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// The publisher.
    pub fn publisher(&self) -> &ChangePublisher {
        &self.publisher
    }

    /// Makes `key` hold `new` (or removes it), publishing the change; returns whether anything
    /// changed.
    ///
    /// # Errors
    /// When NATS fails, or the key stays contended.
    pub async fn apply<T>(
        &self,
        location: &str,
        bucket: Bucket,
        key: &str,
        new: Option<&T>,
        cause: &Cause,
    ) -> Result<bool, ApplyError>
    where
        T: Serialize + DeserializeOwned + PartialEq + Clone,
    {
        self.apply_from(location, bucket, key, new, cause, None)
            .await
    }

    /// [`apply`](Self::apply), starting from a known state of the key (from a
    /// [`View::slice`]) instead of reading it; a conflict reads it again.
    ///
    /// # Errors
    /// When NATS fails, or the key stays contended.
    pub async fn apply_from<T>(
        &self,
        location: &str,
        bucket: Bucket,
        key: &str,
        new: Option<&T>,
        cause: &Cause,
        mut known: Option<Current>,
    ) -> Result<bool, ApplyError>
    where
        T: Serialize + DeserializeOwned + PartialEq + Clone,
    {
        let new_bytes: Option<Bytes> = match new.map(serde_json::to_vec).transpose() {
            Ok(b) => b.map(Bytes::from),
            Err(e) => {
                return Err(ApplyError::Serialise {
                    bucket: bucket.name(),
                    key: key.to_owned(),
                    detail: e.to_string(),
                });
            }
        };
        let label = cause.label();
        for _ in 0..MAX_ROUNDS {
            let current = match known.take() {
                Some(c) => c,
                None => self.view.read(bucket, key).await?,
            };
            let old: Option<T> = current
                .value
                .as_ref()
                .and_then(|v| serde_json::from_slice(v).ok());
            let same = match (&current.value, new) {
                (None, None) => true,
                (Some(_), Some(n)) => old.as_ref() == Some(n),
                _ => false,
            };
            if same {
                // Written by this very cause: its event may not have been published (a crash
                // between the write and the publish). Publish it again, same id.
                if current.meta.cause.as_deref() == Some(label.as_str())
                    && current.meta.written_within(REPUBLISH_WINDOW)
                {
                    self.republish::<T>(location, bucket, key, &current, cause)
                        .await?;
                }
                return Ok(false);
            }
            let meta = WriteMeta {
                cause: Some(label.clone()),
                prev_revision: current.revision.unwrap_or(0),
                old: current.value.clone(),
                applied: current.meta.applied.clone(),
                written_at: 0, // set by the write
            };
            match self
                .view
                .write(bucket, key, &current, new_bytes.clone(), &meta)
                .await?
            {
                Written::Ok(_) => {
                    self.publish(
                        location,
                        bucket,
                        key,
                        &meta,
                        old,
                        new.cloned(),
                        &new_bytes,
                        cause,
                    )
                    .await?;
                    return Ok(true);
                }
                Written::Conflict => continue,
            }
        }
        Err(ApplyError::Contended {
            bucket: bucket.name(),
            key: key.to_owned(),
        })
    }

    /// Publishes the change event of a write that went through: id from the location, bucket,
    /// key, the revision the write replaced and the new value's bytes.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn publish<T: Serialize>(
        &self,
        location: &str,
        bucket: Bucket,
        key: &str,
        meta: &WriteMeta,
        old: Option<T>,
        new: Option<T>,
        new_bytes: &Option<Bytes>,
        cause: &Cause,
    ) -> Result<(), ApplyError> {
        let new_text = new_bytes
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let rev = meta.prev_revision.to_string();
        let msg_id = stable_id(&[location, bucket.name(), key, &rev, &new_text]);
        let kind = kind_of(bucket, new.is_some());
        let data = ChangeData {
            location: location.to_owned(),
            key: key.to_owned(),
            old,
            new,
            cause: cause.clone(),
        };
        self.publisher
            .change(location, kind, &msg_id, Some(key.to_owned()), data)
            .await?;
        Ok(())
    }

    /// Publishes again the event of the write `current` holds (see the module documentation).
    pub(super) async fn republish<T>(
        &self,
        location: &str,
        bucket: Bucket,
        key: &str,
        current: &Current,
        cause: &Cause,
    ) -> Result<(), ApplyError>
    where
        T: Serialize + DeserializeOwned,
    {
        let parse = |b: &Option<Bytes>| -> Option<T> {
            b.as_ref().and_then(|v| serde_json::from_slice(v).ok())
        };
        let (old, new) = (parse(&current.meta.old), parse(&current.value));
        self.publish(
            location,
            bucket,
            key,
            &current.meta,
            old,
            new,
            &current.value,
            cause,
        )
        .await
    }

    /// Applies many `(key, new)` pairs concurrently; returns how many changed.
    ///
    /// # Errors
    /// The first error met (the others still ran; a retry redoes only what is left).
    pub async fn apply_many<T>(
        &self,
        location: &str,
        bucket: Bucket,
        items: Vec<(String, Option<T>)>,
        cause: &Cause,
    ) -> Result<usize, ApplyError>
    where
        T: Serialize + DeserializeOwned + PartialEq + Clone + Send + Sync + 'static,
    {
        self.apply_many_from(location, bucket, items, None, cause)
            .await
    }

    /// [`apply_many`](Self::apply_many) starting from `known`, a complete [`View::slice`] that
    /// covers every key of `items` (a key missing from it never existed), so no key is read
    /// first unless a write conflicts.
    ///
    /// # Errors
    /// The first error met.
    pub async fn apply_many_from<T>(
        &self,
        location: &str,
        bucket: Bucket,
        items: Vec<(String, Option<T>)>,
        known: Option<&BTreeMap<String, Current>>,
        cause: &Cause,
    ) -> Result<usize, ApplyError>
    where
        T: Serialize + DeserializeOwned + PartialEq + Clone + Send + Sync + 'static,
    {
        let cause = Arc::new(cause.clone());
        let results: Vec<Result<bool, ApplyError>> = futures::stream::iter(items)
            .map(|(key, new)| {
                let cause = cause.clone();
                let first = known.map(|k| k.get(&key).cloned().unwrap_or_default());
                async move {
                    self.apply_from(location, bucket, &key, new.as_ref(), &cause, first)
                        .await
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut changed = 0;
        let mut first_err = None;
        for r in results {
            match r {
                Ok(true) => changed += 1,
                Ok(false) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(changed),
        }
    }
}
