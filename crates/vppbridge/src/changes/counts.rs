//! [`Applier::apply_count_delta`]: an ASSET_COUNT's `countDelta`, applied at most once per
//! notification whatever the redeliveries, crashes or replays.
//!
//! The asset's value is read with its meta (see [`crate::view::meta`]); the list of notifications
//! whose deltas it already holds travels with the value, written in the same compare-and-set as
//! the new counts, and every later write of the key (verifications, syncs) carries it forward. A
//! notification found in the list is not applied again; if the write holding it was its own (a
//! crash before the event went out), its change event is published again with the same id.

use bytes::Bytes;

use super::{Applier, ApplyError};
use crate::events::changes::{AssetValue, Cause};
use crate::reconcile;
use crate::view::{Bucket, WriteMeta, Written};

/// Compare-and-set rounds before giving up (as for [`Applier::apply`]).
const MAX_ROUNDS: usize = 16;

/// What applying a count delta did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaOutcome {
    /// Applied now (written and published).
    Applied,
    /// This notification's delta is already in the value (a redelivery or a replay).
    AlreadyApplied,
    /// The view does not know the asset yet: left to the verification, which reads it.
    UnknownAsset,
    /// The delta would take a count out of range (below zero or past `i64`): refused, left to
    /// the verification.
    OutOfRange,
}

impl Applier {
    /// Adds `delta` to the counts of the asset at `key`, once for `notification_id`.
    ///
    /// # Errors
    /// When NATS fails, the value cannot be serialised, or the key stays contended.
    pub async fn apply_count_delta(
        &self,
        location: &str,
        key: &str,
        notification_id: &str,
        delta: i64,
        cause: &Cause,
    ) -> Result<DeltaOutcome, ApplyError> {
        let label = cause.label();
        for _ in 0..MAX_ROUNDS {
            let current = self.view().read(Bucket::Assets, key).await?;
            let Some(value) = current
                .value
                .as_ref()
                .and_then(|b| serde_json::from_slice::<AssetValue>(b).ok())
            else {
                return Ok(DeltaOutcome::UnknownAsset);
            };
            if current.meta.has_applied(notification_id) {
                if current.meta.cause.as_deref() == Some(label.as_str())
                    && current.meta.written_within(super::apply::REPUBLISH_WINDOW)
                {
                    self.republish::<AssetValue>(location, Bucket::Assets, key, &current, cause)
                        .await?;
                }
                return Ok(DeltaOutcome::AlreadyApplied);
            }
            let Some(new) = reconcile::apply_count_delta(&value, delta) else {
                tracing::warn!(
                    location,
                    key,
                    notification_id,
                    delta,
                    total = value.total_count,
                    available = value.available_count,
                    "count delta out of range; not applied, the verification reads Apple's counts"
                );
                return Ok(DeltaOutcome::OutOfRange);
            };
            let bytes = serde_json::to_vec(&new).map_err(|e| ApplyError::Serialise {
                bucket: Bucket::Assets.name(),
                key: key.to_owned(),
                detail: e.to_string(),
            })?;
            let new_bytes = Some(Bytes::from(bytes));
            let meta = WriteMeta {
                cause: Some(label.clone()),
                prev_revision: current.revision.unwrap_or(0),
                old: current.value.clone(),
                applied: current.meta.applied_with(notification_id),
                written_at: 0, // set by the write
            };
            match self
                .view()
                .write(Bucket::Assets, key, &current, new_bytes.clone(), &meta)
                .await?
            {
                Written::Ok(_) => {
                    self.publish(
                        location,
                        Bucket::Assets,
                        key,
                        &meta,
                        Some(value),
                        Some(new),
                        &new_bytes,
                        cause,
                    )
                    .await?;
                    return Ok(DeltaOutcome::Applied);
                }
                Written::Conflict => continue,
            }
        }
        Err(ApplyError::Contended {
            bucket: Bucket::Assets.name(),
            key: key.to_owned(),
        })
    }
}
