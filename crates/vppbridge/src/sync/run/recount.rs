//! The incremental sync's removal check, from documented data only: Apple's `sinceVersionId`
//! read lists what is assigned, not what was removed (apple-api.md §6.2, §13), so each asset's
//! `assignedCount` from Get Assets is compared with the view's assignments of that asset, and
//! only the assets whose counts differ are read again (`GET assignments?adamId=`) and their
//! slice of the view replaced by what Apple listed.

use std::collections::{BTreeMap, BTreeSet};

use apple_vpp::types::AssignmentsQuery;

use super::{Run, decode_live};
use crate::events::notification::AssignmentRef;
use crate::reconcile::diff;
use crate::sync::error::SyncError;
use crate::view::Bucket;

/// The adamIds whose count in `apple` differs from the view's count in `held` (an adamId
/// missing on one side counts 0 there).
pub(super) fn differing(
    apple: &BTreeMap<String, i64>,
    held: &BTreeMap<String, i64>,
) -> BTreeSet<String> {
    apple
        .keys()
        .chain(held.keys())
        .filter(|id| apple.get(*id).copied().unwrap_or(0) != held.get(*id).copied().unwrap_or(0))
        .cloned()
        .collect()
}

impl Run<'_> {
    /// Compares Apple's `assignedCount`s (adamId → count, from [`Run::assets`]) with the view
    /// and re-reads the assignments of each adamId that differs. Returns how many were re-read.
    pub(in crate::sync) async fn recount(
        &mut self,
        apple: &BTreeMap<String, i64>,
    ) -> Result<usize, SyncError> {
        let location = self.loc.id.clone();
        let slice = self
            .loc
            .applier
            .view()
            .slice(Bucket::Assignments, &location)
            .await?;
        let current: BTreeMap<String, AssignmentRef> = decode_live(&slice);
        let mut held: BTreeMap<String, i64> = BTreeMap::new();
        let mut by_adam: BTreeMap<String, BTreeMap<String, AssignmentRef>> = BTreeMap::new();
        for (k, a) in current {
            *held.entry(a.adam_id.clone()).or_default() += 1;
            by_adam.entry(a.adam_id.clone()).or_default().insert(k, a);
        }
        let stale = differing(apple, &held);
        for adam_id in &stale {
            // Every pricing param of the asset: Apple's filter is the adamId.
            let truth = self
                .list_assignments(AssignmentsQuery {
                    adam_id: Some(adam_id.clone()),
                    ..Default::default()
                })
                .await?
                .truth;
            let view = by_adam.remove(adam_id).unwrap_or_default();
            let writes = diff(&view, &truth);
            let n = self
                .loc
                .applier
                .apply_many_from(
                    &location,
                    Bucket::Assignments,
                    writes,
                    Some(&slice),
                    &self.cause,
                )
                .await?;
            self.differences += n as u64;
        }
        if !stale.is_empty() {
            tracing::debug!(location = %location, assets = stale.len(), "assignedCount differed from the view: those assets' assignments were read again");
        }
        Ok(stale.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn only_the_assets_whose_counts_differ_are_read_again() {
        let apple = counts(&[("1", 5), ("2", 3), ("3", 0)]);
        let held = counts(&[("1", 5), ("2", 4), ("4", 1)]);
        let stale: Vec<_> = differing(&apple, &held).into_iter().collect();
        assert_eq!(
            stale,
            ["2", "4"],
            "3 has none on either side; 4 is gone at Apple"
        );
    }
}
