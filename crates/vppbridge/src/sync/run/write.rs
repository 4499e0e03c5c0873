//! Writing a traversal's truth to the view through the applier, counting the differences.

use std::collections::BTreeMap;

use super::{Run, decode_live};
use crate::reconcile::diff;
use crate::sync::error::SyncError;
use crate::view::{Bucket, Current};

/// What the view's values are.
pub(super) trait Value:
    serde::Serialize + serde::de::DeserializeOwned + PartialEq + Clone + Send + Sync + 'static
{
}

impl<T> Value for T where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + Clone + Send + Sync + 'static
{
}

impl Run<'_> {
    /// Applies `truth` over the view's slice of this location in `bucket`, starting from the
    /// slice's revisions (no per-key reads).
    pub(super) async fn replace<T: Value>(
        &mut self,
        bucket: Bucket,
        truth: BTreeMap<String, T>,
    ) -> Result<(), SyncError> {
        let slice = self.loc.applier.view().slice(bucket, &self.loc.id).await?;
        self.replace_from(bucket, truth, slice).await
    }

    /// [`replace`](Self::replace) with the slice already read.
    async fn replace_from<T: Value>(
        &mut self,
        bucket: Bucket,
        truth: BTreeMap<String, T>,
        slice: BTreeMap<String, Current>,
    ) -> Result<(), SyncError> {
        let current = decode_live(&slice);
        let writes = diff(&current, &truth);
        drop(current);
        let n = self
            .loc
            .applier
            .apply_many_from(&self.loc.id, bucket, writes, Some(&slice), &self.cause)
            .await?;
        self.differences += n as u64;
        Ok(())
    }

    /// Applies `writes` key by key (each key's revision read).
    pub(super) async fn apply<T: Value>(
        &mut self,
        bucket: Bucket,
        writes: Vec<(String, Option<T>)>,
    ) -> Result<(), SyncError> {
        let n = self
            .loc
            .applier
            .apply_many(&self.loc.id, bucket, writes, &self.cause)
            .await?;
        self.differences += n as u64;
        Ok(())
    }
}
