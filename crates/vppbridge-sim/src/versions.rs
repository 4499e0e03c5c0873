//! The version counter behind one endpoint's `versionId` and `sinceVersionId`: its recent ids
//! and (for assignments) the change log. Pure data.

use std::collections::{BTreeSet, HashMap, VecDeque};

use apple_vpp_types::Assignment;

/// Versions remembered for `sinceVersionId`; older ids answer 9721.
pub(crate) const MAX_VERSIONS: usize = 10_000;
/// Assignment changes remembered for `sinceVersionId`; older versions answer 9721.
pub(crate) const MAX_CHANGES: usize = 250_000;

/// The version counter behind `versionId`, its recent ids and the assignment change log.
#[derive(Debug)]
pub(crate) struct Versions {
    current: u64,
    ids: HashMap<String, u64>,
    order: VecDeque<(u64, String)>,
    /// (version, assignment touched in that version), oldest first.
    changes: VecDeque<(u64, Assignment)>,
    /// Versions at or below this may have lost changes: `sinceVersionId` below it is refused.
    floor: u64,
    max_versions: usize,
    max_changes: usize,
    /// Whether the current mutation has already moved this version.
    open: bool,
}

impl Versions {
    /// A history keeping at most `max_versions` ids and `max_changes` changes.
    pub(crate) fn new(max_versions: usize, max_changes: usize) -> Self {
        let mut v = Versions {
            current: 0,
            ids: HashMap::new(),
            order: VecDeque::new(),
            changes: VecDeque::new(),
            floor: 0,
            max_versions: max_versions.max(1),
            max_changes: max_changes.max(1),
            open: false,
        };
        v.name_current();
        v
    }

    fn name_current(&mut self) {
        let id = uuid::Uuid::new_v4().to_string();
        self.ids.insert(id.clone(), self.current);
        self.order.push_back((self.current, id));
        while self.order.len() > self.max_versions {
            if let Some((version, id)) = self.order.pop_front() {
                self.ids.remove(&id);
                self.floor = self.floor.max(version + 1);
            }
        }
    }

    /// The current version number.
    pub(crate) fn current(&self) -> u64 {
        self.current
    }

    /// The current `versionId`.
    pub(crate) fn current_id(&self) -> String {
        self.order
            .back()
            .map(|(_, id)| id.clone())
            .unwrap_or_default()
    }

    /// Starts a new version (one per mutation, however many records it touches).
    pub(crate) fn bump(&mut self) -> u64 {
        self.current += 1;
        self.name_current();
        self.current
    }

    /// Moves the version once per mutation (see [`close`](Self::close)); returns the current
    /// version.
    pub(crate) fn mark(&mut self) -> u64 {
        if !self.open {
            self.bump();
            self.open = true;
        }
        self.current
    }

    /// Ends a mutation: the next [`mark`](Self::mark) starts a new version.
    pub(crate) fn close(&mut self) {
        self.open = false;
    }

    /// Records that `assignment` was added or removed in the current version.
    pub(crate) fn touch(&mut self, assignment: Assignment) {
        self.changes.push_back((self.current, assignment));
        while self.changes.len() > self.max_changes {
            if let Some((version, _)) = self.changes.pop_front() {
                self.floor = self.floor.max(version);
            }
        }
    }

    /// The version a `sinceVersionId` names, if it is still answerable.
    pub(crate) fn resolve(&self, id: &str) -> Option<u64> {
        self.ids.get(id).copied().filter(|v| *v >= self.floor)
    }

    /// The assignments touched after version `since`, each once, sorted.
    pub(crate) fn touched_since(&self, since: u64) -> BTreeSet<Assignment> {
        let start = self.changes.partition_point(|(v, _)| *v <= since);
        self.changes
            .range(start..)
            .map(|(_, a)| a.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Target;
    use apple_vpp_types::Asset;

    fn asset(id: &str) -> Asset {
        Asset {
            adam_id: id.into(),
            pricing_param: "STDQ".into(),
        }
    }

    #[test]
    fn a_mutation_moves_the_version_once_and_only_when_marked() {
        let mut v = Versions::new(10, 10);
        let first = v.current_id();
        v.close();
        assert_eq!(v.current_id(), first, "closing alone changes nothing");
        assert_eq!(v.mark(), 1);
        assert_eq!(v.mark(), 1, "a second change in the same mutation");
        v.close();
        assert_eq!(v.mark(), 2);
    }

    #[test]
    fn versions_forget_old_ids_and_refuse_versions_whose_changes_were_trimmed() {
        let mut v = Versions::new(3, 2);
        let first = v.current_id();
        assert_eq!(v.resolve(&first), Some(0));
        v.bump();
        v.touch(Target::Serial("a".into()).assignment(&asset("1")));
        let second = v.current_id();
        v.bump();
        v.touch(Target::Serial("b".into()).assignment(&asset("1")));
        v.touch(Target::Serial("c".into()).assignment(&asset("1")));
        assert_eq!(
            v.resolve(&first),
            None,
            "a change after version 0 was trimmed"
        );
        assert_eq!(v.resolve(&second), Some(1));
        assert_eq!(v.touched_since(1).len(), 2);
        v.bump();
        v.bump();
        assert_eq!(v.resolve(&second), None, "only three ids are kept");
        assert_eq!(v.resolve("not-a-version"), None);
    }
}
