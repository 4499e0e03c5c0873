//! Coalescing verifications: requests about the same asset that arrive close together become
//! one. A handler first *announces* that a request is coming (when its message arrives), then
//! applies its delta and *adds* the request. A verification is due `window` after the LAST
//! request for its asset once no announced request is still outstanding (so a burst whose deltas
//! take a while to apply still costs one read), but never later than `max_wait` (ten windows)
//! after the first (so a steady trickle cannot postpone it forever; the caller may set another
//! cap). Time is passed in, so the
//! rules are tested without clocks.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{AssetId, VerifyRequest};

/// One asset's gathered requests and whoever waits for their outcome.
#[derive(Debug)]
pub struct Pending<W> {
    /// The merged request.
    pub request: VerifyRequest,
    /// When the first request arrived.
    pub first: Instant,
    /// When the last request arrived.
    pub last: Instant,
    /// Those waiting for the verification (one per notification).
    pub waiters: Vec<W>,
    /// Requests announced and not yet added (their deltas are being applied).
    pub outstanding: usize,
}

impl<W> Pending<W> {
    fn due(&self, window: Duration, max_wait: Duration) -> Instant {
        let cap = self.first + max_wait;
        if self.outstanding > 0 {
            cap
        } else {
            (self.last + window).min(cap)
        }
    }

    fn new(now: Instant) -> Self {
        Pending {
            request: VerifyRequest::default(),
            first: now,
            last: now,
            waiters: Vec::new(),
            outstanding: 0,
        }
    }
}

/// Pending verifications of one location, by key (an asset for assignment verifications; `()`
/// for the location's counts, which one listing verifies for every asset at once).
#[derive(Debug)]
pub struct Coalescer<W, K = AssetId> {
    window: Duration,
    max_wait: Duration,
    pending: BTreeMap<K, Pending<W>>,
}

impl<W, K: Ord + Clone> Coalescer<W, K> {
    /// A coalescer with the given window; `max_wait` is ten windows.
    pub fn new(window: Duration) -> Self {
        Self::with_max_wait(window, window * 10)
    }

    /// A coalescer with the given window and cap.
    pub fn with_max_wait(window: Duration, max_wait: Duration) -> Self {
        Coalescer {
            window,
            max_wait,
            pending: BTreeMap::new(),
        }
    }

    /// Notes that a request for `asset` is coming (its message arrived).
    pub fn announce(&mut self, asset: K, now: Instant) {
        let p = self
            .pending
            .entry(asset)
            .or_insert_with(|| Pending::new(now));
        p.outstanding += 1;
        p.last = now;
    }

    /// Withdraws an announcement whose request will not come (its handler failed first).
    pub fn withdraw(&mut self, asset: &K) {
        if let Some(p) = self.pending.get_mut(asset) {
            p.outstanding = p.outstanding.saturating_sub(1);
            if p.outstanding == 0 && p.waiters.is_empty() {
                self.pending.remove(asset);
            }
        }
    }

    /// Adds a request for `asset` (settling one announcement, if any), merging it with any
    /// pending one.
    pub fn add(&mut self, asset: K, request: VerifyRequest, now: Instant, waiter: W) {
        let p = self
            .pending
            .entry(asset)
            .or_insert_with(|| Pending::new(now));
        p.outstanding = p.outstanding.saturating_sub(1);
        p.request.merge(request);
        p.last = now;
        p.waiters.push(waiter);
    }

    /// When the earliest pending verification is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending
            .values()
            .map(|p| p.due(self.window, self.max_wait))
            .min()
    }

    /// Takes every verification due by `now` plus half a window, so that assets notified together
    /// are verified together (and their counts can share one listing).
    pub fn take_due(&mut self, now: Instant) -> Vec<(K, Pending<W>)> {
        let horizon = now + self.window / 2;
        let due: Vec<K> = self
            .pending
            .iter()
            .filter(|(_, p)| p.due(self.window, self.max_wait) <= horizon)
            .map(|(a, _)| a.clone())
            .collect();
        due.into_iter()
            .filter_map(|a| self.pending.remove(&a).map(|p| (a, p)))
            .collect()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Takes everything (shutdown).
    pub fn drain(&mut self) -> Vec<(K, Pending<W>)> {
        std::mem::take(&mut self.pending).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Target;

    fn asset(n: u32) -> AssetId {
        AssetId {
            adam_id: n.to_string(),
            pricing_param: "STDQ".into(),
        }
    }

    fn req(serial: &str) -> VerifyRequest {
        VerifyRequest {
            assignments: true,
            counts: false,
            targets: [Target::Device(serial.into())].into(),
        }
    }

    #[test]
    fn a_burst_of_250_requests_for_25_assets_becomes_25_verifications() {
        let t0 = Instant::now();
        let window = Duration::from_millis(200);
        let mut c: Coalescer<u32> = Coalescer::new(window);
        for i in 0..250u32 {
            let at = t0 + Duration::from_millis(u64::from(i)); // spread over 250 ms
            c.add(asset(i % 25), req(&format!("S{i}")), at, i);
        }
        assert!(c.take_due(t0 + Duration::from_millis(200)).is_empty());
        let due = c.take_due(c.next_due().unwrap());
        assert_eq!(due.len(), 25);
        assert!(due.iter().all(|(_, p)| p.waiters.len() == 10));
        assert!(due.iter().all(|(_, p)| p.request.targets.len() == 10));
        assert!(c.is_empty());
    }

    #[test]
    fn a_steady_trickle_is_verified_after_at_most_ten_windows() {
        let t0 = Instant::now();
        let window = Duration::from_millis(100);
        let mut c = Coalescer::new(window);
        for i in 0..100u64 {
            c.add(asset(1), req("S"), t0 + Duration::from_millis(i * 50), ());
        }
        assert_eq!(c.next_due(), Some(t0 + window * 10));
    }

    #[test]
    fn a_verification_waits_for_announced_requests_whose_deltas_are_still_applying() {
        let t0 = Instant::now();
        let window = Duration::from_millis(100);
        let mut c = Coalescer::new(window);
        c.announce(asset(1), t0);
        c.announce(asset(1), t0);
        c.add(asset(1), req("A"), t0 + window, 1);
        // One request still outstanding: only the cap makes it due.
        assert_eq!(c.next_due(), Some(t0 + window * 10));
        assert!(c.take_due(t0 + window * 3).is_empty());
        c.add(asset(1), req("B"), t0 + window * 5, 2);
        assert_eq!(c.next_due(), Some(t0 + window * 6));
        let due = c.take_due(t0 + window * 6);
        assert_eq!(due[0].1.waiters, vec![1, 2]);
    }

    #[test]
    fn a_withdrawn_announcement_does_not_hold_the_verification_back() {
        let t0 = Instant::now();
        let window = Duration::from_millis(100);
        let mut c = Coalescer::new(window);
        c.announce(asset(1), t0);
        c.announce(asset(1), t0);
        c.withdraw(&asset(1));
        c.add(asset(1), req("A"), t0, 1);
        assert_eq!(c.next_due(), Some(t0 + window));
        c.announce(asset(2), t0);
        c.withdraw(&asset(2));
        assert_eq!(
            c.take_due(t0 + window).len(),
            1,
            "nothing pending for asset 2"
        );
    }

    #[test]
    fn requests_after_a_verification_start_a_new_one() {
        let t0 = Instant::now();
        let window = Duration::from_millis(100);
        let mut c = Coalescer::new(window);
        c.add(asset(1), req("A"), t0, 1);
        assert_eq!(c.take_due(t0 + window).len(), 1);
        c.add(asset(1), req("B"), t0 + window * 2, 2);
        let due = c.take_due(t0 + window * 3);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1.waiters, vec![2]);
    }
}
