//! The per-location request spacer: keeps every trailing 1-second window at or under
//! `maxRequestPerSecond`.
//!
//! Apple (and the simulator) count requests in any trailing second, so a bursty token bucket
//! would be refused. Instead request *starts* are spaced at least `1/rate` apart, measured from
//! the previous request's actual start: waiters queue on a fair (FIFO) async mutex that is held
//! across the wait, and the start time is recorded after the wait, so a late wake-up can never
//! squeeze the next request closer. A small margin absorbs network jitter between our start and
//! Apple's receipt. Must not know about HTTP; every attempt (retries, parallel page reads) goes
//! through [`RateLimiter::acquire`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Extra spacing on top of `1/rate`, as a fraction, so jitter between our send and the server's
/// clock cannot put `rate + 1` arrivals into one second.
const MARGIN: f64 = 0.05;

/// Spaces request starts; shared (through an `Arc`) by every clone of a client.
#[derive(Debug)]
pub struct RateLimiter {
    last_start: Mutex<Option<Instant>>,
    /// The current interval in nanoseconds (changes when Service Config's limit changes).
    interval_nanos: AtomicU64,
}

impl RateLimiter {
    /// A limiter allowing `per_second` request starts in any second (0 is treated as 1).
    pub fn new(per_second: u32) -> Self {
        RateLimiter {
            last_start: Mutex::new(None),
            interval_nanos: AtomicU64::new(interval_for(per_second)),
        }
    }

    /// Changes the rate (from Service Config's `maxRequestPerSecond`).
    pub fn set_rate(&self, per_second: u32) {
        self.interval_nanos
            .store(interval_for(per_second), Ordering::Relaxed);
    }

    /// The spacing between two starts.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_nanos.load(Ordering::Relaxed))
    }

    /// Waits until a request may start, and records that it starts now.
    pub async fn acquire(&self) {
        let mut last = self.last_start.lock().await;
        if let Some(prev) = *last {
            tokio::time::sleep_until(prev + self.interval()).await;
        }
        *last = Some(Instant::now());
    }
}

fn interval_for(per_second: u32) -> u64 {
    let rate = f64::from(per_second.max(1));
    // At most 1.05 s: the float-to-integer conversion cannot overflow.
    ((1.0 + MARGIN) / rate * 1e9) as u64
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_are_spaced_and_no_second_holds_more_than_the_rate() {
        let limiter = Arc::new(RateLimiter::new(10));
        let origin = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..35 {
            let l = limiter.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire().await;
                Instant::now()
            }));
        }
        let mut starts = Vec::new();
        for t in tasks {
            starts.push(t.await.unwrap());
        }
        starts.sort();
        for pair in starts.windows(2) {
            assert!(pair[1] - pair[0] >= limiter.interval());
        }
        for (i, s) in starts.iter().enumerate() {
            let in_window = starts[i..]
                .iter()
                .take_while(|t| **t - *s < Duration::from_secs(1))
                .count();
            assert!(
                in_window <= 10,
                "{in_window} starts in the second after {:?}",
                *s - origin
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lower_rate_from_service_config_takes_effect() {
        let limiter = RateLimiter::new(50);
        limiter.set_rate(2);
        limiter.acquire().await;
        let before = Instant::now();
        limiter.acquire().await;
        assert!(Instant::now() - before >= Duration::from_millis(500));
    }
}
