//! The fair-share decision, pure: how many locations a worker should own, which of its own it
//! releases and in which order it tries the free ones.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

/// `ceil(locations / live workers)`, the most any worker should own (`live` counts this worker,
/// so it is at least 1).
pub fn fair_share(locations: usize, live: usize) -> usize {
    locations.div_ceil(live.max(1))
}

/// What a worker does on one heartbeat.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Its own leases it gives up (above its share).
    pub release: Vec<String>,
    /// Free locations to try, best first, and how many of them it wants.
    pub candidates: Vec<String>,
    /// How many of `candidates` to acquire (the first that succeed).
    pub wanted: usize,
}

/// The plan of worker `me` owning `owned` among `locations`, with `taken` held by others and
/// `live` workers up. Leases of locations no longer configured are released first. Which
/// locations a worker releases or tries first depends on a hash of its id and the location, so
/// that workers do not all race for the same ones.
pub fn plan(
    me: &str,
    locations: &[String],
    owned: &BTreeSet<String>,
    taken: &BTreeSet<String>,
    live: usize,
) -> Plan {
    let share = fair_share(locations.len(), live);
    let configured: BTreeSet<&String> = locations.iter().collect();
    let mut release: Vec<String> = owned
        .iter()
        .filter(|l| !configured.contains(l))
        .cloned()
        .collect();
    let mut kept: Vec<String> = owned
        .iter()
        .filter(|l| configured.contains(l))
        .cloned()
        .collect();
    if kept.len() > share {
        kept.sort_by_key(|l| rank(me, l));
        release.extend(kept.split_off(share));
    }
    let mut candidates: Vec<String> = locations
        .iter()
        .filter(|l| !owned.contains(*l) && !taken.contains(*l))
        .cloned()
        .collect();
    candidates.sort_by_key(|l| rank(me, l));
    Plan {
        release,
        wanted: share.saturating_sub(kept.len()),
        candidates,
    }
}

/// A stable per-(worker, location) order.
fn rank(me: &str, location: &str) -> u64 {
    // DefaultHasher::new() has fixed keys: the same order on every heartbeat.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    me.hash(&mut h);
    location.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locs(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("l{i}")).collect()
    }

    fn set(v: &[String]) -> BTreeSet<String> {
        v.iter().cloned().collect()
    }

    #[test]
    fn the_share_is_the_ceiling_of_locations_over_live_workers() {
        for (locations, live, share, why) in [
            (1, 1, 1, "a lone worker owns its location"),
            (1, 3, 1, "one location among three: each may own it"),
            (20, 3, 7, "7 + 7 + 6"),
            (20, 1, 20, "a lone worker owns everything"),
            (0, 2, 0, "nothing to own"),
            (5, 0, 5, "no live worker counted yet: this one"),
        ] {
            assert_eq!(fair_share(locations, live), share, "{why}");
        }
    }

    #[test]
    fn a_lone_worker_wants_every_free_location() {
        let l = locs(4);
        let p = plan("a", &l, &BTreeSet::new(), &BTreeSet::new(), 1);
        assert_eq!(p.wanted, 4);
        assert_eq!(set(&p.candidates), set(&l));
        assert!(p.release.is_empty());
    }

    #[test]
    fn a_worker_above_its_share_releases_the_surplus_and_wants_none() {
        let l = locs(20);
        let p = plan("a", &l, &set(&l), &BTreeSet::new(), 3);
        assert_eq!(p.release.len(), 13, "keeps 7 of 20");
        assert_eq!(p.wanted, 0);
        assert!(p.candidates.is_empty(), "it owns them all");
    }

    #[test]
    fn a_worker_below_its_share_tries_only_locations_nobody_holds() {
        let l = locs(20);
        let owned = set(&l[..2]);
        let taken = set(&l[2..15]);
        let p = plan("b", &l, &owned, &taken, 3);
        assert_eq!(p.wanted, 5);
        assert_eq!(set(&p.candidates), set(&l[15..]));
        assert!(p.release.is_empty());
    }

    #[test]
    fn three_workers_taking_their_share_in_turn_cover_every_location_once() {
        let l = locs(20);
        let mut owners: Vec<BTreeSet<String>> = vec![set(&l), BTreeSet::new(), BTreeSet::new()];
        let ids = ["a", "b", "c"];
        for _ in 0..3 {
            for w in 0..3 {
                let taken: BTreeSet<String> = (0..3)
                    .filter(|o| *o != w)
                    .flat_map(|o| owners[o].iter().cloned())
                    .collect();
                let p = plan(ids[w], &l, &owners[w], &taken, 3);
                for r in &p.release {
                    owners[w].remove(r);
                }
                for c in p.candidates.into_iter().take(p.wanted) {
                    owners[w].insert(c);
                }
            }
        }
        let sizes: Vec<usize> = owners.iter().map(BTreeSet::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 20, "{sizes:?}");
        assert!(sizes.iter().all(|s| *s <= 7 && *s >= 6), "{sizes:?}");
        let all: BTreeSet<String> = owners.into_iter().flatten().collect();
        assert_eq!(all, set(&l));
    }

    #[test]
    fn leases_of_locations_no_longer_configured_are_released() {
        let l = locs(2);
        let owned: BTreeSet<String> = ["gone".to_owned(), "l0".to_owned()].into();
        let p = plan("a", &l, &owned, &BTreeSet::new(), 1);
        assert_eq!(p.release, vec!["gone".to_owned()]);
        assert_eq!(p.wanted, 1);
        assert_eq!(p.candidates, vec!["l1".to_owned()]);
    }
}
