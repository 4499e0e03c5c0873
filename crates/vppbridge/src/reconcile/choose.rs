//! The cheaper of two ways to read what a verification needs, from what the view knows about
//! the page counts. Apple's page size is the server's choice (several hundred); the caller
//! passes the largest page it has seen.

use std::collections::BTreeSet;

use super::Target;

/// How to read one asset's assignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentRead {
    /// `GET assignments?adamId=` and every page: one request per page.
    ByAsset,
    /// `GET assignments?adamId=&serialNumber=` (or `clientUserId=`) per target: one request
    /// each, and only those targets' keys are compared.
    ByTargets(Vec<Target>),
}

/// Pages a listing of `records` takes at `page_size` (at least one: an empty answer is a page).
pub fn pages(records: usize, page_size: usize) -> usize {
    records.div_ceil(page_size.max(1)).max(1)
}

/// By target when that is strictly fewer requests than reading the asset's pages (the view's
/// `known` assignments of the asset estimate its size); by asset otherwise, and always when no
/// target is known.
pub fn assignment_read(
    targets: &BTreeSet<Target>,
    known: usize,
    page_size: usize,
) -> AssignmentRead {
    if !targets.is_empty() && targets.len() < pages(known, page_size) {
        AssignmentRead::ByTargets(targets.iter().cloned().collect())
    } else {
        AssignmentRead::ByAsset
    }
}

/// How to read the counts of the assets due for verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetRead {
    /// `GET assets` and every page, once for all of them.
    All,
    /// `GET assets?adamId=` once per asset.
    PerAsset,
}

/// One listing of every asset when it costs no more requests than one read per due asset.
pub fn asset_read(due: usize, known_assets: usize, page_size: usize) -> AssetRead {
    if due >= pages(known_assets, page_size) {
        AssetRead::All
    } else {
        AssetRead::PerAsset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices(n: usize) -> BTreeSet<Target> {
        (0..n).map(|i| Target::Device(format!("S{i}"))).collect()
    }

    #[test]
    fn a_few_targets_of_a_big_asset_are_read_one_by_one() {
        assert_eq!(
            assignment_read(&devices(2), 5000, 1000),
            AssignmentRead::ByTargets(devices(2).into_iter().collect())
        );
    }

    #[test]
    fn many_targets_or_a_small_asset_are_read_by_asset() {
        assert_eq!(
            assignment_read(&devices(1000), 1000, 1000),
            AssignmentRead::ByAsset
        );
        assert_eq!(
            assignment_read(&devices(1), 10, 1000),
            AssignmentRead::ByAsset
        );
        assert_eq!(
            assignment_read(&devices(0), 9000, 1000),
            AssignmentRead::ByAsset
        );
    }

    #[test]
    fn counts_of_many_assets_come_from_one_listing() {
        assert_eq!(asset_read(25, 40, 1000), AssetRead::All);
        assert_eq!(asset_read(1, 40, 1000), AssetRead::All);
        assert_eq!(asset_read(2, 5000, 1000), AssetRead::PerAsset);
    }

    #[test]
    fn an_empty_listing_is_still_one_page() {
        assert_eq!(pages(0, 1000), 1);
        assert_eq!(pages(1001, 1000), 2);
    }
}
